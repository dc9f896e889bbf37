// The simulated agents of bench:fleet: XML-RPC over one keep-alive undici Pool to the server
// process, signed as src/agent/client.ts signs (protocol/signing.ts), each machine with its own
// strictly increasing timestamp; a load runner that records every call's latency.
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { decodeResponse, encodeCall } from '../src/protocol/codec.js';
import { signRequest } from '../src/protocol/signing.js';
import { SERVER_HOST, type SimMachine } from './fleet-data.js';

export class FaultError extends Error {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class FleetClient {
  readonly pool: Pool;

  constructor(
    readonly url: string,
    connections: number,
  ) {
    this.pool = new Pool(url, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
  }

  /** POSTs a body to /RPC2; the response text (HTTP 200 is all aptgate answers). */
  async post(body: string, headers: Record<string, string> = {}): Promise<string> {
    // the agents' sources name the server as they reach it (remap mode), so the Host header is that name
    const res = await this.pool.request({
      path: '/RPC2',
      method: 'POST',
      headers: { host: SERVER_HOST, 'content-type': 'text/xml', ...headers },
      body,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    return text;
  }

  /** A full call: encode, sign when a machine is given, decode; faults throw FaultError. */
  async call<T = unknown>(method: string, params: unknown[], m?: SimMachine): Promise<T> {
    const body = encodeCall(method, params);
    const text = await this.post(body, m ? sign(m, body) : {});
    return await decoded<T>(text);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export async function decoded<T>(text: string): Promise<T> {
  try {
    return (await decodeResponse(text)) as T;
  } catch (err) {
    const e = err as Error & { faultCode?: number };
    if (typeof e.faultCode === 'number') throw new FaultError(e.faultCode, e.message);
    throw err;
  }
}

/** Signature headers with a timestamp newer than the machine's previous one (the agent's rule). */
export function sign(m: SimMachine, body: string): Record<string, string> {
  const ts = Math.max(Date.now(), m.lastTs + 1);
  m.lastTs = ts;
  return signRequest(m.secret, String(m.id), ts, body);
}

// ---- the load runner ----

export interface LoadResult {
  calls: number;
  errors: number;
  firstError: string | undefined;
  seconds: number;
  /** per-call latency in ms, in completion order */
  latencies: Float64Array;
  /** client process CPU (user + system) over the run, ms */
  clientCpuMs: number;
}

/**
 * Runs `call(i)` for i = 0, 1, ... with `concurrency` calls in flight until `count` calls were
 * made or `maxMs` passed. `call` does its own preparation before `start()` and returns when the
 * answer is read and checked: the latency is start() → return.
 */
export async function runLoad(
  count: number,
  concurrency: number,
  call: (i: number, start: () => void) => Promise<void>,
  maxMs = Infinity,
): Promise<LoadResult> {
  const lat = new Float64Array(count);
  let next = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      if (next >= count || performance.now() - t0 > maxMs) return;
      const i = next++;
      let started = 0;
      try {
        await call(i, () => {
          started = performance.now();
        });
        lat[done++] = performance.now() - started;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        if (errors > 100) throw new Error(`too many failed calls; first: ${firstError}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(cpu0);
  return {
    calls: done,
    errors,
    firstError,
    seconds,
    latencies: lat.subarray(0, done),
    clientCpuMs: (c.user + c.system) / 1000,
  };
}

/** Percentile (0..100) by nearest rank. */
export function percentile(xs: Float64Array, p: number): number {
  if (!xs.length) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

// ---- the server process's CPU ----

const CLK_TCK = 100;

/** user + system CPU of a process in ms, from /proc/PID/stat (all its threads). */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU time of the whole machine (all cores, /proc/stat: everything but idle and iowait), ms. */
export function machineBusyMs(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return ((user + nice + system + irq + softirq + steal) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}
