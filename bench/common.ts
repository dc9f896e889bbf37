// Helpers shared by the benchmarks: processes we start (and always stop), /proc readers,
// machine facts, statistics, and the RESULTS.md writer.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { appendFileSync, existsSync, openSync, closeSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout (dist/bench/x.js → ../..). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS = join(REPO, 'bench', 'RESULTS.md');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A port nothing listens on. `below` asks for one under a limit: apt-cacher-ng 3.7.4 cannot
 * bind ports above 32767 ("Error resolving address for binding"), and the kernel hands out
 * ephemeral ports from 32768 up.
 */
export async function freePort(below?: number): Promise<number> {
  if (below === undefined) return tryPort(0);
  for (let i = 0; i < 50; i++) {
    const want = 20000 + Math.floor(Math.random() * (below - 20000));
    try {
      return await tryPort(want);
    } catch {
      /* taken: try another */
    }
  }
  throw new Error(`no free port below ${below}`);
}

function tryPort(port: number): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(port, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

// ---- /proc ---------------------------------------------------------------------------

/** A `Vm*` line of /proc/<pid>/status in kB, or undefined when the process is gone. */
export function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Direct children of a process (nginx's workers). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Sum of a field over a set of processes, in MB (MiB). */
export function sumMb(pids: number[], field: 'VmRSS' | 'VmHWM'): number {
  let kb = 0;
  for (const p of pids) kb += procStatusKb(p, field) ?? 0;
  return kb / 1024;
}

/** Samples the summed VmRSS of `pids()` every `everyMs` until stopped; returns the maximum (MB). */
export function rssSampler(pids: () => number[], everyMs = 100): { stop(): number; last(): number } {
  let max = 0;
  let last = 0;
  const tick = () => {
    last = sumMb(pids(), 'VmRSS');
    if (last > max) max = last;
  };
  tick();
  const t = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(t);
      tick();
      return max;
    },
    last: () => last,
  };
}

// ---- processes --------------------------------------------------------------------------

export interface Started {
  name: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<number | null>;
}

/**
 * Every process the benchmark starts, each in its own process group so that stopping it
 * also stops whatever it forked. stopAll() runs on normal exit, on failure and on signals.
 */
export class Processes {
  private readonly list: Started[] = [];
  private installed = false;

  start(
    name: string,
    cmd: string,
    args: string[],
    opts: { logFile?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): Started {
    this.installHandlers();
    let fd: number | undefined;
    if (opts.logFile) fd = openSync(opts.logFile, 'a');
    const spawnOpts: SpawnOptions = {
      detached: true,
      stdio: ['ignore', fd ?? 'ignore', fd ?? 'ignore'],
      env: opts.env ?? process.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    };
    const child = spawn(cmd, args, spawnOpts);
    if (fd !== undefined) closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
    const exited = new Promise<number | null>((res) => {
      child.once('exit', (code) => res(code));
      child.once('error', () => res(-1));
    });
    const s: Started = { name, child, pid: child.pid, exited };
    this.list.push(s);
    return s;
  }

  async stop(s: Started, graceMs = 5000): Promise<void> {
    const i = this.list.indexOf(s);
    if (i === -1) return;
    if (s.child.exitCode === null && s.child.signalCode === null) {
      killGroup(s.pid, 'SIGTERM');
      const done = await Promise.race([s.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        killGroup(s.pid, 'SIGKILL');
        await Promise.race([s.exited, sleep(2000)]);
      }
    }
    // whatever the leader left behind in its group
    killGroup(s.pid, 'SIGKILL');
    // another stop() of the same process (a signal's stopAll() meanwhile) may have removed it already: splice(-1)
    // would drop the last process of the list instead, which then outlives the bench
    const j = this.list.indexOf(s);
    if (j !== -1) this.list.splice(j, 1);
  }

  async stopAll(): Promise<void> {
    for (const s of [...this.list].reverse()) await this.stop(s);
  }

  /** Synchronous last resort (process 'exit'). */
  killAllNow(): void {
    for (const s of this.list) killGroup(s.pid, 'SIGKILL');
    this.list.length = 0;
  }

  private installHandlers(): void {
    if (this.installed) return;
    this.installed = true;
    process.on('exit', () => this.killAllNow());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        process.stderr.write(`\nbench: ${sig}, stopping what it started\n`);
        void this.stopAll().finally(() => process.exit(130));
      });
    }
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Output of a command, or '' when it cannot run. */
export function commandOutput(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim();
  }
}

export function debVersion(pkg: string): string {
  const v = commandOutput('dpkg-query', ['-W', '-f=${Version}', pkg]);
  return /no packages found/i.test(v) || v === '' ? 'not installed' : v;
}

// ---- machine ------------------------------------------------------------------------------

export function machineFacts(): { cpu: string; cores: number; memGiB: string; kernel: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  let memGiB = '?';
  try {
    const ci = readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(ci);
    if (m) cpu = m[1]!.trim();
    const mi = readFileSync('/proc/meminfo', 'utf8');
    const t = /^MemTotal:\s+(\d+) kB/m.exec(mi);
    if (t) memGiB = (Number(t[1]) / 1024 / 1024).toFixed(1);
  } catch {
    /* not Linux */
  }
  return { cpu, cores: cpus().length, memGiB, kernel: release() };
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

// ---- RESULTS.md -----------------------------------------------------------------------------

/** Appends a dated section; earlier runs stay. */
export function appendResults(section: string): void {
  if (!existsSync(RESULTS)) {
    writeFileSync(
      RESULTS,
      '# Benchmark results\n\nEach run appends a dated section (newest last). Figures from different machines are not comparable; ratios measured in the same run are.\n',
    );
  }
  appendFileSync(RESULTS, `\n${section.trimEnd()}\n`);
}

/** A GitHub markdown table. */
export function mdTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The same table aligned for a terminal. */
export function textTable(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n');
}
