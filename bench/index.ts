// `npm run bench:index`: the package index and the outdated computation on the real bookworm,
// bookworm-updates and bookworm-security indexes (../shared/data when present, else the copy in
// test/fixtures), against `apt list --upgradable` on the same inputs in the same run:
// ingest time, outdated time (the real ~780-package status and a ~3,000-package profile), and
// the refresh of 2,000 distinct cached profiles after a new snapshot; and the one-shot command
// a user runs on a machine (`aptgate outdated --status --lists --sources`, a fresh process) against
// `apt list --upgradable` with and without its binary cache. Appends to RESULTS.md.
//
// Environment: BENCH_NO_RESULTS=1 leaves RESULTS.md alone, BENCH_KEEP=1 keeps bench/work/index.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { assemble } from '../src/assembly/services.js';
import { loadConfig } from '../src/config.js';
import type { ViewSpec } from '../src/fleet/views.js';
import { outdated, type OutdatedResult } from '../src/index/outdated.js';
import { Policy } from '../src/index/policy.js';
import { clearsignedText, parseRelease } from '../src/index/release.js';
import { versionSatisfies } from '../src/index/deps.js';
import { parseRelations } from '../src/index/relations.js';
import { parseStatus, type InstalledPackage } from '../src/index/status.js';
import { runIndexJob } from '../src/proxy/index-job.js';
import { openDb, type Db } from '../src/state/db.js';
import { PackageIndexStore } from '../src/state/package-index.js';
import { SnapshotStore } from '../src/state/snapshots.js';
import { statusFromPackages, writeLists } from '../test/helpers/compare.js';
import { generateStatus, readPackagesXz } from '../test/helpers/statusgen.js';
import {
  REPO,
  appendResults,
  commandOutput,
  debVersion,
  machineFacts,
  mdTable,
  median,
  textTable,
  today,
} from './common.js';

const WORK = join(REPO, 'bench', 'work', 'index');
const SHARED = resolve(REPO, '..', 'shared', 'data', 'debian-archive');
const ARCHIVE = existsSync(join(SHARED, 'debian', 'dists', 'bookworm', 'InRelease'))
  ? SHARED
  : join(REPO, 'test', 'fixtures', 'debian-archive');

interface Suite {
  backend: string;
  base: string;
  suite: string;
  uri: string;
  indexes: string[];
}
const SUITES: Suite[] = [
  {
    backend: 'debian',
    base: 'debian',
    suite: 'bookworm',
    uri: 'http://deb.debian.org/debian',
    indexes: ['main/binary-amd64/Packages.xz'],
  },
  {
    backend: 'debian',
    base: 'debian',
    suite: 'bookworm-updates',
    uri: 'http://deb.debian.org/debian',
    indexes: ['main/binary-amd64/Packages.xz', 'main/binary-all/Packages.xz'],
  },
  {
    backend: 'debian-security',
    base: 'debian-security',
    suite: 'bookworm-security',
    uri: 'http://deb.debian.org/debian-security',
    indexes: ['main/binary-amd64/Packages.xz'],
  },
];
const SPEC: ViewSpec = {
  sources: SUITES.map((s) => ({ backend: s.backend, suite: s.suite, components: ['main'] })),
  arch: 'amd64',
  foreignArchs: [],
};

const log = (s: string) => process.stdout.write(`bench: ${s}\n`);
const ms = (t0: number) => performance.now() - t0;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function distsDir(s: Suite): string {
  return join(ARCHIVE, s.base, 'dists', s.suite);
}

/** Records the suite's snapshot and parses its Packages into the package index, as the proxy does. */
async function ingestSuite(
  snapshots: SnapshotStore,
  store: PackageIndexStore,
  s: Suite,
  override?: { file: string; date: Date },
): Promise<number> {
  const inRelease = readFileSync(join(distsDir(s), 'InRelease'));
  const rel = parseRelease(clearsignedText(inRelease));
  const date = override?.date ?? rel.date;
  const snap = snapshots.record({
    backend: s.backend,
    suite: s.suite,
    kind: 'inrelease',
    sha256: override ? sha256(`${sha256(inRelease)}/${date.toISOString()}`) : sha256(inRelease),
    date: date.getTime(),
    validUntil: rel.validUntil?.getTime() ?? null,
    origin: rel.origin ?? null,
    label: rel.label ?? null,
    suiteField: rel.suite ?? null,
    codename: rel.codename ?? null,
    version: rel.version ?? null,
    notAutomatic: rel.notAutomatic,
    butAutomaticUpgrades: rel.butAutomaticUpgrades,
    fetchedAt: Date.now(),
    mirror: null,
    upstreamLastModified: null,
    upstreamEtag: null,
  });
  for (const idx of s.indexes) {
    const file = override && idx.includes('binary-amd64') ? override.file : join(distsDir(s), idx);
    const m = /^(.+)\/binary-([^/]+)\//.exec(idx)!;
    const plainRel = idx.replace(/\.xz$/, '');
    await runIndexJob(store, {
      backend: s.backend,
      file,
      compression: file.endsWith('.xz') ? 'xz' : 'none',
      fileSha256: sha256(readFileSync(file)),
      plainSha256: override ? undefined : rel.files.get(plainRel)?.sha256,
      link: { snapshotId: snap.id, component: m[1]!, architecture: m[2]! },
    });
  }
  return snap.id;
}

function aptList(root: string): { ms: number; set: Set<string> } {
  const t0 = performance.now();
  const out = execFileSync('apt', ['list', '--upgradable'], {
    env: { ...process.env, APT_CONFIG: join(root, 'apt.conf'), LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 << 20,
  }).toString();
  const t = ms(t0);
  const set = new Set<string>();
  for (const line of out.split('\n')) {
    const m = /^(\S+?)\/\S+ (\S+) (\S+) \[upgradable from: /.exec(line);
    if (m) set.add(`${m[1]} ${m[3]} ${m[2]}`);
  }
  return { ms: t, set };
}

async function aptRoot(dir: string, statusText: string): Promise<string> {
  for (const d of ['lists/partial', 'etc/apt.conf.d', 'etc/preferences.d', 'etc/sources.list.d', 'cache', 'state'])
    mkdirSync(join(dir, d), { recursive: true });
  await writeLists(
    join(dir, 'lists'),
    SUITES.map((s) => ({ distsDir: distsDir(s), uri: s.uri, suite: s.suite })),
  );
  writeFileSync(join(dir, 'status'), statusText);
  writeFileSync(
    join(dir, 'etc', 'sources.list.d', 'debian.sources'),
    SUITES.map((s) => `Types: deb\nURIs: ${s.uri}\nSuites: ${s.suite}\nComponents: main\nTrusted: yes\n`).join('\n'),
  );
  const conf =
    [
      ['Dir', `${dir}/`],
      ['Dir::Etc', `${dir}/etc/`],
      ['Dir::Etc::Main', `${dir}/etc/apt.conf`],
      ['Dir::Etc::Parts', `${dir}/etc/apt.conf.d/`],
      ['Dir::Etc::SourceList', `${dir}/etc/sources.list`],
      ['Dir::Etc::SourceParts', `${dir}/etc/sources.list.d/`],
      ['Dir::Etc::Preferences', `${dir}/etc/preferences`],
      ['Dir::Etc::PreferencesParts', `${dir}/etc/preferences.d/`],
      ['Dir::State', `${dir}/state/`],
      ['Dir::State::Lists', `${dir}/lists/`],
      ['Dir::State::status', `${dir}/status`],
      ['Dir::Cache', `${dir}/cache/`],
      ['APT::Architecture', 'amd64'],
      ['Debug::NoLocking', '1'],
    ]
      .map(([k, v]) => `${k} "${v}";`)
      .join('\n') + '\nAPT::Architectures { "amd64"; };\n';
  writeFileSync(join(dir, 'apt.conf'), conf);
  return dir;
}

const CLI = join(REPO, 'dist', 'src', 'cli', 'main.js');
const TICK_MS = 1000 / Number(commandOutput('getconf', ['CLK_TCK']) || 100);

/** CPU time (user + system) of this process's waited-for children so far, in ms (10 ms steps). */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 16 and 17 (cutime, cstime), counted from the state (field 3) at index 0
  return (Number(f[13]) + Number(f[14])) * TICK_MS;
}

/** Wall and CPU time of one command run to its end (stdout kept). */
function timed(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { ms: number; cpu: number; out: string } {
  const cpu0 = childCpuMs();
  const t0 = performance.now();
  const out = execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
  return { ms: ms(t0), cpu: childCpuMs() - cpu0, out };
}

interface OneShot {
  aptgate: { ms: number; cpu: number };
  aptCached: { ms: number; cpu: number };
  aptUncached: { ms: number; cpu: number };
  same: boolean;
  lines: number;
}

/**
 * The one-shot command against apt on the same root: `aptgate outdated` in a fresh process each
 * time (what a user runs on a machine), `apt list --upgradable` with its binary cache built (as
 * `apt update` leaves it) and without one (a lists directory apt has no cache of: a copy of a
 * machine's lists, an image with the caches turned off). Runs interleaved, medians of `runs`.
 * "same": aptgate's lines without its notes are apt's lines.
 */
function oneShot(root: string, runs: number): OneShot {
  const env = { ...process.env, APT_CONFIG: join(root, 'apt.conf'), LC_ALL: 'C' };
  const ours = [
    'outdated',
    '--status',
    join(root, 'status'),
    '--lists',
    join(root, 'lists'),
    '--sources',
    join(root, 'etc', 'sources.list.d'),
    '--arch',
    'amd64',
  ];
  const noCache = ['-o', 'Dir::Cache::pkgcache=', '-o', 'Dir::Cache::srcpkgcache='];
  const a: Array<{ ms: number; cpu: number }> = [];
  const c: Array<{ ms: number; cpu: number }> = [];
  const u: Array<{ ms: number; cpu: number }> = [];
  let same = true;
  let lines = 0;
  timed(process.execPath, [CLI, ...ours]); // the page cache, as for apt
  for (let i = 0; i < runs; i++) {
    const mine = timed(process.execPath, [CLI, ...ours]);
    const cached = timed('apt', ['list', '--upgradable'], env);
    u.push(timed('apt', ['list', '--upgradable', ...noCache], env));
    a.push(mine);
    c.push(cached);
    const aptLines = cached.out.split('\n').filter((l) => l.includes(' [upgradable from: '));
    const ourLines = mine.out
      .split('\n')
      .slice(0, -2)
      .map((l) => l.replace(/ {2}\[[^\]]*\]$/, ''));
    same &&= aptLines.length === ourLines.length && aptLines.every((l, k) => l === ourLines[k]);
    lines = aptLines.length;
  }
  const med = (xs: Array<{ ms: number; cpu: number }>) => ({
    ms: median(xs.map((x) => x.ms)),
    cpu: median(xs.map((x) => x.cpu)),
  });
  return { aptgate: med(a), aptCached: med(c), aptUncached: med(u), same, lines };
}

function timeOutdated(
  installed: readonly InstalledPackage[],
  view: Parameters<typeof outdated>[1],
  policy: Policy,
  runs: number,
): { warm: number; cold: number; result: OutdatedResult } {
  let result = outdated(installed, view, { policy });
  for (let i = 0; i < 20; i++) outdated(installed, view, { policy });
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    result = outdated(installed, view, { policy });
    warm.push(ms(t0));
  }
  // cold: a fresh copy of the installed set each time (its per-set index is built again)
  const cold: number[] = [];
  for (let i = 0; i < Math.min(runs, 50); i++) {
    const copy = installed.slice();
    const t0 = performance.now();
    outdated(copy, view, { policy });
    cold.push(ms(t0));
  }
  return { warm: median(warm), cold: median(cold), result };
}

/** `apt-get -s upgrade` upgrades exactly what aptgate says it would. */
function sameUpgrade(root: string, r: OutdatedResult): boolean {
  const out = execFileSync('apt-get', ['-s', 'upgrade'], {
    env: { ...process.env, APT_CONFIG: join(root, 'apt.conf'), LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 << 20,
  }).toString();
  const apt = new Set(
    [...out.matchAll(/^Inst (\S+) \[\S+\] \((\S+) .*\[(\S+)\]\)/gm)].map(
      (m) => `${m[1]!.replace(/:\S+$/, '')} ${m[3]} ${m[2]}`,
    ),
  );
  const ours = new Set(
    r.entries.filter((e) => e.action === 'upgrade').map((e) => `${e.package} ${e.architecture} ${e.candidateVersion}`),
  );
  return apt.size === ours.size && [...apt].every((x) => ours.has(x));
}

function same(a: Set<string>, r: OutdatedResult): boolean {
  const b = new Set(r.entries.map((e) => `${e.package} ${e.architecture} ${e.candidateVersion}`));
  return a.size === b.size && [...a].every((x) => b.has(x));
}

async function main(): Promise<void> {
  const started = performance.now();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  log(`archive: ${ARCHIVE}`);

  // 1. ingest bookworm main amd64 (63k entries) into a fresh database, three times
  const ingest: number[] = [];
  let entries = 0;
  for (let run = 0; run < 3; run++) {
    const file = join(WORK, `ingest-${run}.db`);
    const db = openDb(file);
    const t0 = performance.now();
    await ingestSuite(new SnapshotStore(db), new PackageIndexStore(db), { ...SUITES[0]! });
    ingest.push(ms(t0));
    entries = new PackageIndexStore(db).counts().entries;
    db.close();
    log(`ingest run ${run + 1}: ${ingest[run]!.toFixed(0)} ms, ${entries} entries`);
  }

  // 2. the three suites in one database; a view loaded from it
  // the services as the administrator's commands assemble them (answers computed in the process)
  const config = loadConfig({
    env: {},
    overrides: { db: join(WORK, 'aptgate.db'), cacheDir: join(WORK, 'cache'), stateDir: WORK },
  });
  const db: Db = openDb(config.db);
  const services = assemble(config, { db, dbFile: config.db, mode: 'cli' });
  const { snapshots, packageIndex: store } = services.state;
  for (const s of SUITES) await ingestSuite(snapshots, store, s);
  const loader = services.views;
  let t0 = performance.now();
  const loaded = loader.load(SPEC);
  const loadMs = ms(t0);
  const policy = new Policy(loaded.view, []);
  log(`view loaded from the database in ${loadMs.toFixed(0)} ms (${loaded.view.instanceCount()} instances)`);

  // 3. the real status, and a generated ~3,000-package profile
  const realText = readFileSync(join(ARCHIVE, 'dpkg-status.bookworm-node'), 'utf8');
  const real = parseStatus(realText);
  // a machine with ~3,000 packages: a dependency-closed random set installed as published (so the
  // relations are the archive's), one package in ten at an older version where that keeps the
  // system consistent (no chosen package names it in a versioned relation or a Breaks/Conflicts)
  const mainXz = join(distsDir(SUITES[0]!), 'main', 'binary-amd64', 'Packages.xz');
  const main = await readPackagesXz(mainXz);
  let names = new Set<string>();
  for (let picks = 200; picks < 3000; picks += 20) {
    names = new Set(generateStatus(main, picks, 7).variants.keys());
    if (names.size >= 3300) break;
  }
  // drop what depends on something the set lacks (a virtual package nobody in it provides), until
  // every Depends/Pre-Depends group has an alternative in the set: apt must see a sound system
  const byName = new Map(main.map((p) => [p['package']!, p]));
  for (let changed = true; changed;) {
    changed = false;
    const provided = new Set<string>();
    for (const n of names) for (const pr of parseRelations(byName.get(n)?.['provides'])) provided.add(pr[0]!.name);
    for (const n of [...names]) {
      const p = byName.get(n)!;
      const ok =
        ['depends', 'pre-depends'].every((f) =>
          parseRelations(p[f]).every((g) => g.some((r) => names.has(r.name) || provided.has(r.name))),
        ) &&
        ['conflicts', 'breaks'].every((f) =>
          parseRelations(p[f]).every((g) =>
            g.every(
              (r) =>
                r.name === n ||
                !names.has(r.name) ||
                !versionSatisfies(byName.get(r.name)!['version']!, r.op, r.version),
            ),
          ),
        );
      if (!ok) {
        names.delete(n);
        changed = true;
      }
    }
  }
  const mainPlain = execFileSync('xz', ['-dc', mainXz], { maxBuffer: 256 << 20 });
  const pinned = new Set<string>();
  for (const p of main) {
    if (!names.has(p['package']!)) continue;
    for (const f of ['depends', 'pre-depends', 'breaks', 'conflicts', 'recommends']) {
      for (const g of parseRelations(p[f]))
        for (const r of g) if (r.op !== undefined || f === 'breaks' || f === 'conflicts') pinned.add(r.name);
    }
  }
  let n = 0;
  const genText = statusFromPackages(mainPlain, (p) => (names.has(p['package']!) ? 'install ok installed' : undefined))
    .split('\n\n')
    .map((para) => {
      const name = /^Package: (\S+)$/m.exec(para)![1]!;
      return !pinned.has(name) && ++n % 10 === 0
        ? para.replace(/^Version: (\S+)$/m, (_m, v: string) => `Version: ${v}~old1`)
        : para;
    })
    .join('\n\n');
  const big = parseStatus(genText);
  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  for (const [name, installed, text] of [
    ['real status', real, realText],
    ['generated profile', big, genText],
  ] as const) {
    const t = timeOutdated(installed, loaded.view, policy, 300);
    const root = await aptRoot(join(WORK, name.replace(/\s/g, '-')), text);
    aptList(root); // warm the page cache
    const aptRuns = [aptList(root), aptList(root), aptList(root)];
    const aptMs = median(aptRuns.map((r) => r.ms));
    const agree = same(aptRuns[0]!.set, t.result) && sameUpgrade(root, t.result);
    log(
      `${name}: ${installed.length} entries, ${t.result.counts.outdated} outdated; aptgate ${t.warm.toFixed(2)} ms (cold ${t.cold.toFixed(2)} ms), apt ${aptMs.toFixed(0)} ms; same answer: ${agree}`,
    );
    rows.push([
      `outdated, ${name} (${installed.length} packages, ${t.result.counts.outdated} outdated, ${t.result.counts.keptBack} kept back)`,
      `${t.warm.toFixed(2)} ms`,
      `${t.cold.toFixed(2)} ms`,
      `${aptMs.toFixed(0)} ms`,
      `${(aptMs / t.warm).toFixed(0)}×`,
      agree ? 'yes' : 'NO',
      t.warm <= 2 && aptMs / t.warm >= 50 && agree ? 'PASS' : 'FAIL',
    ]);
    results[name] = { warm: t.warm, cold: t.cold, apt: aptMs, agree };
    const o = oneShot(root, 7);
    const fmt = (x: { ms: number; cpu: number }) => `${x.ms.toFixed(0)} ms (CPU ${x.cpu.toFixed(0)} ms)`;
    log(
      `${name}, one shot: aptgate ${fmt(o.aptgate)}; apt list --upgradable ${fmt(o.aptCached)} with its binary cache, ${fmt(o.aptUncached)} without; same lines: ${o.same} (${o.lines})`,
    );
    for (const [what, apt] of [
      ['with its binary cache (pkgcache.bin, as apt update leaves it)', o.aptCached],
      ['without a binary cache', o.aptUncached],
    ] as const) {
      rows.push([
        `one shot: \`aptgate outdated --status --lists --sources\`, a fresh process, ${name}, against apt list --upgradable ${what}`,
        fmt(o.aptgate),
        '',
        fmt(apt),
        `${(apt.ms / o.aptgate.ms).toFixed(2)}×`,
        o.same ? 'yes (lines)' : 'NO',
        o.aptgate.ms <= apt.ms && o.same ? 'PASS (≤ apt)' : 'FAIL (≤ apt)',
      ]);
    }
    results[`${name}, one shot`] = o;
  }

  // 4. 2,000 distinct profiles cached, then a new bookworm-security snapshot
  const profiles = services.state.profiles;
  const service = services.outdated;
  const viewId = service.defineView(SPEC);
  const ids: number[] = [];
  t0 = performance.now();
  for (let i = 0; i < 2000; i++) {
    // the real machine with three packages at other versions: 2,000 distinct sets
    const variant = real.map((p, j) =>
      (j * 7 + i) % 389 === 0 || (j * 13 + i * 3) % 977 === 0 || j === i % real.length
        ? { ...p, version: `${p.version}~b${i}` }
        : p,
    );
    ids.push(profiles.store(variant).id);
  }
  const storeMs = ms(t0);
  t0 = performance.now();
  for (const id of ids) service.get(id, viewId);
  const firstMs = ms(t0);
  log(
    `2000 profiles stored in ${storeMs.toFixed(0)} ms (${profiles.counts().records} shared package records), first outdated for all in ${firstMs.toFixed(0)} ms`,
  );

  // new bookworm-security snapshots: ten packages get a new upload (version, file, hash);
  // first ten nobody has installed, then ten every profile has
  const sec = SUITES[2]!;
  const plain = execFileSync('xz', ['-dc', join(distsDir(sec), 'main', 'binary-amd64', 'Packages.xz')], {
    maxBuffer: 256 << 20,
  }).toString();
  const installedNames = new Set(real.map((p) => p.package));
  const secNames = [...plain.matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);
  const notInstalled = secNames.filter((x) => !installedNames.has(x)).slice(0, 10);
  const installedSec = secNames.filter((x) => installedNames.has(x)).slice(0, 10);
  let generation = 0;
  for (const [label, bump] of [
    ['nobody has them installed', notInstalled],
    ['every profile has them', installedSec],
  ] as const) {
    generation++;
    const bumped = new Set(bump);
    const changed = plain
      .split('\n\n')
      .map((para) => {
        const name = /^Package: (\S+)$/m.exec(para)?.[1];
        if (!name || !bumped.has(name)) return para;
        return para
          .replace(/^Version: (\S+)$/m, (_m, v: string) => `Version: ${v}+bench${generation}`)
          .replace(/^Filename: (\S+)\.deb$/m, (_m, f: string) => `Filename: ${f}+bench${generation}.deb`)
          .replace(/^SHA256: (\S+)$/m, () => `SHA256: ${sha256(`${name}/${generation}`)}`);
      })
      .join('\n\n');
    const newFile = join(WORK, `security-Packages-${generation}`);
    writeFileSync(newFile, changed);
    await ingestSuite(snapshots, store, sec, { file: newFile, date: new Date(Date.now() + generation * 1000) });
    t0 = performance.now();
    const stats = service.refresh(sec.backend, sec.suite);
    const refreshMs = ms(t0);
    log(
      `new snapshot (${label}): refresh of 2000 cached profiles in ${refreshMs.toFixed(0)} ms: ${JSON.stringify(stats)}`,
    );
    rows.push([
      `refresh of 2,000 distinct cached profiles after a new snapshot, ten new uploads ${label} (${stats.recomputed} recomputed, ${stats.carried} carried)`,
      `${refreshMs.toFixed(0)} ms`,
      '',
      '',
      '',
      '',
      '',
    ]);
  }
  await services.stop();
  db.close();

  const head = [
    'measurement',
    'aptgate',
    'aptgate, set not prepared',
    'apt list --upgradable',
    'apt/aptgate',
    'same answer',
    'target',
  ];
  const ingestRow = [
    `ingest bookworm main amd64 (${entries} entries, xz → SQLite), median of 3`,
    `${median(ingest).toFixed(0)} ms`,
    '',
    '',
    '',
    '',
    median(ingest) <= 3000 ? 'PASS (≤ 3 s)' : 'FAIL (≤ 3 s)',
  ];
  const loadRow = [
    `view of the three suites loaded from SQLite (${loaded.view.instanceCount()} instances)`,
    `${loadMs.toFixed(0)} ms`,
    '',
    '',
    '',
    '',
    '',
  ];
  const all = [ingestRow, loadRow, ...rows];
  process.stdout.write(`\n${textTable(head, all)}\n`);
  const m = machineFacts();
  const section = [
    `## ${today()} — bench:index`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Linux ${m.kernel}`,
    `- Versions: Node ${process.version}; apt ${debVersion('apt')}; aptgate at ${commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])}`,
    `- Command: \`npm run bench:index\`; inputs: ${ARCHIVE === SHARED ? '../shared/data/debian-archive' : 'test/fixtures/debian-archive'} (bookworm main amd64, bookworm-updates amd64 + all, bookworm-security amd64, as published) and the real dpkg status of a bookworm machine; the generated profile is the test suite's generator (seed 7) grown to ≥ 3,000 entries`,
    '- One shot: `node dist/src/cli/main.js outdated --status S --lists L --sources ETC/sources.list.d --arch amd64` (human output) in a fresh process per run, against `apt list --upgradable` on the same root, with its binary cache built and with `-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=`; wall time (CPU time of the process in parentheses, 10 ms steps), medians of 7 interleaved runs after one unrecorded run of each; "same answer": every line aptgate prints, without its bracketed notes, is apt\'s line, in apt\'s order. The lists are written as apt keeps them (uncompressed).',
    '- aptgate: `outdated()` with the view already loaded (the server keeps it) and the per-set index prepared (the server keeps it per profile), median of 300 runs; "set not prepared" builds that index too, median of 50. apt: wall time of `apt list --upgradable` on the same lists and status, median of 3 after a warm-up run that also built its binary cache (pkgcache.bin), as apt runs on a machine. "same answer": identical (name, architecture, candidate version) sets for `apt list --upgradable`, and for what `apt-get -s upgrade` upgrades.',
    '',
    mdTable(head, all),
    '',
    `Whole run ${(ms(started) / 1000).toFixed(0)} s.`,
  ].join('\n');
  if (process.env.BENCH_NO_RESULTS !== '1') appendResults(section);
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
  void results;
}

await main();
