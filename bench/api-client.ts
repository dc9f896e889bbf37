// The API's client in bench:api: GETs under /api/v1 with a Bearer token over keep-alive HTTP,
// each answer timed twice: by the server (its `Server-Timing: app;dur=MS` header: request in to
// answer serialized) and by the client (request start to the last byte of the body).
import { Pool } from 'undici';

export interface Timed {
  status: number;
  /** Server-Timing app;dur, ms (NaN when absent) */
  serverMs: number;
  /** request start → whole body read, ms */
  clientMs: number;
  bytes: number;
  text: string;
}

export class ApiClient {
  private readonly pool: Pool;

  constructor(
    readonly url: string,
    private readonly token: string,
    connections = 8,
  ) {
    this.pool = new Pool(url, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
  }

  async get(path: string): Promise<Timed> {
    const t0 = performance.now();
    const res = await this.pool.request({
      path: `/api/v1${path}`,
      method: 'GET',
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
    });
    const text = await res.body.text();
    const clientMs = performance.now() - t0;
    const st = String(res.headers['server-timing'] ?? '');
    const m = /(?:^|,)\s*app;dur=([\d.]+)/.exec(st);
    return {
      status: res.statusCode,
      serverMs: m ? Number(m[1]) : Number.NaN,
      clientMs,
      bytes: Buffer.byteLength(text),
      text,
    };
  }

  /** A GET that must answer 200; its JSON. */
  async json<T = unknown>(path: string): Promise<T> {
    const r = await this.get(path);
    if (r.status !== 200) throw new Error(`GET /api/v1${path}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text) as T;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

export interface Series {
  server: Float64Array;
  client: Float64Array;
  bytes: Float64Array;
  /** the first request's times (cold: nothing of its kind asked before) */
  first: { serverMs: number; clientMs: number };
  errors: number;
  firstError: string | undefined;
  seconds: number;
}

/**
 * Asks `paths(i)` for i = 0, 1, ... with `concurrency` requests in flight until `count` were
 * answered or `maxMs` passed; `check` throws on a wrong answer (an error, not a timing).
 */
export async function measure(
  client: ApiClient,
  paths: (i: number) => string,
  o: { count: number; maxMs: number; concurrency: number; check?: (body: unknown, path: string) => void },
): Promise<Series> {
  const server = new Float64Array(o.count);
  const clientT = new Float64Array(o.count);
  const bytes = new Float64Array(o.count);
  let next = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  let first = { serverMs: Number.NaN, clientMs: Number.NaN };
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      if (next >= o.count || (next > 0 && performance.now() - t0 > o.maxMs)) return;
      const i = next++;
      const path = paths(i);
      try {
        const r = await client.get(path);
        if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status} ${r.text.slice(0, 200)}`);
        o.check?.(JSON.parse(r.text), path);
        if (i === 0) first = { serverMs: r.serverMs, clientMs: r.clientMs };
        server[done] = r.serverMs;
        clientT[done] = r.clientMs;
        bytes[done] = r.bytes;
        done++;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        if (errors > 20) return;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return {
    server: server.subarray(0, done),
    client: clientT.subarray(0, done),
    bytes: bytes.subarray(0, done),
    first,
    errors,
    firstError,
    seconds: (performance.now() - t0) / 1000,
  };
}
