// bench:cves (issue 17): exposures over a bench:api fleet (20,000 machines on 200 installed sets)
// against a Debian security tracker JSON generated to the real file's size and shape: the
// ingest of the file (`aptgate advisories import`, parsed in the worker, stored in slices), then
// the warm-up the server runs after it (every installed set's exposures worked out, in slices),
// one machine's exposures (`cves.list?machine=`) and one CVE's machines and stage ladder
// (`cves.show`), each asked through its operation as the API runs it, in this process. Time per
// answer (p50 / p99 / max) and the longest hold of the event loop (monitorEventLoopDelay, 1 ms).
//
// Needs a bench:api database: `BENCH_KEEP=1 npm run bench:api` keeps bench/work/api; this copies
// its aptgate.db to bench/work/cves. Environment: BENCH_NO_RESULTS=1 leaves RESULTS.md alone;
// CVES_TRACKER_MB (60) the generated file's size; CVES_COUNT (200) answers per question.
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { localPrincipal } from '../src/access/principal.js';
import { assemble } from '../src/assembly/services.js';
import { loadConfig } from '../src/config.js';
import { operation } from '../src/ops/registry.js';
import { queryContext } from '../src/assembly/queries.js';
import { warmExposures } from '../src/fleet/queries/exposures.js';
import { compareVersions } from '../src/index/version.js';
import { openDb } from '../src/state/db.js';
import { MIGRATION_14 } from '../src/state/migration-14.js';
import { appendResults, machineFacts, REPO, today } from './common.js';
import { prng } from '../test/helpers/statusgen.js';

const SRC = join(REPO, 'bench', 'work', 'api');
const WORK = join(REPO, 'bench', 'work', 'cves');
const TARGET_MB = Number(process.env.CVES_TRACKER_MB ?? 60);
const COUNT = Number(process.env.CVES_COUNT ?? 200);
const RELEASES = ['bullseye', 'bookworm', 'trixie', 'sid'];
const URGENCIES = ['unimportant', 'low', 'medium', 'high', 'not yet assigned'];

if (!existsSync(join(SRC, 'aptgate.db')))
  throw new Error('no bench:api database: run BENCH_KEEP=1 npm run bench:api first (it keeps bench/work/api)');
rmSync(WORK, { recursive: true, force: true });
mkdirSync(WORK, { recursive: true });
for (const f of ['aptgate.db', 'aptgate.db-wal', 'aptgate.db-shm'])
  if (existsSync(join(SRC, f))) copyFileSync(join(SRC, f), join(WORK, f));
const dbFile = join(WORK, 'aptgate.db');
const config = loadConfig({ env: {}, overrides: { stateDir: WORK, db: dbFile, cacheDir: join(WORK, 'cache') } });
const db = openDb(dbFile);
// a bench:api database made before migration 14 took its last index (unreleased; IF NOT EXISTS throughout)
db.exec(MIGRATION_14);
const services = assemble(config, { db, dbFile, mode: 'cli' });
const ctx = { services, fleet: queryContext(services), principal: localPrincipal('bench') };
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil((p / 100) * xs.length) - 1]!;
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

// ---- the tracker: the fleet's sources (installed versions known) and filler to the real size ----

// the sources the fleet's installed sets hold, each at its highest installed source version
const bySource = new Map<string, string>();
for (const { id } of db.prepare<[], { id: number }>('SELECT id FROM profile').all())
  for (const p of services.state.profiles.installed(id)) {
    const v = bySource.get(p.source);
    if (v === undefined || compareVersions(p.sourceVersion, v) > 0) bySource.set(p.source, p.sourceVersion);
  }
const installed = [...bySource].map(([source, v]) => ({ source, v }));
const rnd = prng(17);
let cveSeq = 10_000;
const cves: string[] = [];
function issue(version: string | null, fixed: 'below' | 'above' | 'open') {
  const id = `CVE-20${20 + Math.floor(rnd() * 6)}-${cveSeq++}`;
  const releases: Record<string, unknown> = {};
  for (const r of RELEASES) {
    const urgency = URGENCIES[Math.floor(rnd() * URGENCIES.length)]!;
    const status = fixed === 'open' ? 'open' : 'resolved';
    const fixedVersion =
      fixed === 'open'
        ? undefined
        : fixed === 'below' || !version
          ? '0'
          : `${version}+deb12u${1 + Math.floor(rnd() * 3)}`;
    releases[r] = {
      status,
      repositories: { [r]: version ?? '1.0-1' },
      ...(fixedVersion === undefined ? {} : { fixed_version: fixedVersion }),
      urgency,
    };
  }
  return [
    id,
    {
      description: `a flaw in the generated source (${id}): ${'x'.repeat(60 + Math.floor(rnd() * 120))}`,
      scope: 'remote',
      releases,
    },
  ] as const;
}
const tracker: Record<string, Record<string, unknown>> = {};
for (const { source, v } of installed) {
  const entry: Record<string, unknown> = {};
  // most issues of a source are fixed long ago; a few are fixed in a newer version, one in fifty open
  for (let i = 0; i < 8; i++) {
    const kind = rnd() < 0.02 ? 'open' : rnd() < 0.1 ? 'above' : 'below';
    const [id, body] = issue(v, kind);
    entry[id] = body;
    if (kind !== 'below') cves.push(id);
  }
  tracker[source] = entry;
}
let filler = 0;
let text = JSON.stringify(tracker);
while (text.length < TARGET_MB * 1024 * 1024) {
  // sources no machine runs: the rest of the archive
  for (let k = 0; k < 2000; k++) {
    const entry: Record<string, unknown> = {};
    for (let i = 0; i < 6; i++) {
      const [id, body] = issue(
        `${1 + Math.floor(rnd() * 9)}.${Math.floor(rnd() * 20)}-1`,
        rnd() < 0.1 ? 'open' : 'below',
      );
      entry[id] = body;
    }
    tracker[`filler-source-${filler++}`] = entry;
  }
  text = JSON.stringify(tracker);
}
const trackerFile = join(WORK, 'tracker.json');
writeFileSync(trackerFile, text);
text = '';
const sizeMb = statSync(trackerFile).size / 1024 / 1024;

async function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; hold: number; value: T }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  const value = await fn();
  const took = performance.now() - t0;
  // a turn for the histogram to see the last stretch
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  return { ms: took, hold: h.max / 1e6, value };
}

const rows: string[] = [];
try {
  const ingest = await measure(() => services.advisories.importFile('debian-tracker', trackerFile));
  const records = (ingest.value as { records?: number }).records ?? 0;
  rows.push(
    `| ingest: \`aptgate advisories import debian-tracker\` of ${sizeMb.toFixed(0)} MB (${installed.length} sources of the fleet, ${filler} more; ${records.toLocaleString('en')} records) | 1 | ${ms(ingest.ms)} / - / - | ${ms(ingest.hold)} | - |`,
  );
  // what the server's background tick does after an import: every installed set's exposures worked out
  const warm = await measure(() => warmExposures(ctx.fleet));
  rows.push(
    `| warm-up after the import (the server's tick): every group of machines (installed set, view, release) worked out, in slices | ${warm.value} groups | ${ms(warm.ms)} / - / - | ${ms(warm.hold)} | - |`,
  );
  const machineIds = db
    .prepare<[], { id: number }>("SELECT id FROM machine WHERE status = 'approved' ORDER BY id")
    .all()
    .map((r) => r.id);
  const questions: Array<[string, (i: number) => object, string, number]> = [
    [
      "one machine's exposures: `cves.list?machine=ID`",
      (i) => ({ machine: String(machineIds[(i * 97) % machineIds.length]) }),
      'cves.list',
      5,
    ],
    [
      "one CVE's machines and stage ladder: `cves.show CVE`",
      (i) => ({ cve: cves[(i * 31) % cves.length]! }),
      'cves.show',
      100,
    ],
    ["the fleet's issues, a page of 50: `cves.list`", (i) => ({ page: 1 + (i % 5), limit: 50 }), 'cves.list', 0],
  ];
  for (const [name, input, op, target] of questions) {
    const first = await measure(() => operation(op).run(ctx, input(0)));
    const times: number[] = [];
    let hold = first.hold;
    for (let i = 1; i <= COUNT; i++) {
      const m = await measure(() => operation(op).run(ctx, input(i)));
      times.push(m.ms);
      hold = Math.max(hold, m.hold);
    }
    const p99 = pct(times, 99);
    const verdict = target ? `≤ ${target} ms: ${p99 <= target ? 'PASS' : 'FAIL'}` : '';
    rows.push(
      `| ${name} | ${COUNT} | ${ms(pct(times, 50))} / ${ms(p99)} / ${ms(Math.max(...times))} (first ${ms(first.ms)}) | ${ms(hold)} | ${verdict} |`,
    );
  }
} finally {
  await services.stop();
  db.close();
}

const f = machineFacts();
const section = [
  `## ${today()} — bench:cves`,
  '',
  `- Machine: ${f.cpu}, ${f.cores} cores, ${f.memGiB} GiB RAM, Linux ${f.kernel}; Node ${process.version}`,
  '- Command: `npm run bench:cves` (= `tsc -p . && node dist/bench/cves.js`) on a copy of a bench:api database (`BENCH_KEEP=1 npm run bench:api`: 20,000 machines on 200 installed sets of about 2,000 packages, every view indexed)',
  `- Data: a Debian security tracker JSON in the real format (source → CVE → description, scope, releases ${RELEASES.join(', ')} with status, repositories, fixed_version, urgency), ${sizeMb.toFixed(0)} MB: 8 issues per source the fleet runs (one in ten fixed above the installed version, one in fifty open, the rest fixed long ago), and filler sources to the size of the real file`,
  `- Method: each question through its operation as the API runs it (no HTTP), in this process, ${COUNT} times with varied machines and CVEs after a first answer; event-loop hold: the longest stretch monitorEventLoopDelay saw (1 ms resolution) over the question`,
  '',
  '| question | answers | ms p50 / p99 / max | longest event-loop hold (ms) | target (p99) |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n');
console.log(section);
if (process.env.BENCH_NO_RESULTS !== '1') appendResults(section);
rmSync(WORK, { recursive: true, force: true });
