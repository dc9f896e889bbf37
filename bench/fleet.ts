// `npm run bench:fleet` (issue 4): the fleet side of the server under a simulated fleet. The
// server is the real CLI (`aptgate serve`, log level warn) in its own process; the agents are
// this process, talking XML-RPC over keep-alive HTTP on 127.0.0.1 with signed calls as the
// real agent makes them (src/agent/client.ts, src/agent/cycle.ts). Phases: enrolment of every
// machine through agent.enroll (an auto-approving token), one full report per machine (packages
// text gzip'd, in `full`), no-change check-ins, then the database's size once the server has
// stopped and its WAL is checkpointed. Appends to bench/RESULTS.md.
//
// Environment: BENCH_NO_RESULTS=1 leaves RESULTS.md alone; BENCH_KEEP=1 keeps bench/work/fleet;
// BENCH_FLEET_MACHINES (20000), BENCH_FLEET_CHECKINS (100000), BENCH_FLEET_CHECKIN_SECONDS (20);
// BENCH_FLEET_PROFILE=1 runs the server with --cpu-prof, prints where its time went (bench/fleet-profile.ts)
// and keeps the profile in bench/work/fleet/prof.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodeCall } from '../src/protocol/codec.js';
import {
  Processes,
  REPO,
  appendResults,
  commandOutput,
  machineFacts,
  mdTable,
  procStatusKb,
  rssSampler,
  textTable,
  today,
} from './common.js';
import {
  FleetClient,
  decoded,
  machineBusyMs,
  percentile,
  procCpuMs,
  runLoad,
  sign,
  type LoadResult,
} from './fleet-client.js';
import { DEFAULT_SHAPE, factsOf, makeMachines, makeProfiles, sharedShare, type SimMachine } from './fleet-data.js';
import { summarizeFile } from './fleet-profile.js';
import { cpuProfiles, createToken, dbSizes, startFleetServer, type DbSizes } from './fleet-server.js';

const WORK = join(REPO, 'bench', 'work', 'fleet');
const N = Number(process.env.BENCH_FLEET_MACHINES ?? 20_000);
const CHECKINS = Number(process.env.BENCH_FLEET_CHECKINS ?? 100_000);
const CHECKIN_MS = Number(process.env.BENCH_FLEET_CHECKIN_SECONDS ?? 20) * 1000;
const CONCURRENCY = 32;
const HASH_REPORTS = 5000;
const FLEET = 110_000;
const TARGET = { checkins: 3000, checkinP99: 50, reports: 300, bytes110k: 2 * 1024 ** 3 };

const log = (s: string) => process.stdout.write(`bench: ${s}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms2 = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const pass = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

interface Phase {
  name: string;
  load: LoadResult;
  rate: number;
  p50: number;
  p99: number;
  serverCpuPct: number;
  clientCpuPct: number;
  /** CPU of every other process on the machine (other users' work disturbs the figures) */
  otherCpuPct: number;
  rssMaxMb: number;
}

async function phase(name: string, pid: number, run: () => Promise<LoadResult>): Promise<Phase> {
  const rss = rssSampler(() => [pid], 100);
  const cpu0 = procCpuMs(pid);
  const busy0 = machineBusyMs();
  const load = await run();
  const serverMs = procCpuMs(pid) - cpu0;
  const otherMs = machineBusyMs() - busy0 - serverMs - load.clientCpuMs;
  const p: Phase = {
    name,
    load,
    rate: load.calls / load.seconds,
    p50: percentile(load.latencies, 50),
    p99: percentile(load.latencies, 99),
    serverCpuPct: (100 * serverMs) / (load.seconds * 1000),
    clientCpuPct: (100 * load.clientCpuMs) / (load.seconds * 1000),
    otherCpuPct: Math.max(0, (100 * otherMs) / (load.seconds * 1000)),
    rssMaxMb: rss.stop(),
  };
  log(
    `${name}: ${int(p.rate)}/s over ${int(load.calls)} calls in ${load.seconds.toFixed(1)} s, p50 ${ms2(p.p50)} ms, p99 ${ms2(p.p99)} ms, ` +
      `server CPU ${p.serverCpuPct.toFixed(0)}%, client CPU ${p.clientCpuPct.toFixed(0)}%, other processes ${p.otherCpuPct.toFixed(0)}%, server RSS max ${p.rssMaxMb.toFixed(0)} MB` +
      (load.errors ? `, ${load.errors} errors (first: ${load.firstError})` : ''),
  );
  if (load.errors) throw new Error(`${name}: ${load.errors} calls failed; first: ${load.firstError}`);
  return p;
}

/** Two phases as one (the 20,000 reports are sent as the first 200, then the rest). */
function joined(name: string, a: Phase, b: Phase): Phase {
  const lat = new Float64Array(a.load.latencies.length + b.load.latencies.length);
  lat.set(a.load.latencies);
  lat.set(b.load.latencies, a.load.latencies.length);
  const seconds = a.load.seconds + b.load.seconds;
  const wavg = (x: number, y: number) => (x * a.load.seconds + y * b.load.seconds) / seconds;
  return {
    name,
    load: { ...b.load, calls: a.load.calls + b.load.calls, seconds, latencies: lat },
    rate: (a.load.calls + b.load.calls) / seconds,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    serverCpuPct: wavg(a.serverCpuPct, b.serverCpuPct),
    clientCpuPct: wavg(a.clientCpuPct, b.clientCpuPct),
    otherCpuPct: wavg(a.otherCpuPct, b.otherCpuPct),
    rssMaxMb: Math.max(a.rssMaxMb, b.rssMaxMb),
  };
}

const STATE_KNOWN = '<member><name>stateKnown</name><value><boolean>1</boolean></value></member>';

async function main(): Promise<void> {
  const started = performance.now();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, 'cache'), { recursive: true });
  const dbFile = join(WORK, 'aptgate.db');
  const logFile = join(WORK, 'server.log');
  const profDir = process.env.BENCH_FLEET_PROFILE === '1' ? join(WORK, 'prof') : undefined;

  let t0 = performance.now();
  const profiles = makeProfiles(DEFAULT_SHAPE);
  const machines = makeMachines(N, profiles);
  const avg = (f: (p: (typeof profiles)[number]) => number) => profiles.reduce((a, p) => a + f(p), 0) / profiles.length;
  const shape = {
    packages: avg((p) => p.installed.length),
    textKb: avg((p) => p.text.length) / 1024,
    gzKb: avg((p) => p.gz.length) / 1024,
    shared: sharedShare(profiles),
    upgradable: machines.reduce((a, m) => a + m.extras.aptUpgradable.length, 0) / machines.length,
  };
  log(
    `fleet generated in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${int(N)} machines, ${profiles.length} profiles of ${int(shape.packages)} packages on average ` +
      `(text ${shape.textKb.toFixed(0)} KiB, gzip ${shape.gzKb.toFixed(0)} KiB; two profiles share ${(shape.shared * 100).toFixed(0)}% of their records), ` +
      `${shape.upgradable.toFixed(1)} aptUpgradable entries per machine on average`,
  );

  const token = createToken(dbFile);
  const procs = new Processes();
  const server = await startFleetServer(procs, {
    db: dbFile,
    cacheDir: join(WORK, 'cache'),
    logFile,
    ...(profDir ? { cpuProfDir: profDir } : {}),
  });
  const pid = server.proc.pid;
  const client = new FleetClient(server.url, 64);
  const phases: Phase[] = [];
  let idleRssMb = 0;
  let hwmMb = 0;
  try {
    idleRssMb = (procStatusKb(pid, 'VmRSS') ?? 0) / 1024;
    log(`aptgate serving at ${server.url} (pid ${pid}), VmRSS ${idleRssMb.toFixed(0)} MB`);

    phases.push(
      await phase(`enrolment, ${int(N)} machines`, pid, () =>
        runLoad(N, CONCURRENCY, async (i, start) => {
          const m = machines[i]!;
          const body = encodeCall('agent.enroll', [{ token, facts: factsOf(m) }]);
          start();
          const e = await decoded<{ machine: number; secret: string; status: string }>(await client.post(body));
          if (e.status !== 'approved') throw new Error(`machine ${i} is ${e.status}`);
          m.id = e.machine;
          m.secret = e.secret;
        }),
      ),
    );

    // the first one of each profile creates it; all the others send the same text in full
    const profileIds = new Map<number, number>();
    const report = (list: SimMachine[]) => async (i: number, start: () => void) => {
      const m = list[i]!;
      const body = encodeCall('agent.report', [
        { machineId: m.machineId, state: m.state, packages: { hash: m.profile.hash, full: m.profile.gz }, ...m.extras },
      ]);
      const headers = sign(m, body);
      start();
      const r = await decoded<{ profile: number }>(await client.post(body, headers));
      const want = profileIds.get(m.profile.index);
      if (want === undefined) profileIds.set(m.profile.index, r.profile);
      else if (want !== r.profile) throw new Error(`machine ${i}: profile ${r.profile}, expected ${want}`);
    };
    const firstList = machines.slice(0, profiles.length);
    const restList = machines.slice(profiles.length);
    const first = await phase(`full reports, first ${profiles.length} (each a new profile)`, pid, () =>
      runLoad(firstList.length, CONCURRENCY, report(firstList)),
    );
    const rest = await phase(`full reports, other ${int(restList.length)} (known profiles)`, pid, () =>
      runLoad(restList.length, CONCURRENCY, report(restList)),
    );
    phases.push(first, rest, joined(`full reports, all ${int(N)}`, first, rest));
    if (new Set(profileIds.values()).size !== profiles.length)
      throw new Error(`${new Set(profileIds.values()).size} distinct profile ids for ${profiles.length} profiles`);

    // what the agent sends instead once checkIn said packagesKnown: the hash alone (for comparison)
    const hashList = machines.slice(0, Math.min(HASH_REPORTS, N));
    phases.push(
      await phase(`reports by hash only (known profile), ${int(hashList.length)} machines`, pid, () =>
        runLoad(hashList.length, CONCURRENCY, async (i, start) => {
          const m = hashList[i]!;
          const body = encodeCall('agent.report', [
            { machineId: m.machineId, state: m.state, packages: { hash: m.profile.hash }, ...m.extras },
          ]);
          const headers = sign(m, body);
          start();
          const r = await decoded<{ profile: number }>(await client.post(body, headers));
          if (r.profile !== profileIds.get(m.profile.index)) throw new Error(`machine ${i}: profile ${r.profile}`);
        }),
      ),
    );

    // no-change check-ins: the body of a machine never changes; each call is signed anew
    const bodies = machines.map((m) =>
      encodeCall('agent.checkIn', [{ machineId: m.machineId, state: m.state, packages: m.profile.hash }]),
    );
    let cursor = 0;
    const checkIn = async (_i: number, start: () => void) => {
      const m = machines[cursor++ % N]!;
      const body = bodies[m.index]!;
      const headers = sign(m, body);
      start();
      const text = await client.post(body, headers);
      if (!text.includes(STATE_KNOWN) || cursor % 64 === 0) {
        // every 64th answer (and any surprise) is decoded in full and checked member by member
        const a = await decoded<{ status: string; stateKnown: boolean; packagesKnown: boolean; jobsWaiting: boolean }>(
          text,
        );
        if (a.status !== 'approved' || !a.stateKnown || !a.packagesKnown || a.jobsWaiting)
          throw new Error(`unexpected check-in answer ${JSON.stringify(a)}`);
      }
    };
    await runLoad(Math.min(2000, N), CONCURRENCY, checkIn); // warm-up, not recorded
    phases.push(
      await phase(`no-change check-ins, ${CONCURRENCY} in flight`, pid, () =>
        runLoad(CHECKINS, CONCURRENCY, checkIn, CHECKIN_MS),
      ),
    );
    phases.push(
      await phase('no-change check-ins, 64 in flight (5 s)', pid, () => runLoad(CHECKINS, 64, checkIn, 5000)),
    );

    hwmMb = (procStatusKb(pid, 'VmHWM') ?? 0) / 1024;
  } finally {
    await client.close().catch(() => undefined);
    await procs.stopAll();
  }
  const errors = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));
  if (errors.length) log(`the server logged ${errors.length} errors; first: ${errors[0]!.slice(0, 300)}`);
  const prof = profDir ? cpuProfiles(profDir).at(-1) : undefined;
  if (prof) {
    log(`server CPU profile: ${prof}`);
    // the check-in window of the profile also holds the unrecorded warm-up calls
    summarizeFile(prof, [phases[2]!.load.calls, phases.slice(5).reduce((a, p) => a + p.load.calls, Math.min(2000, N))]);
  }

  t0 = performance.now();
  const sizes: DbSizes = dbSizes(dbFile);
  log(
    `database checkpointed in ${(performance.now() - t0).toFixed(0)} ms: ${mb(sizes.db)} MB (was ${mb(sizes.beforeCheckpoint.db)} MB + WAL ${mb(sizes.beforeCheckpoint.wal)} MB)`,
  );
  if (!sizes.rows['view_def'])
    log('warning: no view was defined: the sources of the reports did not go through this server');
  const perMachine = sizes.machinePart / N;
  const projected = sizes.fixedPart + perMachine * FLEET;

  const [enrol, rFirst, rRest, rAll, rHash, ci, ci64] = phases as [Phase, Phase, Phase, Phase, Phase, Phase, Phase];
  const ciOk = ci.rate >= TARGET.checkins && ci.p99 <= TARGET.checkinP99;
  const verdicts = {
    checkins: `≥ ${int(TARGET.checkins)}/s with p99 ≤ ${TARGET.checkinP99} ms: ${pass(ciOk)}`,
    reports: `≥ ${TARGET.reports}/s: ${pass(rAll.rate >= TARGET.reports)}`,
    size: `< 2 GB at ${int(FLEET)} machines: ${pass(projected < TARGET.bytes110k)}`,
  };
  const head = [
    'measurement',
    'calls/s',
    'p50 (ms)',
    'p99 (ms)',
    'server CPU',
    'client CPU',
    'other CPU',
    'server VmRSS max (MB)',
    'target',
  ];
  const row = (p: Phase, target = '') => [
    `${p.name} (${int(p.load.calls)} calls)`,
    int(p.rate),
    ms2(p.p50),
    ms2(p.p99),
    `${p.serverCpuPct.toFixed(0)}%`,
    `${p.clientCpuPct.toFixed(0)}%`,
    `${p.otherCpuPct.toFixed(0)}%`,
    p.rssMaxMb.toFixed(0),
    target,
  ];
  const rows = [
    row(enrol),
    row(rFirst),
    row(rRest),
    row(rAll, verdicts.reports),
    row(rHash),
    row(ci, verdicts.checkins),
    row(ci64),
  ];
  const sizeHead = ['database', 'bytes', 'MB'];
  const sizeRows = [
    [
      `after the run, before the checkpoint: main file + WAL + shm`,
      int(sizes.beforeCheckpoint.db + sizes.beforeCheckpoint.wal + sizes.beforeCheckpoint.shm),
      mb(sizes.beforeCheckpoint.db + sizes.beforeCheckpoint.wal + sizes.beforeCheckpoint.shm),
    ],
    [
      `after wal_checkpoint(TRUNCATE): main file (WAL ${int(sizes.wal)} B), ${int(N)} machines`,
      int(sizes.db),
      mb(sizes.db),
    ],
    [
      `  per-machine tables and indexes (machine, machine_report, their indexes)`,
      int(sizes.machinePart),
      mb(sizes.machinePart),
    ],
    [
      `  fleet-wide part (profiles, shared package records, views, outdated answers, schema, ${sizes.freePages} free pages)`,
      int(sizes.fixedPart),
      mb(sizes.fixedPart),
    ],
    ['per machine', int(perMachine), (perMachine / 1024).toFixed(2) + ' KiB'],
    ['per 10,000 machines (per-machine part)', int(perMachine * 10_000), mb(perMachine * 10_000)],
    [
      `projected for ${int(FLEET)} machines = fleet-wide part + ${int(FLEET)} × per machine`,
      int(projected),
      `${mb(projected)} (${verdicts.size})`,
    ],
  ];
  const objRows = sizes.objects
    .slice(0, 12)
    .map((o) => [o.name + (o.perMachine ? ' (per machine)' : ''), int(o.bytes), mb(o.bytes)]);
  process.stdout.write(
    `\n${textTable(head, rows)}\n\n${textTable(sizeHead, sizeRows)}\n\n${textTable(['table or index (dbstat)', 'bytes', 'MB'], objRows)}\n\n` +
      `server VmRSS: ${idleRssMb.toFixed(0)} MB after start, VmHWM ${hwmMb.toFixed(0)} MB\n` +
      `targets: check-ins ${verdicts.checkins}; reports ${verdicts.reports}; database ${verdicts.size}\n`,
  );

  const seconds = (performance.now() - started) / 1000;
  log(`whole run ${seconds.toFixed(0)} s`);
  if (process.env.BENCH_KEEP !== '1' && !profDir) rmSync(WORK, { recursive: true, force: true });
  if (process.env.BENCH_NO_RESULTS === '1') return;
  const m = machineFacts();
  const dirty = commandOutput('git', ['status', '--porcelain']) ? ' (plus the working tree)' : '';
  appendResults(
    [
      `## ${today()} — bench:fleet`,
      '',
      `- Machine: ${m.cpu}, ${commandOutput('nproc', [])} cores (nproc), ${m.memGiB} GiB RAM, Linux ${m.kernel}`,
      `- Versions: Node ${process.version}; aptgate at ${commandOutput('git', ['rev-parse', '--short', 'HEAD'])}${dirty}`,
      '- Command: `npm run bench:fleet` (= `tsc -p . && node dist/bench/fleet.js`)' +
        (profDir ? ' with BENCH_FLEET_PROFILE=1 (server under --cpu-prof: slower)' : ''),
      `- Setup: \`aptgate serve\` in its own process (APTGATE_SERVER_LOG_LEVEL=warn, default configuration, a fresh database); the simulated agents are one Node process on the same 2 cores, one undici Pool (keep-alive, ${CONCURRENCY} calls in flight unless said otherwise), XML-RPC bodies from src/protocol/codec.ts encodeCall, every call signed (src/protocol/signing.ts) with a per-machine timestamp max(now, last + 1). ${int(N)} machines (distinct machine-id and hostname) enrolled through agent.enroll with one auto-approving token; ${profiles.length} synthetic profiles of ${int(shape.packages)} dpkg records on average (canonical text ${shape.textKb.toFixed(0)} KiB, gzip ${shape.gzKb.toFixed(0)} KiB; two profiles share ${(shape.shared * 100).toFixed(0)}% of their records), one per machine; extras: 2 sources files through this server (remap URLs on the host name the agents send in Host, so each report defines a view and is cross-checked), no preferences, ${shape.upgradable.toFixed(1)} aptUpgradable entries on average (0–20), no reboot, dpkg healthy.`,
      `- Method: every machine sends one agent.report with its packages in full (gzip, base64), as the agent does when the server knows nothing of it; the first ${profiles.length} create the profiles, the others name known profiles but are still decompressed, hashed and checked. For comparison, ${int(Math.min(HASH_REPORTS, N))} of them report again by hash only (what the agent sends when its check-in answer says packagesKnown). Then no-change agent.checkIn calls, round-robin over the machines (stateKnown true, checked on every answer; every 64th answer decoded in full), after ${int(Math.min(2000, N))} unrecorded ones: ${int(CHECKINS)} calls or ${CHECKIN_MS / 1000} s, whichever ends first. Latency: client side, from the request's start to the answer read (signing and encoding happen before). CPU: /proc of the server process and process.cpuUsage() of the client, % of one core; "other CPU" is every other process on the machine (/proc/stat busy time minus both), which disturbs the figures when it is not near 0. The database is measured after the server stopped, with the WAL checkpointed; sizes per table from SQLite's dbstat. Projection: the per-machine tables grow with the machines, the profiles (shared) do not.`,
      '- Comparison: there is no other tool doing this job on this machine, so every ratio is against nothing; the figures stand against the targets only.',
      '',
      mdTable(head, rows),
      '',
      mdTable(
        sizeHead,
        sizeRows.map((r) => [r[0]!.trim(), r[1]!, r[2]!]),
      ),
      '',
      `Largest tables and indexes: ${sizes.objects
        .slice(0, 6)
        .map((o) => `${o.name} ${mb(o.bytes)} MB`)
        .join(', ')}. Rows: ${Object.entries(sizes.rows)
        .map(([k, v]) => `${k} ${int(v)}`)
        .join(', ')}.`,
      '',
      `Server VmRSS: ${idleRssMb.toFixed(0)} MB after start, VmHWM ${hwmMb.toFixed(0)} MB over the run. Whole run ${seconds.toFixed(0)} s.`,
      '',
      `Targets: no-change check-ins ${verdicts.checkins}; full reports ${verdicts.reports}; database ${verdicts.size}.`,
    ].join('\n'),
  );
  log('appended to bench/RESULTS.md');
}

await main();
