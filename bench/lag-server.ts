// The server side of bench:lag: `aptgate serve` in its own process against the fixture upstream,
// and what the bench reads from it: the event-loop delay summary and the background work in
// /-/metrics, the delay window reset by SIGUSR2.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { Processes, REPO, freePort, sleep, type Started } from './common.js';

export interface LagServer {
  proc: Started;
  url: string;
  /** when the process was started (ms, performance.now()) and when it first answered */
  spawnedAt: number;
  listeningAt: number;
}

export interface ServerSetup {
  dir: string;
  db: string;
  cacheDir: string;
  logFile: string;
  upstream: string;
  keyring: string;
}

/** The configuration file: both backends on the fixture upstream, signed by the test key. */
export function writeConfig(s: ServerSetup): string {
  const file = join(s.dir, 'aptgate.conf');
  writeFileSync(
    file,
    [
      '[server]',
      'log_level = warn',
      '',
      // apt's InRelease is checked upstream again after a second (a new snapshot is seen at once)
      '[proxy]',
      'release_ttl = 1s',
      'refresh_interval = 24h',
      '',
      // the enrolment burst comes from one address with one token: those limits would refuse it
      '[fleet]',
      'enrol_limit_address = 0',
      'enrol_limit_token = 0',
      '',
      '[backend debian]',
      `mirrors = ${s.upstream}/debian`,
      `keyring = ${s.keyring}`,
      '',
      '[backend hits]',
      `mirrors = ${s.upstream}/hits`,
      `keyring = ${s.keyring}`,
      '',
    ].join('\n'),
  );
  return file;
}

export async function startServer(procs: Processes, s: ServerSetup, port?: number): Promise<LagServer> {
  port ??= await freePort();
  const spawnedAt = performance.now();
  // BENCH_LAG_NODE_ARGS: extra node options for the server (--trace-gc, --cpu-prof, ...)
  const nodeArgs = (process.env.BENCH_LAG_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const proc = procs.start(
    'aptgate',
    process.execPath,
    [
      ...nodeArgs,
      join(REPO, 'dist', 'src', 'cli', 'main.js'),
      'serve',
      '--config',
      writeConfig(s),
      '--listen',
      '127.0.0.1',
      '--port',
      String(port),
      '--db',
      s.db,
      '--cache-dir',
      s.cacheDir,
    ],
    { logFile: s.logFile, cwd: REPO },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.child.exitCode !== null)
      throw new Error(`aptgate exited with ${proc.child.exitCode} before listening (see ${s.logFile})`);
    try {
      const r = await request(`${url}/-/health`);
      await r.body.text();
      if (r.statusCode === 200) return { proc, url, spawnedAt, listeningAt: performance.now() };
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('aptgate did not answer within 60 s');
    await sleep(20);
  }
}

export async function metricsText(url: string): Promise<string> {
  const r = await request(`${url}/-/metrics`);
  const t = await r.body.text();
  if (r.statusCode !== 200) throw new Error(`/-/metrics: HTTP ${r.statusCode}`);
  return t;
}

function sample(text: string, name: string, labels = ''): number | undefined {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${esc(name)}${labels ? esc(`{${labels}}`) : ''} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  available: boolean;
}

/** The server's event-loop delay (ms) over the current window. */
export function loopDelay(text: string): LoopDelay {
  const q = (x: string) => (sample(text, 'aptgate_event_loop_delay_seconds', `quantile="${x}"`) ?? Number.NaN) * 1000;
  const samples = sample(text, 'aptgate_event_loop_delay_seconds_count');
  return { p50: q('0.5'), p99: q('0.99'), max: q('1'), samples: samples ?? 0, available: samples !== undefined };
}

/** Opens a new delay window and waits until the server says it did. */
export async function resetLoopDelay(s: LagServer): Promise<void> {
  const asked = Date.now();
  process.kill(s.proc.pid, 'SIGUSR2');
  for (let i = 0; i < 500; i++) {
    const start = sample(await metricsText(s.url), 'aptgate_event_loop_delay_window_start_seconds');
    if (start === undefined)
      throw new Error('the server does not report aptgate_event_loop_delay_window_start_seconds');
    if (start * 1000 >= asked - 1) return;
    await sleep(10);
  }
  throw new Error('the server did not open a new event-loop delay window');
}

/** Resolves once no background work is reported, twice in a row; the time it took (ms). */
export async function backgroundIdle(url: string, timeoutMs = 300_000): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  while (quiet < 2) {
    const text = await metricsText(url);
    const busy = [...text.matchAll(/^aptgate_background_busy\{task="[^"]+"\} (\S+)$/gm)].some(
      (m) => Number(m[1]) !== 0,
    );
    quiet = busy ? 0 : quiet + 1;
    if (performance.now() - t0 > timeoutMs) throw new Error('background work did not end');
    await sleep(100);
  }
  return performance.now() - t0;
}
