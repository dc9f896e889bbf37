// `npm run bench:lag` (issue 13): how long the server's event loop is held while it does its
// heavy work, and what a second client fetching a cached .deb sees meanwhile. The server is the
// real CLI (`aptgate serve`) in its own process against a fixture upstream with the real
// bookworm main amd64 index (re-signed with the test key); the event-loop delay is measured
// inside it (perf_hooks.monitorEventLoopDelay, aptgate_event_loop_delay_seconds in /-/metrics,
// a new window per scenario by SIGUSR2); the hits come from a worker thread of this process.
// Scenarios: ingest of the big Packages, an enrolment burst, a big signed report, a new
// snapshot (ingest + view loads + outdated refresh), a restart with the first index request,
// and the attack bodies of the issue. Appends to bench/RESULTS.md.
//
// Environment: BENCH_NO_RESULTS=1 leaves RESULTS.md alone, BENCH_KEEP=1 keeps bench/work/lag;
// BENCH_LAG_VIEWS (8) views defined by reports, BENCH_LAG_ENROL (200), BENCH_LAG_REPORT (480000);
// BENCH_LAG_NODE_ARGS: node options for the server (e.g. --trace-gc; its output goes to server.log).
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { request } from 'undici';
import { disposeTestKey, loadTestKey } from '../test/helpers/gpg.js';
import { FixtureUpstream } from '../test/helpers/upstream.js';
import {
  Processes,
  REPO,
  appendResults,
  commandOutput,
  machineFacts,
  mdTable,
  sleep,
  textTable,
  today,
} from './common.js';
import { FleetClient, decoded, machineBusyMs, percentile, procCpuMs, runLoad, sign } from './fleet-client.js';
import { createToken } from './fleet-server.js';
import { ARCHIVE_NAME, writeBookworm, writeHits, type Generation } from './lag-archive.js';
import {
  BOOKWORM_SOURCES,
  HITS_SOURCES,
  bigPackages,
  enrolBody,
  helloNestedArrays,
  helloNestedStructs,
  machine,
  multicall,
  realPackages,
  reportBody,
} from './lag-rpc.js';
import {
  backgroundIdle,
  loopDelay,
  metricsText,
  resetLoopDelay,
  startServer,
  type LagServer,
  type LoopDelay,
  type ServerSetup,
} from './lag-server.js';
import type { SimMachine } from './fleet-data.js';

const WORK = join(REPO, 'bench', 'work', 'lag');
const VIEWS = Number(process.env.BENCH_LAG_VIEWS ?? 8);
const ENROL = Number(process.env.BENCH_LAG_ENROL ?? 200);
const REPORT_PACKAGES = Number(process.env.BENCH_LAG_REPORT ?? 480_000);
const BUDGET_MS = 50;
const TAIL_MS = 500;

const log = (s: string) => process.stdout.write(`bench: ${s}\n`);
const f1 = (n: number) => (Number.isNaN(n) ? '-' : n < 10 ? n.toFixed(2) : n.toFixed(1));

interface Hits {
  latencies: number[];
  errors: number;
  notHit: number;
}

interface Row {
  name: string;
  seconds: number;
  delay: LoopDelay;
  hits: Hits;
  note: string;
  /** % of one core: the server process (all its threads), every other process but the bench */
  serverCpu: number;
  otherCpu: number;
}

class HitClient {
  private readonly worker = new Worker(new URL('./lag-hits.js', import.meta.url));
  start(target: { url: string; path: string; size: number }): void {
    this.worker.postMessage(target);
  }
  mark(): Promise<Hits> {
    return new Promise((r) => {
      this.worker.once('message', r);
      this.worker.postMessage('mark');
    });
  }
  async stop(): Promise<void> {
    const done = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage('stop');
    await Promise.race([done, sleep(5000).then(() => this.worker.terminate())]);
  }
}

async function get(url: string): Promise<{ status: number; bytes: number; result: string }> {
  const r = await request(url, { headersTimeout: 300_000, bodyTimeout: 300_000 });
  const b = await r.body.arrayBuffer();
  return { status: r.statusCode, bytes: b.byteLength, result: String(r.headers['x-aptgate-result'] ?? '') };
}

/** What apt does for a suite: InRelease, then the Packages file. */
async function indexRequest(url: string, g: Generation): Promise<string> {
  const base = `${url}/debian/dists/bookworm`;
  const a = await get(`${base}/InRelease`);
  const b = await get(`${base}/${g.packagesRel}`);
  if (a.status !== 200 || b.status !== 200)
    throw new Error(`index request: InRelease ${a.status}, ${g.packagesRel} ${b.status}`);
  return `InRelease ${a.result || a.status}, ${g.packagesRel.split('/').pop()} ${b.result || b.status} (${(b.bytes / 1e6).toFixed(1)} MB)`;
}

/** The first line that says what an /RPC2 answer was (fault code or a plain answer). */
function answerOf(text: string): string {
  const fault = /<name>faultCode<\/name>\s*<value>\s*<(?:int|i4)>(-?\d+)</.exec(text);
  return fault ? `fault ${fault[1]}` : 'answered';
}

async function main(): Promise<void> {
  const started = performance.now();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, 'cache'), { recursive: true });
  const key = await loadTestKey(WORK);
  const procs = new Processes();
  const hitClient = new HitClient();
  let upstream: FixtureUpstream | undefined;
  const rows: Row[] = [];
  let gen1: Generation | undefined;
  try {
    const up = join(WORK, 'up');
    gen1 = await writeBookworm(up, key, 1);
    const hit = await writeHits(up, key);
    upstream = await FixtureUpstream.start(up);
    log(
      `upstream ${upstream.url}: bookworm main amd64 from ${ARCHIVE_NAME}, ${gen1.entries} entries (${(gen1.bytes / 1e6).toFixed(1)} MB xz); hit file ${hit.path} (${hit.size} bytes)`,
    );
    const setup: ServerSetup = {
      dir: WORK,
      db: join(WORK, 'aptgate.db'),
      cacheDir: join(WORK, 'cache'),
      logFile: join(WORK, 'server.log'),
      upstream: upstream.url,
      keyring: key.keyring,
    };
    const token = createToken(setup.db);
    let server: LagServer = await startServer(procs, setup);
    const port = Number(new URL(server.url).port);
    log(`aptgate serving at ${server.url} (pid ${server.proc.pid})`);

    // the hit file is cached through its own small suite, so it is a hit from the start
    for (const p of ['/hits/dists/stable/InRelease', '/hits/dists/stable/main/binary-amd64/Packages.xz'])
      await get(`${server.url}${p}`);
    let warm = '';
    for (let i = 0; i < 50 && warm !== 'hit'; i++) {
      warm = (await get(`${server.url}${hit.path}`)).result;
      if (warm !== 'hit') await sleep(100);
    }
    if (warm !== 'hit') throw new Error(`${hit.path} is not served as a cache hit (${warm})`);
    hitClient.start({ url: server.url, path: hit.path, size: hit.size });
    await sleep(1000);
    await hitClient.mark();

    const scenario = async (name: string, run: () => Promise<string>, o: { reset?: boolean } = {}) => {
      if (o.reset !== false) await resetLoopDelay(server);
      if (o.reset !== false) await hitClient.mark();
      // a server that has just started is measured from its start (its window opened then)
      const cpu0 = o.reset !== false ? procCpuMs(server.proc.pid) : 0;
      const t0 = o.reset !== false ? performance.now() : server.spawnedAt;
      const busy0 = machineBusyMs();
      const own0 = process.cpuUsage();
      const note = await run();
      await backgroundIdle(server.url);
      const seconds = (performance.now() - t0) / 1000;
      await sleep(TAIL_MS);
      const delay = loopDelay(await metricsText(server.url));
      const hits = await hitClient.mark();
      const wall = performance.now() - t0;
      const serverMs = procCpuMs(server.proc.pid) - cpu0;
      const own = process.cpuUsage(own0);
      const otherMs = machineBusyMs() - busy0 - serverMs - (own.user + own.system) / 1000;
      const row: Row = {
        name,
        seconds,
        delay,
        hits,
        note,
        serverCpu: (100 * serverMs) / wall,
        otherCpu: Math.max(0, (100 * otherMs) / wall),
      };
      rows.push(row);
      const h = Float64Array.from(hits.latencies);
      log(
        `${name}: ${seconds.toFixed(1)} s; event-loop delay p50 ${f1(delay.p50)} ms, p99 ${f1(delay.p99)} ms, max ${f1(delay.max)} ms (${delay.samples} samples); ` +
          `hits ${h.length}, p50 ${f1(percentile(h, 50))} ms, p99 ${f1(percentile(h, 99))} ms, max ${f1(percentile(h, 100))} ms${hits.errors ? `, ${hits.errors} failed` : ''}; server CPU ${row.serverCpu.toFixed(0)}%, other processes ${row.otherCpu.toFixed(0)}%; ${note}`,
      );
      return row;
    };

    // 0. nothing but the hits: what this machine's own load does to the figures
    await scenario('idle: cached hits only (3 s)', async () => {
      await sleep(3000);
      return '-';
    });

    // 1. ingest of the big Packages (the indexer's worker parses; the event loop stays free)
    await scenario(
      `index ingest of bookworm main amd64 (${gen1.entries.toLocaleString('en-US')} entries, ${(gen1.bytes / 1e6).toFixed(1)} MB xz)`,
      () => indexRequest(server.url, gen1!),
    );

    // 2. an enrolment burst
    const client = new FleetClient(server.url, 32);
    // the first VIEWS machines have views of their own: their own preferences, and four contents
    // (bookworm alone or with the small suite, with or without i386)
    const machines: SimMachine[] = Array.from({ length: Math.max(ENROL, VIEWS + 2) }, (_, i) =>
      machine(
        i,
        i < VIEWS && i % 2 ? BOOKWORM_SOURCES + HITS_SOURCES : BOOKWORM_SOURCES,
        i > 0 && i < VIEWS ? `Package: hello\nPin: release n=bookworm\nPin-Priority: ${500 + i}\n` : '',
      ),
    );
    const foreign = (i: number) => (i < VIEWS && i % 4 >= 2 ? ['i386'] : []);
    await scenario(`enrolment burst (${machines.length} agent.enroll, 32 in flight)`, async () => {
      const r = await runLoad(machines.length, 32, async (i, start) => {
        const body = enrolBody(token, machines[i]!, foreign(i));
        start();
        const e = await decoded<{ machine: number; secret: string; status: string }>(await client.post(body));
        machines[i]!.id = e.machine;
        machines[i]!.secret = e.secret;
      });
      if (r.errors) throw new Error(`enrolment: ${r.errors} failed, first: ${r.firstError}`);
      return `${r.calls} enrolled, p99 ${f1(percentile(r.latencies, 99))} ms per call`;
    });

    // the views: one report per view (the real bookworm status); each is cross-checked, which
    // loads its view and caches its outdated answer (not measured)
    const real = realPackages();
    let t0 = performance.now();
    for (let i = 0; i < VIEWS; i++) {
      const m = machines[i]!;
      const body = reportBody(m, real);
      await decoded(await client.post(body, sign(m, body)));
      await backgroundIdle(server.url);
    }
    await sleep(1000);
    log(
      `${VIEWS} reports of ${real.count} packages, one per view, in ${((performance.now() - t0) / 1000).toFixed(1)} s (cross-checks included)`,
    );

    // 3. a big signed report
    t0 = performance.now();
    const big = bigPackages(REPORT_PACKAGES);
    const bigMachine = machines[VIEWS]!;
    const bigBody = reportBody(bigMachine, big);
    log(
      `report of ${big.count.toLocaleString('en-US')} packages generated in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${(big.textBytes / 1048576).toFixed(0)} MiB unpacked, ${(bigBody.length / 1e6).toFixed(1)} MB body`,
    );
    await scenario(
      `signed agent.report, ${big.count.toLocaleString('en-US')} packages (${(big.textBytes / 1048576).toFixed(0)} MiB unpacked, ${(bigBody.length / 1e6).toFixed(1)} MB body)`,
      async () => {
        const text = await client.post(bigBody, sign(bigMachine, bigBody));
        return answerOf(text);
      },
    );

    // 3b. a report the limits accept: 20,000 packages (fleet.report_max_packages), a set the
    // server has not seen, stored and cross-checked (the background work is part of the scenario)
    const atLimit = bigPackages(20_000);
    const limitMachine = machines[VIEWS + 1]!;
    const limitBody = reportBody(limitMachine, atLimit);
    await scenario(
      `signed agent.report at the limit, ${atLimit.count.toLocaleString('en-US')} packages, a new set (${(atLimit.textBytes / 1048576).toFixed(1)} MiB unpacked, ${(limitBody.length / 1e6).toFixed(1)} MB body)`,
      async () => {
        const answer = answerOf(await client.post(limitBody, sign(limitMachine, limitBody)));
        await backgroundIdle(server.url);
        return answer;
      },
    );

    // 4. a new snapshot of bookworm: ingest, view loads, outdated refresh of every view
    const gen2 = await writeBookworm(up, key, 2);
    await sleep(1100); // the InRelease is checked upstream again after release_ttl (1 s)
    await scenario(`new snapshot of bookworm (${VIEWS} views to refresh)`, () => indexRequest(server.url, gen2));

    // 5. restart, then the first index request
    await procs.stop(server.proc);
    await hitClient.mark();
    server = await startServer(procs, setup, port);
    await scenario(
      `restart + first index request (${VIEWS} views)`,
      async () => {
        const note = await indexRequest(server.url, gen2);
        return `listening ${((server.listeningAt - server.spawnedAt) / 1000).toFixed(2)} s after spawn; ${note}`;
      },
      { reset: false },
    );

    // 6. the attack bodies, four in parallel each
    const attacks: Array<[string, string]> = [
      ['agent.hello, 410,000 nested array values', helloNestedArrays(410_000)],
      ['agent.hello, 100,000 nested structs', helloNestedStructs(100_000)],
      ['system.multicall of 50,000 calls', multicall(50_000)],
    ];
    for (const [name, body] of attacks) {
      await scenario(`${name} (${(body.length / 1e6).toFixed(1)} MB), 4 in parallel, unauthenticated`, async () => {
        const answers = await Promise.all(
          Array.from({ length: 4 }, () => client.post(body).then(answerOf, (e: Error) => e.message.slice(0, 60))),
        );
        return [...new Set(answers)].join('; ');
      });
    }
    await client.close();
  } finally {
    await hitClient.stop();
    await procs.stopAll();
    await upstream?.close();
    await disposeTestKey(key).catch(() => undefined);
  }
  const errors = readFileSync(join(WORK, 'server.log'), 'utf8')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));
  if (errors.length) log(`the server logged ${errors.length} errors; first: ${errors[0]!.slice(0, 300)}`);

  const head = [
    'scenario',
    'duration (s)',
    'event-loop delay p50 / p99 / max (ms)',
    'cached .deb hits',
    'hit latency p50 / p99 / max (ms)',
    'server CPU',
    'other CPU',
    'answer',
    `p99 ≤ ${BUDGET_MS} ms`,
  ];
  const table = rows.map((r) => {
    const h = Float64Array.from(r.hits.latencies);
    return [
      r.name,
      r.seconds.toFixed(1),
      `${f1(r.delay.p50)} / ${f1(r.delay.p99)} / ${f1(r.delay.max)}`,
      `${h.length}${r.hits.errors ? ` (+${r.hits.errors} refused while down)` : ''}`,
      `${f1(percentile(h, 50))} / ${f1(percentile(h, 99))} / ${f1(percentile(h, 100))}`,
      `${r.serverCpu.toFixed(0)}%`,
      `${r.otherCpu.toFixed(0)}%`,
      r.note,
      r.delay.p99 <= BUDGET_MS ? (r.delay.max <= BUDGET_MS ? 'PASS (max too)' : 'PASS') : 'FAIL',
    ];
  });
  process.stdout.write(`\n${textTable(head, table)}\n\n`);
  const seconds = (performance.now() - started) / 1000;
  log(`whole run ${seconds.toFixed(0)} s`);
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
  if (process.env.BENCH_NO_RESULTS === '1') return;
  const m = machineFacts();
  const dirty = commandOutput('git', ['-C', REPO, 'status', '--porcelain']) ? ' (plus the working tree)' : '';
  appendResults(
    [
      `## ${today()} — bench:lag`,
      '',
      `- Machine: ${m.cpu}, ${commandOutput('nproc', [])} cores (nproc), ${m.memGiB} GiB RAM, Linux ${m.kernel}`,
      `- Versions: Node ${process.version}; aptgate at ${commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}${dirty}`,
      '- Command: `npm run bench:lag` (= `tsc -p . && node dist/bench/lag.js`)',
      `- Setup: \`aptgate serve\` in its own process (log level warn, release_ttl 1 s) against a fixture upstream on 127.0.0.1 serving the real bookworm main amd64 Packages (${ARCHIVE_NAME}, ${gen1?.entries.toLocaleString('en-US')} entries) under a Release signed with the test archive key, and a small suite with hello_2.10-3_amd64.deb (53 KB). ` +
        `Event-loop delay: measured inside the server (src/proxy/loop-delay.ts): a 10 ms timer sampled as perf_hooks.monitorEventLoopDelay samples it, how late it fired, into a perf_hooks histogram, with a hold counted once for every 10 ms it lasted (coordinated-omission correction: the quantiles are shares of the time, a 5 s freeze is not one sample among hundreds); read from \`aptgate_event_loop_delay_seconds\` in /-/metrics, one window per scenario (SIGUSR2 opens it; the restart's window opens as the server starts). ` +
        `CPU: /proc of the server process (all its threads) and of the whole machine, % of one core; "other CPU" is every process but the server and the bench (on a shared machine it delays the server's threads too, which shows in every figure, the idle row included). ` +
        `Hits: a second client (a worker thread of the bench) GETs the cached .deb over one keep-alive connection, 5 ms apart, all through each scenario; latency = request to last body byte. A scenario lasts until its requests are answered and the server reports no background work (aptgate_background_busy), plus ${TAIL_MS} ms. ` +
        `Fleet: ${VIEWS} machines report the real dpkg status of a bookworm machine, each with its own apt preferences (${VIEWS} views of bookworm: four contents, bookworm alone or with the small suite, with or without i386), before the report scenario; the new snapshot moves one package in a hundred to a new version; reports and enrolments are signed and encoded as the agent does (src/protocol/signing.ts, src/protocol/codec.ts).`,
      '',
      mdTable(head, table),
      '',
      `Whole run ${seconds.toFixed(0)} s.`,
    ].join('\n'),
  );
  log('appended to bench/RESULTS.md');
}

await main();
