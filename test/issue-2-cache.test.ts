// Issue 2: `aptgate cache stats` and `aptgate cache clean`: unreferenced files go after the
// grace period, referenced ones never (odd file names included), a size budget evicts
// unreferenced files first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { request } from './helpers/http.js';
import { projectRoot, helloDeb } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { debOf, demo2, big, odd, makeWorld, type World } from './helpers/world.js';
import { openDb } from '../src/state/db.js';
import { PackageIndexStore } from '../src/state/package-index.js';
import { SnapshotStore } from '../src/state/snapshots.js';
import type { CleanResult, CacheStats } from '../src/proxy/housekeeping.js';

const run = promisify(execFile);
const cli = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

let world: World;
let dir: string;
let cacheDir: string;
let dbFile: string;
const orphan = 'pool/main/o/orphan/orphan_1.0_amd64.deb';
const percent = 'pool/main/p/pct/pct%41name_1:1.0~a+b_all.deb';
let oldByHash: string;

async function aptgate(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(process.execPath, [cli, ...args, '--cache-dir', cacheDir, '--db', dbFile], {
    env: { ...process.env, ...env },
  });
  return r.stdout;
}

before(async () => {
  world = await makeWorld();
  dir = path.join(world.dir, 'srv');
  const server: TestServer = await startServer(
    testConfig(dir, { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
    }),
  );
  cacheDir = server.config.cacheDir;
  dbFile = server.config.db;
  try {
    const fetch = async (p: string) => assert.equal((await request(server.port, `/fixture/${p}`)).status, 200, p);
    await fetch('dists/stable/InRelease');
    await fetch('dists/stable/main/binary-amd64/Packages.xz');
    await server.proxy.indexer.idle();
    oldByHash = `fixture/dists/stable/main/binary-amd64/by-hash/SHA256/${world.gen1.files.get('main/binary-amd64/Packages.xz')!.sha256}`;
    for (const name of ['aptgate-demo', 'aptgate-big', 'aptgate-odd+name'])
      await fetch(debOf(world.gen1, name).filename);
    // a new generation: the old Packages object is no longer referenced, demo 1.0 neither
    await world.repo.publish('stable', [demo2, big, odd]);
    await fetch('dists/stable/InRelease');
    await fetch('dists/stable/main/binary-amd64/Packages.xz');
    await server.proxy.indexer.idle();
    await server.proxy.fills.drain();
  } finally {
    await server.close();
  }
  // a referenced pool file whose name carries %, :, ~ and + (named by the current index)
  const db = openDb(dbFile);
  try {
    const snap = new SnapshotStore(db).latest('fixture', 'stable', 'inrelease')!;
    const idx = new PackageIndexStore(db);
    const id = idx.beginFile('fixture', 'pending:percent');
    idx.insertBatch(id, 'fixture', [
      {
        package: 'pct',
        version: '1:1.0~a+b',
        architecture: 'all',
        source: 'pct',
        sourceVersion: '1:1.0~a+b',
        filename: percent,
        size: 4,
        sha256: 'a'.repeat(64),
        multiArch: undefined,
        depends: undefined,
        preDepends: undefined,
        recommends: undefined,
        breaks: undefined,
        conflicts: undefined,
        provides: undefined,
        phasedUpdatePercentage: undefined,
        aptHash: 0,
      },
    ]);
    idx.finishFile(id, 'fixture', 'b'.repeat(64), 1);
    idx.link(snap.id, 'extra', 'amd64', id);
  } finally {
    db.close();
  }
  // a pool file no index names, as an older aptgate cached it unverified (issue 13: never now)
  await mkdir(path.join(cacheDir, 'fixture', path.dirname(orphan)), { recursive: true });
  await copyFile(helloDeb, path.join(cacheDir, 'fixture', orphan));
  await mkdir(path.join(cacheDir, 'fixture', path.dirname(percent)), { recursive: true });
  await writeFile(path.join(cacheDir, 'fixture', percent), 'data');
});
after(async () => {
  await world.close();
});

test('cache stats reports files, bytes, snapshots and the package index', async () => {
  const s = JSON.parse(await aptgate(['cache', 'stats', '--json'])) as CacheStats;
  assert.equal(s.backends['fixture']!.pool, 5);
  assert.ok(s.bytes > 5 * 1024 * 1024);
  assert.equal(s.snapshots, 1);
  assert.ok(s.packageIndex.indexFiles >= 2);
  assert.match(await aptgate(['cache', 'stats']), /fixture: \d+ files \(5 pool, 2 index\)/);
});

test('cache clean: nothing inside the grace period; after it, only unreferenced files, never a referenced one', async () => {
  const none = JSON.parse(await aptgate(['cache', 'clean', '--dry-run', '--json'])) as CleanResult;
  assert.deepEqual(none.removed, []);

  const dry = JSON.parse(
    await aptgate(['cache', 'clean', '--dry-run', '--json'], { APTGATE_CACHE_CLEAN_GRACE: '0s' }),
  ) as CleanResult;
  const demo1 = `fixture/${debOf(world.gen1, 'aptgate-demo').filename}`;
  assert.deepEqual(dry.removed.map((r) => r.key).sort(), [`fixture/${orphan}`, demo1, oldByHash].sort());
  assert.ok(existsSync(path.join(cacheDir, orphan.replace(/^/, 'fixture/'))), 'dry run removes nothing');

  const done = JSON.parse(
    await aptgate(['cache', 'clean', '--json'], { APTGATE_CACHE_CLEAN_GRACE: '0s' }),
  ) as CleanResult;
  assert.equal(done.removed.length, 3);
  for (const r of done.removed) assert.equal(existsSync(path.join(cacheDir, r.key)), false);
  for (const kept of [
    `fixture/${debOf(world.gen1, 'aptgate-odd+name').filename}`,
    `fixture/${debOf(world.gen1, 'aptgate-big').filename}`,
    `fixture/${percent}`,
  ]) {
    assert.ok(existsSync(path.join(cacheDir, kept)), kept);
  }
  assert.match(debOf(world.gen1, 'aptgate-odd+name').filename, /\+.*~/);
});

test('a size budget evicts unreferenced files first, then the least recently used', async () => {
  // (runs after the clean above) one more unreferenced file, just used: the budget must take
  // it before any referenced file, however recently those were used
  await copyFile(helloDeb, path.join(cacheDir, 'fixture', 'pool', 'main', 'extra.deb'));
  const stats = JSON.parse(await aptgate(['cache', 'stats', '--json'])) as CacheStats;
  const budget = stats.bytes - 1;
  const r = JSON.parse(
    await aptgate(['cache', 'clean', '--dry-run', '--json'], { APTGATE_CACHE_MAX_SIZE: String(budget) }),
  ) as CleanResult;
  assert.deepEqual(
    r.removed.map((x) => [x.key, x.reason]),
    [['fixture/pool/main/extra.deb', 'budget']],
  );
  const tight = JSON.parse(
    await aptgate(['cache', 'clean', '--dry-run', '--json'], { APTGATE_CACHE_MAX_SIZE: String(1024 * 1024) }),
  ) as CleanResult;
  assert.equal(tight.removed[0]!.key, 'fixture/pool/main/extra.deb');
  assert.ok(tight.keptBytes <= 1024 * 1024);
});
