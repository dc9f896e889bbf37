// `npm run bench:reports` (issue 13, defect 5): what one enrolled machine's large agent.report
// costs the server. A real server in this process (127.0.0.1, port 0, its own database under
// bench/work/reports); the reports are signed agent.report calls over HTTP. While each report is
// sent, perf_hooks.monitorEventLoopDelay (1 ms resolution) records the event loop's delay (a
// GET /-/health every 20 ms keeps the proxy side busy meanwhile; its latency is logged, though an
// in-process client cannot see a stall that also delays its own request).
// The database's size (page count × page size, and the -wal file) is taken before the first
// and after every report, once the server has deleted what no machine uses any more.
//
// Scenarios: the attack (480,000 package lines, 62 MiB unpacked) three times with different
// sets, under the default limits (refused) and with limits raised to let it in (ingest in
// slices); reports at the default limit (20,000 lines) three times different and once the same.
// The report's work on its own (Fleet.report with the payload already decoded, no HTTP and no
// XML) is measured too, apart from the /RPC2 body decoding.
//
// Environment: BENCH_NO_RESULTS=1 leaves RESULTS.md alone; BENCH_KEEP=1 keeps bench/work/reports;
// BENCH_REPORTS_ATTACK_LINES (480000), BENCH_REPORTS_SCENARIOS (comma list of names to run).
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { applySetting } from '../src/config.js';
import { parseParagraphs } from '../src/index/deb822.js';
import { toPackageEntry } from '../src/index/packages.js';
import { decodeResponse, encodeCall } from '../src/protocol/codec.js';
import { SnapshotStore } from '../src/state/snapshots.js';
import type { PackagesText } from '../src/index/profile-record.js';
import {
  bigPackages,
  enrolOverHttp,
  faultOf,
  fullReportBody,
  postSigned,
  type Enrolled,
} from '../test/helpers/reports.js';
import { startServer, testConfig, type TestServer } from '../test/helpers/server.js';
import { REPO, appendResults, machineFacts, mdTable, textTable, today } from './common.js';

const WORK = join(REPO, 'bench', 'work', 'reports');
const ATTACK = Number(process.env.BENCH_REPORTS_ATTACK_LINES ?? 480_000);
const ONLY = process.env.BENCH_REPORTS_SCENARIOS?.split(',').filter(Boolean);
const log = (s: string) => process.stdout.write(`bench: ${s}\n`);
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const ms = (n: number) => (n < 10 ? n.toFixed(1) : Math.round(n).toString());

interface Row {
  scenario: string;
  report: string;
  answer: string;
  seconds: number;
  lagP99: number;
  lagMax: number;
  healthP99: number;
  healthMax: number;
  dbMb: number;
  walMb: number;
}

function dbSize(s: TestServer): { db: number; wal: number } {
  const pages = s.db.pragma('page_count', { simple: true }) as number;
  const size = s.db.pragma('page_size', { simple: true }) as number;
  const wal = `${s.config.db}-wal`;
  return { db: pages * size, wal: existsSync(wal) ? statSync(wal).size : 0 };
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Runs `work` while measuring the event loop and a health probe's latency. */
async function measured<T>(
  url: string,
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number; lagP99: number; lagMax: number; healthP99: number; healthMax: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const health: number[] = [];
  let stop = false;
  const probe = (async () => {
    while (!stop) {
      const t = performance.now();
      const r = await fetch(`${url}/-/health`);
      await r.arrayBuffer();
      health.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  // the garbage of making the reports (hundreds of MB for the attack) is not the server's
  (globalThis as { gc?: () => void }).gc?.();
  h.enable();
  const t0 = performance.now();
  const value = await work();
  const seconds = (performance.now() - t0) / 1000;
  h.disable();
  stop = true;
  await probe;
  return {
    value,
    seconds,
    lagP99: h.percentile(99) / 1e6,
    lagMax: h.max / 1e6,
    healthP99: pct(health, 99),
    healthMax: Math.max(...health),
  };
}

interface Scenario {
  name: string;
  what: string;
  limits?: { maxPackages: number; maxBytes: number };
  /** per report: the set and a label */
  reports: Array<{ tag: string; lines: number; label: string }>;
  /** report through Fleet.report with the payload decoded (no HTTP, no XML) */
  direct?: boolean;
  /**
   * the machine's sources read bookworm through this server, whose index has a newer version of
   * every third package (half of them kept back by a new dependency): the cross-check computes
   * the outdated answer of each new set, and the measurement lasts until it is stored
   */
  view?: boolean;
}

const SOURCES = [
  {
    path: '/etc/apt/sources.list.d/debian.sources',
    content: 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n',
  },
];

/** A bookworm snapshot of backend debian, indexed, with newer versions of every third package of the sets. */
function indexBookworm(server: TestServer, sets: Array<{ tag: string; lines: number }>): void {
  const snap = new SnapshotStore(server.db).record({
    backend: 'debian',
    suite: 'bookworm',
    kind: 'inrelease',
    sha256: 'a'.repeat(64),
    date: Date.now(),
    validUntil: null,
    origin: 'Debian',
    label: 'Debian',
    suiteField: 'stable',
    codename: 'bookworm',
    version: '12',
    notAutomatic: false,
    butAutomaticUpgrades: false,
    fetchedAt: Date.now(),
    mirror: null,
    upstreamLastModified: null,
    upstreamEtag: null,
  });
  const paragraphs: string[] = [];
  for (const { tag, lines } of sets) {
    for (let i = 0; i < lines; i += 3) {
      const name = `lib${tag}${i.toString(36)}`;
      paragraphs.push(
        `Package: ${name}\nVersion: 9.0-1\nArchitecture: amd64\nFilename: pool/main/${name}_9.0-1_amd64.deb\nSize: 1000\nSHA256: ${'b'.repeat(64)}\n` +
          `Depends: libc6 (>= 2.36), libz${i % 2 ? ', libnew' : ''}\n`,
      );
    }
  }
  const entries = parseParagraphs(paragraphs.join('\n')).map((p) => toPackageEntry(p)!);
  const idx = server.proxy.packageIndex;
  const file = idx.beginFile('debian', 'bench-reports');
  idx.insertBatch(file, 'debian', entries);
  idx.link(snap.id, 'main', 'amd64', idx.finishFile(file, 'debian', 'c'.repeat(64), entries.length));
}

function viewReportBody(m: Enrolled, p: PackagesText): string {
  return encodeCall('agent.report', [
    {
      machineId: m.machineId,
      state: p.hash,
      packages: { hash: p.hash, full: gzipSync(p.text) },
      holds: [],
      sources: SOURCES,
      preferences: [],
      aptUpgradable: [],
      reboot: { required: false, packages: [] },
      dpkg: { audit: '', interrupted: false },
      agentVersion: 'bench',
    },
  ]);
}

async function runScenario(sc: Scenario, rows: Row[]): Promise<void> {
  const dir = join(WORK, sc.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const server = await startServer(
    testConfig(dir, {}, (c) => {
      if (sc.view) applySetting(c, 'backend.debian.mirrors', 'http://deb.debian.org/debian');
      if (sc.limits) {
        c.fleet.reportMaxPackages = sc.limits.maxPackages;
        c.fleet.reportMaxBytes = sc.limits.maxBytes;
      }
    }),
  );
  try {
    const token = server.fleet.enrolment.createToken({ autoApprove: true }).token;
    const m: Enrolled = await enrolOverHttp(server.url, token, `bench-${sc.name}`);
    if (sc.view) indexBookworm(server, sc.reports);
    const size0 = dbSize(server);
    rows.push({
      scenario: sc.name,
      report: 'before',
      answer: '',
      seconds: 0,
      lagP99: Number.NaN,
      lagMax: Number.NaN,
      healthP99: Number.NaN,
      healthMax: Number.NaN,
      dbMb: size0.db / 1048576,
      walMb: size0.wal / 1048576,
    });
    if (!sc.reports.length) {
      // the noise floor: the same measurement with nothing to do (other processes share the cores)
      const res = await measured(server.url, () => new Promise<string>((res) => setTimeout(() => res('-'), 3000)));
      rows.push({
        scenario: sc.name,
        report: '(3 s, no report)',
        answer: '',
        seconds: res.seconds,
        lagP99: res.lagP99,
        lagMax: res.lagMax,
        healthP99: res.healthP99,
        healthMax: res.healthMax,
        dbMb: size0.db / 1048576,
        walMb: size0.wal / 1048576,
      });
      log(
        `  idle: event loop p99 ${ms(res.lagP99)} ms, max ${ms(res.lagMax)} ms; /-/health max ${ms(res.healthMax)} ms`,
      );
    }
    const sets = new Map<string, PackagesText>();
    for (const r of sc.reports) {
      const key = `${r.tag}/${r.lines}`;
      let p = sets.get(key);
      if (!p) sets.set(key, (p = bigPackages(r.lines, r.tag)));
      // the body is made before the measurement: the agent's work, not the server's
      const body = sc.direct ? undefined : sc.view ? viewReportBody(m, p) : fullReportBody(m, p);
      const full = sc.direct ? gzipSync(p.text) : undefined;
      log(
        `${sc.name}: ${r.label} (${r.lines} lines, ${mb(Buffer.byteLength(p.text))} MiB unpacked${body ? `, ${mb(Buffer.byteLength(body))} MiB body` : ''})`,
      );
      const res = await measured(server.url, async () => {
        let answer: string;
        if (sc.direct) {
          try {
            const out = await server.fleet.report(m.machine, {
              machineId: m.machineId,
              state: r.label.padEnd(64, '0').slice(0, 64),
              packages: { hash: p.hash, full: full! },
              extras: {
                holds: [],
                sources: [],
                preferences: [],
                aptUpgradable: [],
                reboot: { required: false, packages: [] },
                dpkg: { audit: '', interrupted: false },
              },
            });
            answer = `profile ${out.profile}`;
          } catch (err) {
            answer = `fault ${(err as { faultCode?: number }).faultCode ?? (err as Error).message}`;
          }
        } else {
          const xml = await postSigned(server.url, m, body!);
          const f = faultOf(xml);
          answer =
            f !== undefined ? `fault ${f}` : `profile ${((await decodeResponse(xml)) as { profile: number }).profile}`;
        }
        // what the report left to delete is part of its cost, and so is the cross-check
        await server.fleet.reports.retention.idle();
        if (sc.view) {
          while (!server.fleet.machines.report(m.machine)?.disagreements)
            await new Promise((res) => setTimeout(res, 20));
          server.db.prepare('UPDATE machine_report SET disagreements = NULL WHERE machine_id = ?').run(m.machine);
        }
        return answer;
      });
      const size = dbSize(server);
      rows.push({
        scenario: sc.name,
        report: r.label,
        answer: res.value,
        seconds: res.seconds,
        lagP99: res.lagP99,
        lagMax: res.lagMax,
        healthP99: res.healthP99,
        healthMax: res.healthMax,
        dbMb: size.db / 1048576,
        walMb: size.wal / 1048576,
      });
      log(
        `  ${res.value} in ${res.seconds.toFixed(2)} s; event loop p99 ${ms(res.lagP99)} ms, max ${ms(res.lagMax)} ms; /-/health max ${ms(res.healthMax)} ms; db ${mb(size.db)} MiB, wal ${mb(size.wal)} MiB`,
      );
    }
  } finally {
    await server.close();
    if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  }
}

const SCENARIOS: Scenario[] = [
  { name: 'idle', what: 'no report for 3 s: the noise floor of this machine', reports: [] },
  {
    name: 'attack',
    what: `${ATTACK} lines, default limits`,
    reports: [
      { tag: 'a', lines: ATTACK, label: '1st' },
      { tag: 'b', lines: ATTACK, label: '2nd (other set)' },
      { tag: 'c', lines: ATTACK, label: '3rd (other set)' },
    ],
  },
  {
    name: 'attack-allowed',
    what: `${ATTACK} lines, limits raised to let it in`,
    limits: { maxPackages: 1_000_000, maxBytes: 128 * 1024 * 1024 },
    reports: [
      { tag: 'a', lines: ATTACK, label: '1st' },
      { tag: 'b', lines: ATTACK, label: '2nd (other set)' },
      { tag: 'c', lines: ATTACK, label: '3rd (other set)' },
    ],
  },
  {
    name: 'at-limit',
    what: '20,000 lines (the default limit)',
    reports: [
      { tag: 'a', lines: 20_000, label: '1st' },
      { tag: 'b', lines: 20_000, label: '2nd (other set)' },
      { tag: 'c', lines: 20_000, label: '3rd (other set)' },
      { tag: 'c', lines: 20_000, label: '4th (same as 3rd)' },
    ],
  },
  {
    name: 'at-limit-outdated',
    what: "20,000 lines, sources through this server: the cross-check computes each new set's outdated answer (6,667 outdated, half kept back)",
    view: true,
    reports: [
      { tag: 'a', lines: 20_000, label: '1st' },
      { tag: 'b', lines: 20_000, label: '2nd (other set)' },
      { tag: 'c', lines: 20_000, label: '3rd (other set)' },
    ],
  },
  {
    name: 'at-limit-direct',
    what: '20,000 lines, Fleet.report without HTTP/XML',
    direct: true,
    reports: [
      { tag: 'a', lines: 20_000, label: '1st' },
      { tag: 'b', lines: 20_000, label: '2nd (other set)' },
      { tag: 'c', lines: 20_000, label: '3rd (other set)' },
    ],
  },
];

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const rows: Row[] = [];
  for (const sc of SCENARIOS) {
    if (ONLY && !ONLY.includes(sc.name)) continue;
    await runScenario(sc, rows);
  }
  const head = ['scenario', 'report', 'answer', 's', 'loop p99 ms', 'loop max ms', 'db MiB', 'wal MiB'];
  const cells = rows.map((r) => [
    r.scenario,
    r.report,
    r.answer,
    r.seconds ? r.seconds.toFixed(2) : '',
    Number.isNaN(r.lagP99) ? '' : ms(r.lagP99),
    Number.isNaN(r.lagMax) ? '' : ms(r.lagMax),
    r.dbMb.toFixed(1),
    r.walMb.toFixed(1),
  ]);
  process.stdout.write(`\n${textTable(head, cells)}\n`);
  if (process.env.BENCH_NO_RESULTS !== '1') {
    const f = machineFacts();
    appendResults(
      [
        `## bench:reports — ${today()}`,
        '',
        `${f.cpu}, ${f.cores} cores, ${f.memGiB} GiB, Linux ${f.kernel}, Node ${process.version}. One enrolled machine's signed agent.report over HTTP on 127.0.0.1;`,
        'event loop delay by monitorEventLoopDelay (1 ms resolution) while the report is sent, answered, cross-checked and what it released is collected (idle: the noise floor of the machine).',
        'Database size = page count × page size after each report.',
        '',
        ...SCENARIOS.filter((s) => !ONLY || ONLY.includes(s.name)).map((s) => `- ${s.name}: ${s.what}`),
        '',
        mdTable(head, cells),
      ].join('\n'),
    );
  }
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
