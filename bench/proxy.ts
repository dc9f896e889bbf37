// `npm run bench:proxy`: aptgate against apt-cacher-ng and nginx serving the files directly,
// all on loopback, in one run. Prints a table and appends it to bench/RESULTS.md.
//
//   nginx (upstream, port U)  ← the mirror both caches fill from: http://127.0.0.1:U/debian
//   nginx (direct, port D)    ← the same files at /bench/..., the "no cache in between" baseline
//   apt-cacher-ng (port A)    ← Remap-bench: /bench ; http://127.0.0.1:U/debian
//   aptgate (port G)          ← --backend bench=http://127.0.0.1:U/debian
//
// Every target is asked for the same origin-form URLs: GET /bench/pool/main/....deb.
//
// Environment: BENCH_SECONDS (per measurement, default 5), BENCH_ROUNDS (default 3, median reported), BENCH_LARGE_MB (default 96),
// BENCH_KEEP=1 keeps the work directory, BENCH_NO_RESULTS=1 leaves RESULTS.md alone.
import { request, type IncomingHttpHeaders } from 'node:http';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  REPO, Processes, appendResults, childPids, commandOutput, debVersion, freePort, machineFacts, mdTable, median,
  rssSampler, sleep, sumMb, textTable, today, type Started,
} from './common.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** each measurement is repeated this many times, targets interleaved; the median is reported */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_SECONDS = 2;
const LARGE_MB = Number(process.env.BENCH_LARGE_MB ?? 96);
const LARGE_COUNT = 4;
const SMALL_COUNT = 300;
const COLD_COUNT = 20;
const COLD_MEDIUM_MB = 4;
const RSS_CLIENTS = 200;
const TARGET_RSS_MB = 150;

const WORK = join(REPO, 'bench', 'work', 'proxy');
const WWW = join(WORK, 'www');
const MIRROR_ROOT = join(WWW, 'debian');

type TargetName = 'nginx-direct' | 'apt-cacher-ng' | 'aptgate';
const TARGETS: TargetName[] = ['nginx-direct', 'apt-cacher-ng', 'aptgate'];

interface Target {
  name: TargetName;
  port: number;
  /** the processes whose memory counts (nginx: master and workers) */
  pids: () => number[];
}

const procs = new Processes();
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

// ---- test files ---------------------------------------------------------------------------

interface Files {
  large: string[];
  small: string[];
  /** never fetched before the cold-miss phase, one set per target */
  coldSmall: Record<TargetName, string[]>;
  coldMedium: Record<TargetName, string[]>;
}

function poolPath(section: string, pkg: string, version: string, arch: string): string {
  const initial = pkg.startsWith('lib') ? pkg.slice(0, 4) : pkg[0]!;
  return `pool/${section}/${initial}/${pkg}/${pkg}_${version}_${arch}.deb`;
}

/** Deterministic sizes (a tiny LCG) so every run serves the same bytes counts. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function writeRandomFile(rel: string, size: number, block: Buffer): void {
  const file = join(MIRROR_ROOT, rel);
  mkdirSync(join(file, '..'), { recursive: true });
  const fd = openSync(file, 'w', 0o644);
  try {
    let left = size;
    let first = true;
    while (left > 0) {
      const n = Math.min(left, block.length);
      if (first) {
        // unique leading bytes per file; the rest of a small file is a slice of the block
        const head = Buffer.from(`!<arch>\n${rel}\n`);
        block.set(head.subarray(0, Math.min(head.length, n)), 0);
        first = false;
      } else {
        randomFillSync(block, 0, Math.min(64, n));
      }
      writeSync(fd, block, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

function generateFiles(): Files {
  const block = Buffer.allocUnsafe(4 * 1024 * 1024);
  const rnd = lcg(42);
  const files: Files = { large: [], small: [], coldSmall: {} as Files['coldSmall'], coldMedium: {} as Files['coldMedium'] };
  for (let i = 1; i <= LARGE_COUNT; i++) {
    const rel = poolPath('main', `bench-large${i}`, `1.0-${i}`, 'amd64');
    randomFillSync(block);
    writeRandomFile(rel, LARGE_MB * 1024 * 1024, block);
    // fresh random bytes between blocks of a large file
    files.large.push(rel);
  }
  randomFillSync(block);
  for (let i = 1; i <= SMALL_COUNT; i++) {
    const rel = poolPath('main', `libsmall${i}`, `1.${i}-1`, i % 3 ? 'amd64' : 'all');
    writeRandomFile(rel, 1024 + Math.floor(rnd() * 7 * 1024), block);
    files.small.push(rel);
  }
  for (const t of TARGETS) {
    const tag = t.replace(/[^a-z]/g, '');
    files.coldSmall[t] = [];
    files.coldMedium[t] = [];
    for (let i = 1; i <= COLD_COUNT; i++) {
      const s = poolPath('contrib', `cold-${tag}-small${i}`, '2.0-1', 'amd64');
      writeRandomFile(s, 1024 + Math.floor(rnd() * 7 * 1024), block);
      files.coldSmall[t].push(s);
      const m = poolPath('contrib', `cold-${tag}-medium${i}`, '2.0-1', 'amd64');
      randomFillSync(block);
      writeRandomFile(m, COLD_MEDIUM_MB * 1024 * 1024, block);
      files.coldMedium[t].push(m);
    }
  }
  return files;
}

// ---- HTTP client (one request, its own connection) -----------------------------------------

interface Fetched {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: number;
  /** ms from sending to the response head, to the first body byte, to the end */
  head: number;
  first: number;
  total: number;
}

function fetchOnce(port: number, path: string, timeoutMs = 120_000): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false, headers: { 'user-agent': 'aptgate-bench' } }, (res) => {
      const head = performance.now() - t0;
      let first = Number.NaN;
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        if (bytes === 0) first = performance.now() - t0;
        bytes += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, head, first: Number.isNaN(first) ? head : first, total: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitReady(name: string, port: number, path: string, started: Started, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (started.child.exitCode !== null) throw new Error(`${name} exited (${started.child.exitCode}) during start; see its log in ${WORK}`);
    try {
      await fetchOnce(port, path, 2000);
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${name} did not answer on port ${port} within ${ms} ms`);
      await sleep(100);
    }
  }
}

/** Runs `n` requests at a time over a list (warming). */
async function fetchAll(port: number, paths: string[], parallel: number, check: (p: string, f: Fetched) => void): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < paths.length) {
      const p = paths[i++]!;
      const f = await fetchOnce(port, p);
      check(p, f);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

// ---- load generators ------------------------------------------------------------------------
//
// wrk (C) for the small-request rate; bench/client.js (1 MiB reads) for large bodies, where
// wrk's 8 KiB reads cap every server near the same figure. Both run as separate processes.

interface Load {
  name: string;
  tool: 'wrk' | 'client';
  paths: string[];
  conns: number;
}

interface LoadResult {
  requests: number;
  bytes: number;
  seconds: number;
  errors: number;
  detail: string;
}

function pathsFile(load: Load): string {
  const file = join(WORK, `paths-${load.name}.txt`);
  writeFileSync(file, load.paths.join('\n') + '\n');
  return file;
}

function wrkScript(load: Load): string {
  const file = join(WORK, `wrk-${load.name}.lua`);
  const list = load.paths.map((p) => `  "${p}",`).join('\n');
  writeFileSync(file, `-- generated by bench/proxy.ts: rotate over ${load.paths.length} paths, print a JSON summary
local paths = {
${list}
}
local nthreads = 0
function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
end
local counter = 0
function init(args)
  counter = (tid or 0) * 7919
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"bytes":%d,"us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"p50":%d,"p99":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`);
  return file;
}

async function runLoad(port: number, load: Load, seconds: number): Promise<LoadResult> {
  const out = join(WORK, `${load.tool}.out`);
  writeFileSync(out, '');
  const s = load.tool === 'wrk'
    ? procs.start('wrk', 'wrk', ['-t', String(Math.min(2, load.conns)), '-c', String(load.conns), '-d', `${seconds}s`, '--timeout', '120s', '-s', wrkScript(load), `http://127.0.0.1:${port}`], { logFile: out })
    : procs.start('client', process.execPath, [join(REPO, 'dist', 'bench', 'client.js'), String(port), String(load.conns), String(seconds), pathsFile(load)], { logFile: out });
  const code = await s.exited;
  await procs.stop(s);
  const text = readFileSync(out, 'utf8');
  if (load.tool === 'wrk') {
    const m = /WRKJSON (\{.*\})/.exec(text);
    if (code !== 0 || !m) throw new Error(`wrk failed (exit ${code}):\n${text}`);
    const j = JSON.parse(m[1]!) as { requests: number; bytes: number; us: number; errors: Record<string, number>; p50: number; p99: number };
    const e = j.errors;
    return {
      requests: j.requests, bytes: j.bytes, seconds: j.us / 1e6,
      errors: (e.connect ?? 0) + (e.read ?? 0) + (e.write ?? 0) + (e.status ?? 0),
      detail: `p50 ${(j.p50 / 1000).toFixed(1)} ms, p99 ${(j.p99 / 1000).toFixed(1)} ms, errors ${JSON.stringify(e)}`,
    };
  }
  const m = /CLIENTJSON (\{.*\})/.exec(text);
  if (code !== 0 || !m) throw new Error(`bench client failed (exit ${code}):\n${text}`);
  const j = JSON.parse(m[1]!) as { requests: number; bytes: number; seconds: number; errors: number; statuses: Record<string, number> };
  return { requests: j.requests, bytes: j.bytes, seconds: j.seconds, errors: j.errors, detail: `statuses ${JSON.stringify(j.statuses)}` };
}

const mbps = (r: LoadResult) => r.bytes / 1048576 / r.seconds;
const rps = (r: LoadResult) => r.requests / r.seconds;

/** CPU seconds (user + system, all threads) a set of processes has used so far. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch { /* gone */ }
  }
  return ticks / 100; // USER_HZ
}

// ---- the servers ---------------------------------------------------------------------------------

interface Servers {
  upstreamPort: number;
  nginx: Started;
  acng: Started;
  aptgate: Started;
  targets: Record<TargetName, Target>;
}

function nginxConfig(upstreamPort: number, directPort: number): string {
  const dir = join(WORK, 'nginx');
  for (const d of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(dir, d), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `# generated by bench/proxy.ts: no system configuration is read
${process.getuid?.() === 0 ? 'user root root;' : ''}
daemon off;
master_process on;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  types { application/vnd.debian.binary-package deb; }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  log_format bench '$remote_addr "$request" $status $body_bytes_sent "$http_user_agent"';
  # the mirror both caches fill from; every request it gets is logged
  server {
    listen 127.0.0.1:${upstreamPort};
    root ${WWW};
    access_log ${dir}/upstream.log bench;
  }
  # the same files, served directly (baseline), at the URLs the caches are asked for
  server {
    listen 127.0.0.1:${directPort};
    access_log off;
    location /bench/ { alias ${MIRROR_ROOT}/; }
  }
}
`);
  return conf;
}

function acngConfig(port: number, upstreamPort: number): string {
  const dir = join(WORK, 'acng');
  for (const d of ['conf', 'cache', 'log']) mkdirSync(join(dir, d), { recursive: true });
  // As shipped by Debian (acng.conf) except paths, port and one remap for the bench mirror:
  // the same URL shape (/bench/...) and the same upstream as aptgate's backend.
  writeFileSync(join(dir, 'conf', 'acng.conf'), `# generated by bench/proxy.ts
CacheDir: ${dir}/cache
LogDir: ${dir}/log
SupportDir: /usr/lib/apt-cacher-ng
Port: ${port}
BindAddress: 127.0.0.1
PidFile: ${dir}/pid
SocketPath: ${dir}/socket
ForeGround: 1
ReportPage: acng-report.html
ExThreshold: 4
Remap-bench: /bench ; http://127.0.0.1:${upstreamPort}/debian
`);
  return join(dir, 'conf');
}

async function startAptgate(port: number, upstreamPort: number, level: string, logName: string): Promise<Started> {
  const dir = join(WORK, 'aptgate');
  mkdirSync(dir, { recursive: true });
  const s = procs.start('aptgate', process.execPath, [
    join(REPO, 'dist', 'src', 'cli', 'main.js'), 'serve',
    '--listen', '127.0.0.1', '--port', String(port),
    '--cache-dir', join(dir, 'cache'), '--db', join(dir, 'aptgate.db'),
    '--backend', `bench=http://127.0.0.1:${upstreamPort}/debian`,
  ], { logFile: join(dir, logName), env: { ...process.env, APTGATE_SERVER_LOG_LEVEL: level } });
  await waitReady('aptgate', port, '/-/health', s);
  return s;
}

async function startServers(): Promise<Servers> {
  // all below 32768: apt-cacher-ng 3.7.4 fails on higher ports (see freePort)
  const [upstreamPort, directPort, acngPort, aptgatePort] = [await freePort(32768), await freePort(32768), await freePort(32768), await freePort(32768)];
  const conf = nginxConfig(upstreamPort, directPort);
  const nginx = procs.start('nginx', 'nginx', ['-p', join(WORK, 'nginx'), '-c', conf, '-e', join(WORK, 'nginx', 'error.log')], { logFile: join(WORK, 'nginx', 'stderr.log') });
  await waitReady('nginx', upstreamPort, '/', nginx);

  const acngConf = acngConfig(acngPort, upstreamPort);
  const acng = procs.start('apt-cacher-ng', '/usr/sbin/apt-cacher-ng', ['-c', acngConf, 'ForeGround=1'], { logFile: join(WORK, 'acng', 'stderr.log') });
  await waitReady('apt-cacher-ng', acngPort, '/', acng);

  const aptgate = await startAptgate(aptgatePort, upstreamPort, 'warn', 'server-warn.log');
  const servers: Servers = {
    upstreamPort, nginx, acng, aptgate,
    targets: {
      'nginx-direct': { name: 'nginx-direct', port: directPort, pids: () => [nginx.pid, ...childPids(nginx.pid)] },
      'apt-cacher-ng': { name: 'apt-cacher-ng', port: acngPort, pids: () => [acng.pid] },
      'aptgate': { name: 'aptgate', port: aptgatePort, pids: () => [servers.aptgate.pid] },
    },
  };
  return servers;
}

/** Requests the mirror got so far, by client: aptgate or apt-cacher-ng (by User-Agent). */
function upstreamRequests(): { aptgate: number; acng: number; other: number } {
  const file = join(WORK, 'nginx', 'upstream.log');
  const r = { aptgate: 0, acng: 0, other: 0 };
  if (!existsSync(file)) return r;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    if (/"aptgate\//.test(line)) r.aptgate++;
    else if (/Apt-Cacher-NG/i.test(line)) r.acng++;
    else r.other++;
  }
  return r;
}

// ---- phases ------------------------------------------------------------------------------------

const url = (rel: string) => `/bench/${rel}`;

async function warm(s: Servers, files: Files): Promise<{ aptgateUp: number; acngUp: number }> {
  const all = [...files.large, ...files.small].map(url);
  const before = upstreamRequests();
  for (const t of ['apt-cacher-ng', 'aptgate'] as const) {
    const port = s.targets[t].port;
    await fetchAll(port, all, 4, (p, f) => {
      if (f.status !== 200) throw new Error(`${t}: warming ${p}: HTTP ${f.status}`);
    });
  }
  await sleep(1500); // let the fills be committed (aptgate renames after fsync)
  const afterFirst = upstreamRequests();
  // the second fetch of every file must be served from each cache
  let notHit = 0;
  for (const t of ['apt-cacher-ng', 'aptgate'] as const) {
    const port = s.targets[t].port;
    await fetchAll(port, all, 4, (p, f) => {
      if (f.status !== 200) throw new Error(`${t}: second fetch of ${p}: HTTP ${f.status}`);
      if (t === 'aptgate' && f.headers['x-aptgate-result'] !== 'hit') notHit++;
    });
  }
  const afterSecond = upstreamRequests();
  const aptgateUp = afterFirst.aptgate - before.aptgate;
  const acngUp = afterFirst.acng - before.acng;
  log(`warm: ${all.length} files; upstream requests on first pass: aptgate ${aptgateUp}, apt-cacher-ng ${acngUp}; second pass: aptgate ${afterSecond.aptgate - afterFirst.aptgate}, apt-cacher-ng ${afterSecond.acng - afterFirst.acng}, aptgate non-hits ${notHit}`);
  if (afterSecond.aptgate !== afterFirst.aptgate || afterSecond.acng !== afterFirst.acng || notHit > 0) {
    throw new Error('a cache did not serve the second fetch from its cache: the comparison would be unfair');
  }
  if (aptgateUp < all.length || acngUp < all.length) throw new Error(`warming did not reach the mirror for every file (aptgate ${aptgateUp}, apt-cacher-ng ${acngUp}, files ${all.length})`);
  return { aptgateUp, acngUp };
}

interface Row {
  metric: string;
  unit: string;
  values: Record<TargetName, number>;
  target?: { vs: 'acng' | 'abs'; op: '>=' | '<='; value: number; label: string };
  digits?: number;
}

interface Measured {
  value: Record<TargetName, number>;
  /** server CPU use during the measurement, in % of one core */
  cpu: Record<TargetName, number>;
  /** max VmRSS during the measurement (MB) */
  rss: Record<TargetName, number>;
}

/** One load against each target: a short unrecorded warm-up, then the measurement. */
async function measure(s: Servers, load: Load, metric: (r: LoadResult) => number, opts: { warmup?: boolean; targets?: TargetName[] } = {}): Promise<Measured> {
  const targets = opts.targets ?? TARGETS;
  const samples = {} as Record<TargetName, { value: number[]; cpu: number[]; rss: number[] }>;
  for (const t of targets) samples[t] = { value: [], cpu: [], rss: [] };
  // rounds interleave the targets, so a slow moment of the shared machine hits all of them
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const target = s.targets[t];
      if (round === 0 && opts.warmup !== false) await runLoad(target.port, load, WARMUP_SECONDS);
      const up = upstreamRequests();
      const cpu0 = cpuSeconds(target.pids());
      const sampler = rssSampler(target.pids, 100);
      const r = await runLoad(target.port, load, SECONDS);
      const rss = sampler.stop();
      const cpu = ((cpuSeconds(target.pids()) - cpu0) / r.seconds) * 100;
      const up2 = upstreamRequests();
      const fresh = up2.aptgate + up2.acng - up.aptgate - up.acng;
      if (fresh > 0) throw new Error(`${t}: ${fresh} upstream requests during a cached measurement`);
      if (r.errors > 0) log(`  ${t}: ${r.errors} errors (${r.detail})`);
      if (r.requests === 0 && r.bytes === 0) throw new Error(`${t}: nothing received during ${load.name}`);
      const value = metric(r);
      samples[t].value.push(value);
      samples[t].cpu.push(cpu);
      samples[t].rss.push(rss);
      log(`  ${load.name} ${t} (round ${round + 1}/${ROUNDS}): ${r.requests} responses, ${(r.bytes / 1048576).toFixed(0)} MB in ${r.seconds.toFixed(1)} s → ${value.toFixed(1)}; server CPU ${cpu.toFixed(0)}%, max VmRSS ${rss.toFixed(1)} MB; ${r.detail}`);
    }
  }
  const out: Measured = { value: {} as Measured['value'], cpu: {} as Measured['cpu'], rss: {} as Measured['rss'] };
  for (const t of targets) {
    out.value[t] = median(samples[t].value);
    out.cpu[t] = median(samples[t].cpu);
    out.rss[t] = Math.max(...samples[t].rss);
  }
  return out;
}


async function measureCold(s: Servers, files: Files): Promise<{ small: Record<TargetName, number>; medium: Record<TargetName, number>; mediumTotal: Record<TargetName, number> }> {
  const small = {} as Record<TargetName, number>;
  const medium = {} as Record<TargetName, number>;
  const mediumTotal = {} as Record<TargetName, number>;
  for (const t of TARGETS) {
    const port = s.targets[t].port;
    const heads: number[] = [];
    for (const rel of files.coldSmall[t]) {
      const f = await fetchOnce(port, url(rel));
      if (f.status !== 200) throw new Error(`${t}: cold ${rel}: HTTP ${f.status}`);
      if (t === 'aptgate' && f.headers['x-aptgate-result'] !== 'miss') throw new Error(`aptgate: cold ${rel} was ${String(f.headers['x-aptgate-result'])}, not a miss`);
      heads.push(f.head);
    }
    small[t] = median(heads);
    const mh: number[] = [];
    const mt: number[] = [];
    for (const rel of files.coldMedium[t]) {
      const f = await fetchOnce(port, url(rel));
      if (f.status !== 200 || f.bytes !== COLD_MEDIUM_MB * 1048576) throw new Error(`${t}: cold ${rel}: HTTP ${f.status}, ${f.bytes} bytes`);
      if (t === 'aptgate' && f.headers['x-aptgate-result'] !== 'miss') throw new Error(`aptgate: cold ${rel} was ${String(f.headers['x-aptgate-result'])}, not a miss`);
      mh.push(f.head);
      mt.push(f.total);
    }
    medium[t] = median(mh);
    mediumTotal[t] = median(mt);
    log(`  cold ${t}: TTFB small ${small[t].toFixed(2)} ms, ${COLD_MEDIUM_MB} MB ${medium[t].toFixed(2)} ms (complete ${mediumTotal[t].toFixed(1)} ms)`);
  }
  return { small, medium, mediumTotal };
}

/** 200 downloads whose clients stop reading after the head: what a server buffers per slow client. */
async function measureStalled(s: Servers, files: Files): Promise<Record<TargetName, number>> {
  const out = {} as Record<TargetName, number>;
  for (const t of TARGETS) {
    const target = s.targets[t];
    const sampler = rssSampler(target.pids, 100);
    const reqs: Array<ReturnType<typeof request>> = [];
    let heads = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < RSS_CLIENTS; i++) {
        const req = request({ host: '127.0.0.1', port: target.port, path: url(files.large[i % files.large.length]!), agent: false }, (res) => {
          res.pause();
          if (++heads === RSS_CLIENTS) resolve();
        });
        req.on('error', () => { if (++heads === RSS_CLIENTS) resolve(); });
        req.end();
        reqs.push(req);
      }
      setTimeout(resolve, 10_000).unref();
    });
    await sleep(4000);
    out[t] = sampler.stop();
    for (const r of reqs) r.destroy();
    await sleep(1000);
    log(`  ${RSS_CLIENTS} stalled downloads ${t}: max VmRSS ${out[t].toFixed(1)} MB (${heads} heads)`);
  }
  return out;
}

// ---- report ------------------------------------------------------------------------------------

function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
}

function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a';
}

function verdict(row: Row): string {
  if (!row.target) return '';
  const v = row.target.vs === 'acng' ? row.values.aptgate / row.values['apt-cacher-ng'] : row.values.aptgate;
  const ok = row.target.op === '>=' ? v >= row.target.value : v <= row.target.value;
  return `${row.target.label}: ${ok ? 'PASS' : 'FAIL'}`;
}

function tableRows(rows: Row[]): string[][] {
  return rows.map((r) => [
    `${r.metric} (${r.unit})`,
    fmt(r.values['nginx-direct'], r.digits),
    fmt(r.values['apt-cacher-ng'], r.digits),
    fmt(r.values.aptgate, r.digits),
    ratio(r.values.aptgate, r.values['apt-cacher-ng']),
    ratio(r.values.aptgate, r.values['nginx-direct']),
    verdict(r),
  ]);
}

const HEAD = ['metric', 'nginx-direct', 'apt-cacher-ng', 'aptgate', 'aptgate/acng', 'aptgate/nginx', 'target'];

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = Date.now();
  if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js')) || !existsSync(join(REPO, 'dist', 'bench', 'client.js'))) throw new Error('build first: npx tsc -p .');
  for (const bin of ['nginx', 'wrk', '/usr/sbin/apt-cacher-ng']) {
    if (commandOutput('sh', ['-c', `command -v ${bin}`]) === '') throw new Error(`${bin} is missing: run bash bench/setup.sh`);
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  log(`work directory ${WORK}`);
  log(`generating ${LARGE_COUNT}×${LARGE_MB} MB, ${SMALL_COUNT} small and ${TARGETS.length * COLD_COUNT * 2} cold-miss files`);
  const files = generateFiles();

  const s = await startServers();
  log(`nginx upstream :${s.upstreamPort}, nginx direct :${s.targets['nginx-direct'].port}, apt-cacher-ng :${s.targets['apt-cacher-ng'].port} (pid ${s.acng.pid}), aptgate :${s.targets.aptgate.port} (pid ${s.aptgate.pid})`);
  await sleep(500);
  const idle = {} as Record<TargetName, number>;
  for (const t of TARGETS) idle[t] = sumMb(s.targets[t].pids(), 'VmRSS');
  log(`VmRSS after start: ${TARGETS.map((t) => `${t} ${idle[t].toFixed(1)} MB`).join(', ')}`);

  log('warming both caches (every file once through each), then checking the second fetch is a hit');
  const warmed = await warm(s, files);

  const largePaths = files.large.map(url);
  const smallPaths = files.small.map(url);
  const loads = {
    large1: { name: 'large-1', tool: 'client', paths: largePaths, conns: 1 } as Load,
    large16: { name: 'large-16', tool: 'client', paths: largePaths, conns: 16 } as Load,
    large16wrk: { name: 'large-16-wrk', tool: 'wrk', paths: largePaths, conns: 16 } as Load,
    small64: { name: 'small-64', tool: 'wrk', paths: smallPaths, conns: 64 } as Load,
    many: { name: `large-${RSS_CLIENTS}`, tool: 'client', paths: largePaths, conns: RSS_CLIENTS } as Load,
  };
  log(`cached large files, 1 client, ${SECONDS} s each`);
  const large1 = await measure(s, loads.large1, mbps);
  log('cached large files, 16 clients');
  const large16 = await measure(s, loads.large16, mbps);
  log('cached large files, 16 clients, wrk (8 KiB reads)');
  const large16wrk = await measure(s, loads.large16wrk, mbps);
  log('cached small files, 64 connections (wrk)');
  const small64 = await measure(s, loads.small64, rps);
  log(`cold misses, ${COLD_COUNT} distinct files each, one at a time`);
  const cold = await measureCold(s, files);
  log(`${RSS_CLIENTS} concurrent cached large downloads (memory)`);
  const many = await measure(s, loads.many, mbps, { warmup: false });
  log(`${RSS_CLIENTS} stalled cached large downloads (memory)`);
  const stalled = await measureStalled(s, files);
  const hwm = {} as Record<TargetName, number>;
  for (const t of TARGETS) hwm[t] = sumMb(s.targets[t].pids(), 'VmHWM');

  // The logging cost: aptgate restarted (same cache) alternately at warn and info, the small-file
  // load measured right after each start (one access line per request is what costs; aptgate's
  // rate also depends on what the process served before, so every run starts fresh).
  const aptgatePort = s.targets.aptgate.port;
  const byLevel = { warn: [] as number[], info: [] as number[] };
  const logLines = { warn: 0, info: 0 };
  let infoLogBytes = 0;
  for (const [n, level] of (['warn', 'info', 'warn', 'info'] as const).entries()) {
    log(`aptgate restarted at log level ${level}, to price the access log`);
    await procs.stop(s.aptgate);
    const logName = `server-${level}-${n}.log`;
    s.aptgate = await startAptgate(aptgatePort, s.upstreamPort, level, logName);
    const small = await measure(s, loads.small64, rps, { targets: ['aptgate'] });
    byLevel[level].push(small.value.aptgate);
    const file = join(WORK, 'aptgate', logName);
    logLines[level] += readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    if (level === 'info') infoLogBytes += statSync(file).size;
  }
  const upstreamTotal = upstreamRequests();
  await procs.stopAll();

  // ---- table
  const rows: Row[] = [
    { metric: 'cached large .deb, 1 client', unit: 'MB/s', values: large1.value, target: { vs: 'acng', op: '>=', value: 1, label: '≥1.0× acng' }, digits: 0 },
    { metric: 'cached large .deb, 16 clients', unit: 'MB/s', values: large16.value, target: { vs: 'acng', op: '>=', value: 1, label: '≥1.0× acng' }, digits: 0 },
    { metric: 'cached large .deb, 16 clients, wrk (8 KiB reads)', unit: 'MB/s', values: large16wrk.value, digits: 0 },
    { metric: 'cached small .deb, 64 connections', unit: 'req/s', values: small64.value, target: { vs: 'acng', op: '>=', value: 5, label: '≥5× acng' }, digits: 0 },
    { metric: 'cold miss TTFB, 1–8 KB file, median of 20', unit: 'ms', values: cold.small, digits: 2 },
    { metric: `cold miss TTFB, ${COLD_MEDIUM_MB} MB file, median of 20`, unit: 'ms', values: cold.medium, digits: 2 },
    { metric: `cold miss complete, ${COLD_MEDIUM_MB} MB file, median of 20`, unit: 'ms', values: cold.mediumTotal, digits: 1 },
    { metric: `${RSS_CLIENTS} concurrent large downloads, throughput`, unit: 'MB/s', values: many.value, digits: 0 },
    { metric: `${RSS_CLIENTS} concurrent large downloads, max VmRSS`, unit: 'MB', values: many.rss, target: { vs: 'abs', op: '<=', value: TARGET_RSS_MB, label: `≤${TARGET_RSS_MB} MB` }, digits: 1 },
    { metric: `${RSS_CLIENTS} stalled large downloads, max VmRSS`, unit: 'MB', values: stalled, digits: 1 },
    { metric: 'VmRSS after start (idle)', unit: 'MB', values: idle, digits: 1 },
    { metric: 'peak RSS, whole run (VmHWM)', unit: 'MB', values: hwm, digits: 1 },
  ];
  const cpuRows: string[][] = [
    ['cached large .deb, 1 client', large1],
    ['cached large .deb, 16 clients', large16],
    ['cached large .deb, 16 clients, wrk', large16wrk],
    ['cached small .deb, 64 connections', small64],
    [`${RSS_CLIENTS} concurrent large downloads`, many],
  ].map(([name, m]) => [name as string, ...TARGETS.map((t) => `${(m as Measured).cpu[t].toFixed(0)}%`)]);
  const rowsText = tableRows(rows);
  const elapsed = (Date.now() - t0) / 1000;
  const w = byLevel.warn.reduce((a, b) => a + b, 0) / byLevel.warn.length;
  const i = byLevel.info.reduce((a, b) => a + b, 0) / byLevel.info.length;
  const infoLine = `Access-log cost, cached small .deb with 64 connections, aptgate restarted before each run (warn, info, warn, info): ${byLevel.info.map((x) => fmt(x, 0)).join(' and ')} req/s at info against ${byLevel.warn.map((x) => fmt(x, 0)).join(' and ')} at warn, mean ${ratio(i, w)}; the info runs wrote ${logLines.info.toLocaleString('en-US')} access lines (${(infoLogBytes / 1048576).toFixed(1)} MB), the warn runs ${logLines.warn}.`;
  process.stdout.write(`\n${textTable(HEAD, rowsText)}\n\nserver CPU during the measurement (% of one core; the load generator used the rest):\n${textTable(['load', ...TARGETS], cpuRows)}\n\n${infoLine}\n`);

  // ---- RESULTS.md
  const m = machineFacts();
  const versions = {
    node: process.version,
    nginx: commandOutput('sh', ['-c', 'nginx -v 2>&1']).replace(/^nginx version:\s*/, ''),
    nginxPkg: debVersion('nginx-light') !== 'not installed' ? `nginx-light ${debVersion('nginx-light')}` : `nginx ${debVersion('nginx')}`,
    acng: debVersion('apt-cacher-ng'),
    wrk: debVersion('wrk'),
    aptgateCommit: commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
  };
  const fails = rows.filter((r) => r.target && verdict(r).endsWith('FAIL')).map((r) => r.metric);
  const v = (x: Measured, t: TargetName) => x.value[t];
  const interp: string[] = [];
  interp.push(`- Targets: ${fails.length === 0 ? 'all pass' : `FAIL: ${fails.join('; ')}`}.`);
  interp.push(`- Large cached files: aptgate delivers ${ratio(v(large1, 'aptgate'), v(large1, 'apt-cacher-ng'))} of apt-cacher-ng's throughput with 1 client and ${ratio(v(large16, 'aptgate'), v(large16, 'apt-cacher-ng'))} with 16 (${ratio(v(large1, 'aptgate'), v(large1, 'nginx-direct'))} / ${ratio(v(large16, 'aptgate'), v(large16, 'nginx-direct'))} of nginx's sendfile path). With wrk's 8 KiB reads as the client it is ${ratio(v(large16wrk, 'aptgate'), v(large16wrk, 'apt-cacher-ng'))} of apt-cacher-ng.`);
  interp.push(`- Small cached files: ${fmt(v(small64, 'aptgate'), 0)} req/s is ${ratio(v(small64, 'aptgate'), v(small64, 'apt-cacher-ng'))} apt-cacher-ng's rate and ${ratio(v(small64, 'aptgate'), v(small64, 'nginx-direct'))} nginx's; aptgate used ${small64.cpu.aptgate.toFixed(0)}% of a core doing it, apt-cacher-ng ${small64.cpu['apt-cacher-ng'].toFixed(0)}%${small64.cpu['apt-cacher-ng'] < 50 ? ' (apt-cacher-ng is bounded by per-request latency here, not by CPU: about 44 ms per keep-alive request, see the log of the run)' : ''}.`);
  interp.push(`- Cold misses: aptgate answers a small miss in ${fmt(cold.small.aptgate, 2)} ms (apt-cacher-ng ${fmt(cold.small['apt-cacher-ng'], 2)} ms), a ${COLD_MEDIUM_MB} MB one in ${fmt(cold.medium.aptgate, 2)} ms (${fmt(cold.medium['apt-cacher-ng'], 2)} ms). aptgate sends the head of an object ≤ proxy.small_object (1 MiB) only once the whole body is in; larger ones stream while they fill.`);
  interp.push(`- Memory: idle after start aptgate holds ${fmt(idle.aptgate, 1)} MB (apt-cacher-ng ${fmt(idle['apt-cacher-ng'], 1)} MB). With ${RSS_CLIENTS} concurrent cached downloads it peaked at ${fmt(many.rss.aptgate, 1)} MB VmRSS (apt-cacher-ng ${fmt(many.rss['apt-cacher-ng'], 1)} MB, nginx ${fmt(many.rss['nginx-direct'], 1)} MB); with ${RSS_CLIENTS} clients that stop reading after the head, ${fmt(stalled.aptgate, 1)} MB (${fmt(stalled['apt-cacher-ng'], 1)} MB) — about ${fmt(Math.max(0, stalled.aptgate - idle.aptgate) * 1024 / RSS_CLIENTS, 0)} KB per stalled download above idle.`);
  interp.push(`- Logging: one JSON access line per request (info, the default; written to a file here) changes the small-request rate by ${fmt((i / w - 1) * 100, 0)}% (mean of two fresh runs each). A freshly started aptgate serves ${fmt(w, 0)} small req/s at warn, against ${fmt(small64.value.aptgate, 0)} req/s in the main run, where the same kind of process had been serving large files before: aptgate's rate depends on its history.`);
  interp.push('- The load generators share the 2 cores with the server under test (the CPU table shows the server\'s share), so every figure is a client+server total on this machine; nginx serves with 2 workers and sendfile, apt-cacher-ng with a thread per connection, aptgate with one Node event loop.');

  const section = `## ${today()} — bench:proxy

- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Linux ${m.kernel}
- Versions: Node ${versions.node}; nginx ${versions.nginx} (${versions.nginxPkg}); apt-cacher-ng ${versions.acng}; wrk ${versions.wrk}; aptgate at ${versions.aptgateCommit} (plus the working tree)
- Command: \`npm run bench:proxy\` (= \`bash bench/setup.sh && tsc -p . && node dist/bench/proxy.js\`); ${SECONDS} s per measurement, ${ROUNDS} rounds with the targets interleaved, median reported, after a ${WARMUP_SECONDS} s unrecorded warm-up; whole run ${elapsed.toFixed(0)} s
- Setup: loopback only. nginx (2 workers, sendfile) is the mirror both caches fill from and, on a second port, the direct baseline. apt-cacher-ng runs Debian's defaults plus \`Remap-bench: /bench ; http://127.0.0.1:PORT/debian\` (own CacheDir/LogDir/PidFile/SocketPath, BindAddress 127.0.0.1, a port below 32768 because 3.7.4 fails to bind higher ones, foreground); aptgate runs \`serve --backend bench=http://127.0.0.1:PORT/debian\` with \`APTGATE_SERVER_LOG_LEVEL=warn\` (no access log; apt-cacher-ng keeps its default transfer log). All three are asked for the same URLs, \`GET /bench/pool/...deb\` (origin form, keep-alive). Files: ${LARGE_COUNT}×${LARGE_MB} MiB and ${SMALL_COUNT}×1–8 KiB random .debs, warmed once through each cache (upstream requests: aptgate ${warmed.aptgateUp}, apt-cacher-ng ${warmed.acngUp}); a second fetch of every file caused no upstream request (and aptgate said \`X-Aptgate-Result: hit\`), nor did any measurement (mirror log total: aptgate ${upstreamTotal.aptgate}, apt-cacher-ng ${upstreamTotal.acng} requests, all from warming and the cold-miss phase).
- Clients: large files with bench/client.ts (Node, keep-alive, 1 MiB reads, bodies discarded; rotating over the large files); small files with wrk (2 threads, rotating over the small files). MB = MiB. Cold misses: ${COLD_COUNT} never-fetched files per target and size, one request at a time on a new connection; TTFB = time to the response head. Memory: VmRSS of the server sampled every 100 ms (nginx: master + workers), VmHWM from /proc/PID/status.

${mdTable(HEAD, rowsText)}

Server CPU during each measurement (% of one core, user + system, all threads):

${mdTable(['load', ...TARGETS], cpuRows)}

${infoLine}

Interpretation:
${interp.join('\n')}
`;
  if (process.env.BENCH_NO_RESULTS === '1') log(`not written to bench/RESULTS.md (BENCH_NO_RESULTS=1); ${elapsed.toFixed(0)} s`);
  else {
    appendResults(section);
    log(`appended to bench/RESULTS.md; ${elapsed.toFixed(0)} s`);
  }
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(`bench:proxy failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  await procs.stopAll();
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
