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
// Environment: BENCH_SECONDS (per measurement, default 5), BENCH_ROUNDS (default 3, median reported), BENCH_LARGE_MB
// (default 96),
// BENCH_KEEP=1 keeps the work directory, BENCH_NO_RESULTS=1 leaves RESULTS.md alone.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { disposeTestKey, loadTestKey, type TestKey } from '../test/helpers/gpg.js';
import { join } from 'node:path';
import {
  REPO,
  appendResults,
  commandOutput,
  debVersion,
  machineFacts,
  mdTable,
  sleep,
  sumMb,
  textTable,
  today,
} from './common.js';
import {
  COLD_COUNT,
  COLD_MEDIUM_MB,
  LARGE_COUNT,
  LARGE_MB,
  ROUNDS,
  RSS_CLIENTS,
  SECONDS,
  SMALL_COUNT,
  TARGETS,
  TARGET_RSS_MB,
  WARMUP_SECONDS,
  WORK,
  log,
  procs,
  type TargetName,
} from './proxy-common.js';
import { generateFiles } from './proxy-files.js';
import { SUITE, writeSuite } from './proxy-repo.js';
import { mbps, rps, type Load } from './proxy-load.js';
import { measure, measureCold, measureStalled, url, warm, type Measured } from './proxy-measure.js';
import { startAptgate, startServers, upstreamRequests } from './proxy-servers.js';

interface Row {
  metric: string;
  unit: string;
  values: Record<TargetName, number>;
  target?: { vs: 'acng' | 'abs'; op: '>=' | '<='; value: number; label: string };
  digits?: number;
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
  if (!existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js')) || !existsSync(join(REPO, 'dist', 'bench', 'client.js')))
    throw new Error('build first: npx tsc -p .');
  for (const bin of ['nginx', 'wrk', '/usr/sbin/apt-cacher-ng']) {
    if (commandOutput('sh', ['-c', `command -v ${bin}`]) === '')
      throw new Error(`${bin} is missing: run bash bench/setup.sh`);
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  log(`work directory ${WORK}`);
  log(
    `generating ${LARGE_COUNT}×${LARGE_MB} MB, ${SMALL_COUNT} small and ${TARGETS.length * COLD_COUNT * 2} cold-miss files`,
  );
  const files = generateFiles();
  key = await loadTestKey(WORK);
  const suite = await writeSuite(files.entries, key);

  const s = await startServers(key.keyring);
  log(
    `nginx upstream :${s.upstreamPort}, nginx direct :${s.targets['nginx-direct'].port}, apt-cacher-ng :${s.targets['apt-cacher-ng'].port} (pid ${s.acng.pid}), aptgate :${s.targets.aptgate.port} (pid ${s.aptgate.pid})`,
  );
  await sleep(500);
  const idle = {} as Record<TargetName, number>;
  for (const t of TARGETS) idle[t] = sumMb(s.targets[t].pids(), 'VmRSS');
  log(`VmRSS after start: ${TARGETS.map((t) => `${t} ${idle[t].toFixed(1)} MB`).join(', ')}`);

  log('warming both caches (every file once through each), then checking the second fetch is a hit');
  const warmed = await warm(s, files, suite.indexPaths);

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
    s.aptgate = await startAptgate(aptgatePort, s.upstreamPort, key.keyring, level, logName);
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
    {
      metric: 'cached large .deb, 1 client',
      unit: 'MB/s',
      values: large1.value,
      target: { vs: 'acng', op: '>=', value: 1, label: '≥1.0× acng' },
      digits: 0,
    },
    {
      metric: 'cached large .deb, 16 clients',
      unit: 'MB/s',
      values: large16.value,
      target: { vs: 'acng', op: '>=', value: 1, label: '≥1.0× acng' },
      digits: 0,
    },
    { metric: 'cached large .deb, 16 clients, wrk (8 KiB reads)', unit: 'MB/s', values: large16wrk.value, digits: 0 },
    {
      metric: 'cached small .deb, 64 connections',
      unit: 'req/s',
      values: small64.value,
      target: { vs: 'acng', op: '>=', value: 5, label: '≥5× acng' },
      digits: 0,
    },
    { metric: 'cold miss TTFB, 1–8 KB file, median of 20', unit: 'ms', values: cold.small, digits: 2 },
    { metric: `cold miss TTFB, ${COLD_MEDIUM_MB} MB file, median of 20`, unit: 'ms', values: cold.medium, digits: 2 },
    {
      metric: `cold miss complete, ${COLD_MEDIUM_MB} MB file, median of 20`,
      unit: 'ms',
      values: cold.mediumTotal,
      digits: 1,
    },
    { metric: `${RSS_CLIENTS} concurrent large downloads, throughput`, unit: 'MB/s', values: many.value, digits: 0 },
    {
      metric: `${RSS_CLIENTS} concurrent large downloads, max VmRSS`,
      unit: 'MB',
      values: many.rss,
      target: { vs: 'abs', op: '<=', value: TARGET_RSS_MB, label: `≤${TARGET_RSS_MB} MB` },
      digits: 1,
    },
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
  process.stdout.write(
    `\n${textTable(HEAD, rowsText)}\n\nserver CPU during the measurement (% of one core; the load generator used the rest):\n${textTable(['load', ...TARGETS], cpuRows)}\n\n${infoLine}\n`,
  );

  // ---- RESULTS.md
  const m = machineFacts();
  const versions = {
    node: process.version,
    nginx: commandOutput('sh', ['-c', 'nginx -v 2>&1']).replace(/^nginx version:\s*/, ''),
    nginxPkg:
      debVersion('nginx-light') !== 'not installed'
        ? `nginx-light ${debVersion('nginx-light')}`
        : `nginx ${debVersion('nginx')}`,
    acng: debVersion('apt-cacher-ng'),
    wrk: debVersion('wrk'),
    aptgateCommit: commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
  };
  const fails = rows.filter((r) => r.target && verdict(r).endsWith('FAIL')).map((r) => r.metric);
  const v = (x: Measured, t: TargetName) => x.value[t];
  const interp: string[] = [];
  interp.push(`- Targets: ${fails.length === 0 ? 'all pass' : `FAIL: ${fails.join('; ')}`}.`);
  interp.push(
    `- Large cached files: aptgate delivers ${ratio(v(large1, 'aptgate'), v(large1, 'apt-cacher-ng'))} of apt-cacher-ng's throughput with 1 client and ${ratio(v(large16, 'aptgate'), v(large16, 'apt-cacher-ng'))} with 16 (${ratio(v(large1, 'aptgate'), v(large1, 'nginx-direct'))} / ${ratio(v(large16, 'aptgate'), v(large16, 'nginx-direct'))} of nginx's sendfile path). With wrk's 8 KiB reads as the client it is ${ratio(v(large16wrk, 'aptgate'), v(large16wrk, 'apt-cacher-ng'))} of apt-cacher-ng.`,
  );
  interp.push(
    `- Small cached files: ${fmt(v(small64, 'aptgate'), 0)} req/s is ${ratio(v(small64, 'aptgate'), v(small64, 'apt-cacher-ng'))} apt-cacher-ng's rate and ${ratio(v(small64, 'aptgate'), v(small64, 'nginx-direct'))} nginx's; aptgate used ${small64.cpu.aptgate.toFixed(0)}% of a core doing it, apt-cacher-ng ${small64.cpu['apt-cacher-ng'].toFixed(0)}%${small64.cpu['apt-cacher-ng'] < 50 ? ' (apt-cacher-ng is bounded by per-request latency here, not by CPU: about 44 ms per keep-alive request, see the log of the run)' : ''}.`,
  );
  interp.push(
    `- Cold misses: aptgate answers a small miss in ${fmt(cold.small.aptgate, 2)} ms (apt-cacher-ng ${fmt(cold.small['apt-cacher-ng'], 2)} ms), a ${COLD_MEDIUM_MB} MB one in ${fmt(cold.medium.aptgate, 2)} ms (${fmt(cold.medium['apt-cacher-ng'], 2)} ms). aptgate sends the head of an object ≤ proxy.small_object (1 MiB) only once the whole body is in; larger ones stream while they fill.`,
  );
  interp.push(
    `- Memory: idle after start aptgate holds ${fmt(idle.aptgate, 1)} MB (apt-cacher-ng ${fmt(idle['apt-cacher-ng'], 1)} MB). With ${RSS_CLIENTS} concurrent cached downloads it peaked at ${fmt(many.rss.aptgate, 1)} MB VmRSS (apt-cacher-ng ${fmt(many.rss['apt-cacher-ng'], 1)} MB, nginx ${fmt(many.rss['nginx-direct'], 1)} MB); with ${RSS_CLIENTS} clients that stop reading after the head, ${fmt(stalled.aptgate, 1)} MB (${fmt(stalled['apt-cacher-ng'], 1)} MB) — about ${fmt((Math.max(0, stalled.aptgate - idle.aptgate) * 1024) / RSS_CLIENTS, 0)} KB per stalled download above idle.`,
  );
  interp.push(
    `- Logging: one JSON access line per request (info, the default; written to a file here) changes the small-request rate by ${fmt((i / w - 1) * 100, 0)}% (mean of two fresh runs each). A freshly started aptgate serves ${fmt(w, 0)} small req/s at warn, against ${fmt(small64.value.aptgate, 0)} req/s in the main run, where the same kind of process had been serving large files before: aptgate's rate depends on its history.`,
  );
  interp.push(
    "- The load generators share the 2 cores with the server under test (the CPU table shows the server's share), so every figure is a client+server total on this machine; nginx serves with 2 workers and sendfile, apt-cacher-ng with a thread per connection, aptgate with one Node event loop.",
  );

  const section = `## ${today()} — bench:proxy

- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Linux ${m.kernel}
- Versions: Node ${versions.node}; nginx ${versions.nginx} (${versions.nginxPkg}); apt-cacher-ng ${versions.acng}; wrk ${versions.wrk}; aptgate at ${versions.aptgateCommit} (plus the working tree)
- Command: \`npm run bench:proxy\` (= \`bash bench/setup.sh && tsc -p . && node dist/bench/proxy.js\`); ${SECONDS} s per measurement, ${ROUNDS} rounds with the targets interleaved, median reported, after a ${WARMUP_SECONDS} s unrecorded warm-up; whole run ${elapsed.toFixed(0)} s
- Setup: loopback only. nginx (2 workers, sendfile) is the mirror both caches fill from and, on a second port, the direct baseline. apt-cacher-ng runs Debian's defaults plus \`Remap-bench: /bench ; http://127.0.0.1:PORT/debian\` (own CacheDir/LogDir/PidFile/SocketPath, BindAddress 127.0.0.1, a port below 32768 because 3.7.4 fails to bind higher ones, foreground); aptgate runs \`serve --backend bench=http://127.0.0.1:PORT/debian --keyring bench=KEYRING\` with \`APTGATE_SERVER_LOG_LEVEL=warn\` (no access log; apt-cacher-ng keeps its default transfer log). All three are asked for the same URLs, \`GET /bench/pool/...deb\` (origin form, keep-alive). Files: ${LARGE_COUNT}×${LARGE_MB} MiB and ${SMALL_COUNT}×1–8 KiB random .debs, listed with their sizes and SHA256 in the Packages of a suite \`${SUITE}\` signed with the test archive key (aptgate stores a pool file only once a signed Packages names it; it was first asked for the suite's InRelease and Packages.gz, as apt update does), warmed once through each cache (upstream requests: aptgate ${warmed.aptgateUp}, apt-cacher-ng ${warmed.acngUp}); a second fetch of every file caused no upstream request (and aptgate said \`X-Aptgate-Result: hit\`), nor did any measurement (mirror log total: aptgate ${upstreamTotal.aptgate}, apt-cacher-ng ${upstreamTotal.acng} requests, all from warming and the cold-miss phase).
- Clients: large files with bench/client.ts (Node, keep-alive, 1 MiB reads, bodies discarded; rotating over the large files); small files with wrk (2 threads, rotating over the small files). MB = MiB. Cold misses: ${COLD_COUNT} never-fetched files per target and size, one request at a time on a new connection; TTFB = time to the response head. Memory: VmRSS of the server sampled every 100 ms (nginx: master + workers), VmHWM from /proc/PID/status.

${mdTable(HEAD, rowsText)}

Server CPU during each measurement (% of one core, user + system, all threads):

${mdTable(['load', ...TARGETS], cpuRows)}

${infoLine}

Interpretation:
${interp.join('\n')}
`;
  if (process.env.BENCH_NO_RESULTS === '1')
    log(`not written to bench/RESULTS.md (BENCH_NO_RESULTS=1); ${elapsed.toFixed(0)} s`);
  else {
    appendResults(section);
    log(`appended to bench/RESULTS.md; ${elapsed.toFixed(0)} s`);
  }
}

let key: TestKey | undefined;
let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(`bench:proxy failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  await procs.stopAll();
  if (key) await disposeTestKey(key).catch(() => undefined);
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
