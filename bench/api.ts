// `npm run bench:api` (issue 16): the HTTP API over a fleet of 20,000 machines. The server is
// the real CLI (`aptgate serve`) in its own process; its upstream is a fixture mirror of the
// suites the machines read, made of the same packages as their profiles (bench/api-archive.ts),
// fetched through the server as apt fetches them, so the server indexes them and knows what
// each machine is missing. The fleet is bench:fleet's (bench/api-fleet.ts: enrolled and reported
// over real /RPC2). Then the API, with a viewer's API token (bench/api-setup.ts): each question
// asked one at a time, its server time (Server-Timing: app;dur) and client time recorded, and
// the server's event-loop delay over each question's window; then all of them mixed, 8 in
// flight. Appends to bench/RESULTS.md.
//
// Environment: BENCH_NO_RESULTS=1 leaves RESULTS.md alone; BENCH_KEEP=1 keeps bench/work/api;
// BENCH_API_MACHINES (20000), BENCH_API_REQUESTS (200 per question), BENCH_API_SECONDS (10, at
// most per question); BENCH_API_ONLY=REGEX asks only the questions whose name matches;
// BENCH_API_PROFILE=1 runs the server with --cpu-prof and prints where the API's time went
// (bench/api-profile.ts), keeping the profile in bench/work/api/prof.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { disposeTestKey, loadTestKey } from '../test/helpers/gpg.js';
import { FixtureUpstream } from '../test/helpers/upstream.js';
import { DEFAULT_ARCHIVE, suitePaths, writeArchive, type Archive } from './api-archive.js';
import { ApiClient, measure, type Series } from './api-client.js';
import { isPending, loadFleet, makeFleet } from './api-fleet.js';
import { summarizeApiProfile } from './api-profile.js';
import { questions, type Question } from './api-questions.js';
import { prepareDb, writeConfig } from './api-setup.js';
import {
  Processes,
  REPO,
  appendResults,
  commandOutput,
  machineFacts,
  mdTable,
  procStatusKb,
  sleep,
  textTable,
  today,
} from './common.js';
import { machineBusyMs, percentile, procCpuMs } from './fleet-client.js';
import { cpuProfiles, startFleetServer } from './fleet-server.js';
import {
  backgroundIdle,
  loopDelay,
  metricsText,
  resetLoopDelay,
  type LagServer,
  type LoopDelay,
} from './lag-server.js';

const WORK = join(REPO, 'bench', 'work', 'api');
const N = Number(process.env.BENCH_API_MACHINES ?? 20_000);
const COUNT = Number(process.env.BENCH_API_REQUESTS ?? 200);
const MAX_MS = Number(process.env.BENCH_API_SECONDS ?? 10) * 1000;
const ONLY = process.env.BENCH_API_ONLY ? new RegExp(process.env.BENCH_API_ONLY) : undefined;
const AUDIT = 20_000;
const MIXED_CONCURRENCY = 8;
const LOOP_BUDGET_MS = 50;

const log = (s: string) => process.stdout.write(`bench: ${s}\n`);
const f1 = (n: number) => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const int = (n: number) => Math.round(n).toLocaleString('en-US');

interface Row {
  q: Question;
  s: Series;
  delay: LoopDelay;
  serverCpu: number;
  /** the server's CPU over the window per answer, ms (one at a time: what an answer costs, whatever else runs) */
  cpuPerAnswer: number;
  otherCpu: number;
}

async function get(url: string): Promise<number> {
  const r = await request(url, { headersTimeout: 120_000, bodyTimeout: 120_000 });
  await r.body.arrayBuffer();
  return r.statusCode;
}

/** What the questions need from the setup; kept in WORK/reuse.json with BENCH_KEEP=1. */
interface Setup {
  apiToken: string;
  classes: string[];
  archive: Archive;
  /** ids of the approved machines */
  machineIds: number[];
  notes: string[];
}

async function main(): Promise<void> {
  const started = performance.now();
  const dbFile = join(WORK, 'aptgate.db');
  const logFile = join(WORK, 'server.log');
  const reuseFile = join(WORK, 'reuse.json');
  const reuse = process.env.BENCH_API_REUSE === '1' && existsSync(reuseFile);
  if (!reuse) rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, 'cache'), { recursive: true });
  const profDir = process.env.BENCH_API_PROFILE === '1' ? join(WORK, 'prof') : undefined;
  if (profDir) rmSync(profDir, { recursive: true, force: true });
  const key = await loadTestKey(WORK);
  const procs = new Processes();
  let upstream: FixtureUpstream | undefined;
  const rows: Row[] = [];
  let setup: Setup | undefined;
  let asked: Question[] = [];
  let pid = 0;
  let hwmMb = 0;
  let idleRssMb = 0;
  try {
    let t0 = performance.now();
    let fresh: { fleet: ReturnType<typeof makeFleet>; enrol: string; enrolPending: string } | undefined;
    if (reuse) {
      setup = JSON.parse(readFileSync(reuseFile, 'utf8')) as Setup;
      log(`reusing the fleet of ${reuseFile} (BENCH_API_REUSE=1)`);
    } else {
      const fleet = makeFleet(N);
      const archive = await writeArchive(join(WORK, 'up'), key, fleet.packages);
      upstream = await FixtureUpstream.start(join(WORK, 'up'));
      const prepared = await prepareDb(dbFile, join(WORK, 'cache'), AUDIT);
      writeConfig(WORK, upstream.url, key.keyring);
      log(
        `fleet, archive and database prepared in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${int(N)} machines on ${fleet.profiles} profiles; ` +
          `suites ${Object.entries(archive.entries)
            .map(([s, n]) => `${s} ${int(n)}`)
            .join(', ')} entries; ${int(AUDIT)} audit entries; classes ${prepared.classes.join(', ')}`,
      );
      fresh = { fleet, enrol: prepared.enrol, enrolPending: prepared.enrolPending };
      setup = { apiToken: prepared.apiToken, classes: prepared.classes, archive, machineIds: [], notes: [] };
    }
    const server = await startFleetServer(procs, {
      db: dbFile,
      cacheDir: join(WORK, 'cache'),
      logFile,
      config: join(WORK, 'aptgate.conf'),
      ...(profDir ? { cpuProfDir: profDir } : {}),
    });
    pid = server.proc.pid;
    idleRssMb = (procStatusKb(pid, 'VmRSS') ?? 0) / 1024;
    const lag: LagServer = { proc: server.proc, url: server.url, spawnedAt: 0, listeningAt: 0 };
    log(`aptgate serving at ${server.url} (pid ${pid})`);

    if (fresh) {
      // the suites, fetched through the server as apt fetches them: the server indexes them
      t0 = performance.now();
      for (const [backend, suite] of setup.archive.suites) {
        for (const p of suitePaths(backend, suite)) {
          const status = await get(`${server.url}${p}`);
          if (status !== 200) throw new Error(`GET ${p} through the server: HTTP ${status}`);
        }
      }
      await backgroundIdle(server.url);
      setup.notes.push(`suites fetched and indexed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      log(setup.notes.at(-1)!);

      const loaded = await loadFleet(server.url, fresh.fleet, fresh, log);
      const reportsAt = performance.now();
      await backgroundIdle(server.url);
      setup.notes.push(
        `${int(loaded.enrol.calls)} enrolments at ${int(loaded.enrol.calls / loaded.enrol.seconds)}/s, ` +
          `${int(loaded.fullReports.calls)} full reports (one per profile) at ${int(loaded.fullReports.calls / loaded.fullReports.seconds)}/s, ` +
          `${int(loaded.reports.calls)} reports by hash at ${int(loaded.reports.calls / loaded.reports.seconds)}/s, ` +
          `background work (views, outdated answers) done ${((performance.now() - reportsAt) / 1000).toFixed(1)} s after the last report`,
      );
      log(setup.notes.at(-1)!);
      setup.machineIds = fresh.fleet.machines.filter((m) => !isPending(m)).map((m) => m.id);
      if (process.env.BENCH_KEEP === '1') writeFileSync(reuseFile, JSON.stringify(setup));
    }
    const { archive, classes, machineIds } = setup;
    const mb = (f: 'VmRSS' | 'VmHWM') => ((procStatusKb(pid, f) ?? 0) / 1024).toFixed(0);
    setup.notes.push(`server VmRSS ${mb('VmRSS')} MB, VmHWM ${mb('VmHWM')} MB before the first question`);
    log(setup.notes.at(-1)!);

    const api = new ApiClient(server.url, setup.apiToken, MIXED_CONCURRENCY);
    try {
      const qs = questions({ machineIds, archive, classes }).filter((q) => !ONLY || ONLY.test(q.name));
      asked = qs;
      // what one question (or none) does: its answers, the loop's delay, the CPU over its window
      const windowOf = async (q: Question, run: () => Promise<Series>): Promise<Row> => {
        await resetLoopDelay(lag);
        const cpu0 = procCpuMs(pid);
        const busy0 = machineBusyMs();
        const own0 = process.cpuUsage();
        const w0 = performance.now();
        const s = await run();
        const wall = performance.now() - w0;
        const delay = loopDelay(await metricsText(server.url));
        const serverMs = procCpuMs(pid) - cpu0;
        const own = process.cpuUsage(own0);
        const otherMs = machineBusyMs() - busy0 - serverMs - (own.user + own.system) / 1000;
        const row: Row = {
          q,
          s,
          delay,
          serverCpu: (100 * serverMs) / wall,
          cpuPerAnswer: s.server.length ? serverMs / s.server.length : Number.NaN,
          otherCpu: Math.max(0, (100 * otherMs) / wall),
        };
        rows.push(row);
        log(
          `${q.name}: ${s.server.length} answers in ${s.seconds.toFixed(1)} s (${f1(percentile(s.bytes, 50) / 1024)} KiB), server p50 ${f1(percentile(s.server, 50))} / p99 ${f1(percentile(s.server, 99))} / max ${f1(percentile(s.server, 100))} ms, ` +
            `client p50 ${f1(percentile(s.client, 50))} / p99 ${f1(percentile(s.client, 99))} ms, first ${f1(s.first.serverMs)} ms; loop delay p99 ${f1(delay.p99)} / max ${f1(delay.max)} ms; ` +
            `server CPU ${row.serverCpu.toFixed(0)}% (${f1(row.cpuPerAnswer)} ms per answer), other ${row.otherCpu.toFixed(0)}%` +
            (s.errors ? `; ${s.errors} failed, first: ${s.firstError}` : ''),
        );
        if (s.errors) throw new Error(`${q.name}: ${s.errors} requests failed; first: ${s.firstError}`);
        return row;
      };

      // no request: the loop's delay that this machine's other work causes by itself
      await windowOf({ name: 'no request (3 s): the baseline', path: () => '', example: '' }, async () => {
        await sleep(3000);
        return measure(api, () => '', { count: 0, maxMs: 0, concurrency: 0 });
      });
      for (const q of qs) {
        // an operation that is not in the API yet answers 404 from the router: noted, not measured
        const probe = await api.get(q.path(0));
        if (probe.status === 404 && /no API route|Route GET:/.test(probe.text)) {
          log(`${q.name}: not in the API yet (${probe.text.slice(0, 80)})`);
          q.missing = true;
          continue;
        }
        await windowOf(q, () => measure(api, q.path, { count: COUNT, maxMs: MAX_MS, concurrency: 1, check: q.check }));
      }

      // every question, mixed, several in flight: what the loop sees when the console is busy
      const present = qs.filter((q) => !q.missing);
      if (present.length && !ONLY) {
        const mixed: Question = {
          name: `all of the above, mixed, ${MIXED_CONCURRENCY} in flight`,
          path: () => '',
          example: '',
        };
        await windowOf(mixed, () =>
          measure(api, (i) => present[i % present.length]!.path(Math.floor(i / present.length)), {
            count: COUNT * present.length,
            maxMs: MAX_MS,
            concurrency: MIXED_CONCURRENCY,
          }),
        );
      }
    } finally {
      await api.close();
    }
    hwmMb = (procStatusKb(pid, 'VmHWM') ?? 0) / 1024;
  } finally {
    await procs.stopAll();
    await upstream?.close();
    await disposeTestKey(key).catch(() => undefined);
  }
  const errors = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));
  if (errors.length) log(`the server logged ${errors.length} errors; first: ${errors[0]!.slice(0, 300)}`);
  // the main thread's profile (thread 0): the workers write theirs beside it
  const prof = profDir
    ? cpuProfiles(profDir)
        .filter((f) => /\.0\.\d+\.cpuprofile$/.test(f))
        .at(-1)
    : undefined;
  if (prof) {
    log(`server CPU profile: ${prof}`);
    summarizeApiProfile(prof);
  }

  const head = [
    'question',
    'answers',
    'answer size (KiB, median)',
    'server p50 / p99 / max (ms)',
    'client p50 / p99 / max (ms)',
    'first answer, server / client (ms)',
    'event-loop delay p99 / max (ms)',
    'server CPU',
    'server CPU per answer (ms)',
    'other CPU',
    'target (server p99)',
  ];
  const table = rows.map(({ q, s, delay, serverCpu, cpuPerAnswer, otherCpu }) => {
    const p99 = percentile(s.server, 99);
    const verdicts = [
      q.target !== undefined ? `≤ ${q.target} ms: ${p99 <= q.target ? 'PASS' : 'FAIL'}` : '',
      delay.max > LOOP_BUDGET_MS ? `loop held > ${LOOP_BUDGET_MS} ms` : '',
    ].filter(Boolean);
    return [
      q.example ? `${q.name}: \`${q.example}\`` : q.name,
      int(s.server.length),
      f1(percentile(s.bytes, 50) / 1024),
      `${f1(percentile(s.server, 50))} / ${f1(p99)} / ${f1(percentile(s.server, 100))}`,
      `${f1(percentile(s.client, 50))} / ${f1(percentile(s.client, 99))} / ${f1(percentile(s.client, 100))}`,
      `${f1(s.first.serverMs)} / ${f1(s.first.clientMs)}`,
      `${f1(delay.p99)} / ${f1(delay.max)}`,
      `${serverCpu.toFixed(0)}%`,
      f1(cpuPerAnswer),
      `${otherCpu.toFixed(0)}%`,
      verdicts.join('; '),
    ];
  });
  process.stdout.write(`\n${textTable(head, table)}\n\n`);
  const seconds = (performance.now() - started) / 1000;
  log(`whole run ${seconds.toFixed(0)} s`);
  if (process.env.BENCH_KEEP !== '1' && !profDir && !reuse) rmSync(WORK, { recursive: true, force: true });
  // a reused fleet has been asked before and its setup was not measured: nothing to record
  if (process.env.BENCH_NO_RESULTS === '1' || reuse) return;
  const missing = asked.filter((q) => q.missing).map((q) => q.name);
  const m = machineFacts();
  const dirty = commandOutput('git', ['-C', REPO, 'status', '--porcelain']) ? ' (plus the working tree)' : '';
  const failed = rows.filter((r) => r.q.target !== undefined && percentile(r.s.server, 99) > r.q.target!);
  const held = rows.filter((r) => r.delay.max > LOOP_BUDGET_MS);
  appendResults(
    [
      `## ${today()} — bench:api`,
      '',
      `- Machine: ${m.cpu}, ${commandOutput('nproc', [])} cores (nproc), ${m.memGiB} GiB RAM, Linux ${m.kernel}`,
      `- Versions: Node ${process.version}; aptgate at ${commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}${dirty}`,
      '- Command: `npm run bench:api` (= `tsc -p . && node dist/bench/api.js`)',
      `- Setup: \`aptgate serve\` in its own process (log level warn, default configuration but the two backends' mirrors, on a fixture upstream on 127.0.0.1 signed with the test archive key), a fresh database. ` +
        `Fleet: bench:fleet's data (bench/fleet-data.ts): ${int(N)} machines on 200 profiles of about 2,000 packages, enrolled (agent.enroll) and reported (one agent.report each: the packages in full for the first machine of each profile, by hash for the others, as an agent does once its check-in says the server knows them) over real /RPC2, signed as the agent signs; ` +
        `one in a hundred enrolled on a token that needs approval (${int(N / 100)} pending, no report), one in twenty reporting that it needs a reboot; classes site-ber … site-vie by hostname rule (2,500 machines each); ${int(AUDIT)} audit entries over a year. ` +
        `Upstream: bookworm, bookworm-updates and bookworm-security (main, contrib, non-free-firmware, amd64) made of the profiles' packages: bookworm has each at its older version, -updates the current version of ${(DEFAULT_ARCHIVE.updates * 100).toFixed(1)}% of them, -security of ${(DEFAULT_ARCHIVE.security * 100).toFixed(1)}%; fetched through the server as apt does (InRelease, Packages.gz), so every view is indexed and every machine's outdated answer known. ` +
        `${setup?.notes.join('; ') ?? ''}.`,
      `- Method: the API under /api/v1 with a viewer's API token (\`Authorization: Bearer\`, made with AccessService.createApiToken as \`aptgate api-tokens create\` does), one keep-alive undici Pool on 127.0.0.1. ` +
        `Each question is asked ${COUNT} times (or for ${MAX_MS / 1000} s), one at a time, with its parameters varied (pages, classes, search words, machines); the first answer (nothing of its kind asked before) is also shown alone. ` +
        `Server time: the \`Server-Timing: app;dur\` header of each answer (fastify's reply.elapsedTime at onSend: from the request's arrival to the serialized answer). Client time: request start to the last body byte. ` +
        `Event-loop delay: inside the server (aptgate_event_loop_delay_seconds of /-/metrics, a window per question opened by SIGUSR2; a 10 ms timer's lateness, a hold counted once per 10 ms it lasted). ` +
        `CPU: /proc of the server process and of the machine, % of one core; "other CPU" is every process but the server and the bench. CPU per answer: the server process's CPU time over the question's window divided by its answers; the answers come one at a time, so it is what an answer costs whatever else the machine runs (the wall times above include waiting for a core when other processes want it). The last row asks every question in turn, ${MIXED_CONCURRENCY} in flight, for ${MAX_MS / 1000} s.`,
      '',
      mdTable(head, table),
      '',
      `Server VmRSS: ${idleRssMb.toFixed(0)} MB after start, VmHWM ${hwmMb.toFixed(0)} MB over the run. Whole run ${seconds.toFixed(0)} s.`,
      '',
      `Targets (issue 16: overview and a filtered machine list page ≤ 100 ms server time at p99, a package-first query ≤ 200 ms; no request holds the event loop > ${LOOP_BUDGET_MS} ms): ` +
        (failed.length || held.length
          ? `missed by ${[...failed.map((r) => r.q.name), ...held.map((r) => `${r.q.name} (loop held ${f1(r.delay.max)} ms)`)].join('; ')}.`
          : 'all met.') +
        (missing.length ? ` Not in the API at this commit (not measured): ${missing.join('; ')}.` : ''),
    ].join('\n'),
  );
  log('appended to bench/RESULTS.md');
}

await main();
