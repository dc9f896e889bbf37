// Issue 14 (moving from apt-cacher-ng): `aptgate cache import DIR` takes an apt-cacher-ng cache
// laid out as Debian's package keeps it (repository and host directories, a .head beside each
// file, acng's own _xstore and _expending_dat), keeps only what verifies against the signed
// indexes and reports the rest with a reason; a tampered .deb (same size, other bytes) and a
// root signed by an unknown key make it exit 3. The server then serves the imported files as
// hits, apt downloads through it, and an older imported root never replaces a newer snapshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { byHashRel } from '../src/index/release.js';
import type { ImportResult } from '../src/proxy/import-acng.js';
import type { VerifyResult } from '../src/proxy/verify.js';
import { aptEnv, downloadedDebs, runAptOk } from './helpers/apt.js';
import { request } from './helpers/http.js';
import { helloDeb, projectRoot } from './helpers/paths.js';
import type { Published } from './helpers/repo.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { debOf, demo2, makeWorld, odd, type World } from './helpers/world.js';

const run = promisify(execFile);
const cli = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

let world: World;
let server: TestServer;
let acng: string;
let rogue: Published;

/** What apt-cacher-ng writes beside a file: the upstream answer's status line and headers. */
function head(size: number, lastModified: Date, source: string): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nLast-Modified: ${lastModified.toUTCString()}\r\nX-Original-Source: ${source}\r\nDate: ${new Date().toUTCString()}\r\n\r\n`;
}

/** Puts a file into the acng cache, with its .head unless `withHead` is false. */
async function put(
  rel: string,
  data: Buffer,
  opts: { withHead?: boolean; contentLength?: number } = {},
): Promise<void> {
  const file = path.join(acng, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, data);
  const tail = rel.split('/').slice(1).join('/');
  if (opts.withHead !== false)
    await writeFile(
      `${file}.head`,
      head(opts.contentLength ?? data.length, world.gen1.date, `http://deb.debian.org/debian/${tail}`),
    );
}

const repoFile = (rel: string) => readFile(world.repo.path(rel));

before(async () => {
  world = await makeWorld();
  // a second suite of the same archive, signed by a key aptgate does not trust
  rogue = await world.repo.publish('rogue', [demo2], { signWith: await world.rogue() });
  // (every InRelease request checks upstream: the rollback test publishes a newer one)
  server = await startServer(
    testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
    }),
  );
  acng = path.join(world.dir, 'apt-cacher-ng');

  // debrep: acng's Debian repository (Remap-debrep), as apt left it through the proxy
  for (const f of [
    'InRelease',
    'Release',
    'Release.gpg',
    'main/binary-amd64/Packages.xz',
    'main/binary-amd64/Release',
  ]) {
    await put(`debrep/dists/stable/${f}`, await repoFile(`dists/stable/${f}`));
  }
  // apt asks by hash when the Release says Acquire-By-Hash: acng keeps that path
  const gz = world.gen1.files.get('main/binary-amd64/Packages.gz')!;
  await put(
    `debrep/dists/stable/${byHashRel('main/binary-amd64/Packages.gz', gz.sha256)}`,
    await repoFile('dists/stable/main/binary-amd64/Packages.gz'),
  );
  const hello = debOf(world.gen1, 'hello');
  await put(`debrep/${hello.filename}`, await repoFile(hello.filename));
  // tampered: same size, other bytes
  const demo = debOf(world.gen1, 'aptgate-demo');
  const bad = await repoFile(demo.filename);
  bad[bad.length - 100] ^= 0xff;
  await put(`debrep/${demo.filename}`, bad);
  // an unfinished download: the first MiB, the .head saying the whole size
  const big = debOf(world.gen1, 'aptgate-big');
  await put(`debrep/${big.filename}`, (await repoFile(big.filename)).subarray(0, MiB), { contentLength: big.size });
  // no index names it
  await put('debrep/pool/main/s/stray/stray_1.0_amd64.deb', await readFile(helloDeb));
  // headers of a download whose file is gone; a file without a .head
  await mkdir(path.join(acng, 'debrep/pool/main/g/ghost'), { recursive: true });
  await writeFile(
    path.join(acng, 'debrep/pool/main/g/ghost/ghost_1.0_amd64.deb.head'),
    head(1234, world.gen1.date, 'http://deb.debian.org/debian/pool/main/g/ghost/ghost_1.0_amd64.deb'),
  );
  await put('debrep/README', Buffer.from('the Debian archive\n'), { withHead: false });
  // signed by a key not in the backend's keyring, and an index only that root names
  await put('debrep/dists/rogue/InRelease', rogue.inRelease);
  await put(
    'debrep/dists/rogue/main/binary-amd64/Packages.xz',
    await repoFile('dists/rogue/main/binary-amd64/Packages.xz'),
  );
  // a host directory (a URL no remap rule covered): the mirror's host, without its port
  const o = debOf(world.gen1, odd.name);
  await put(`127.0.0.1/debian/${o.filename}`, await repoFile(o.filename));
  // the same files in two directories (a client that went around the remap): taken once, from
  // the first directory walked (127.0.0.1 sorts before debrep), present for the other
  await put('127.0.0.1/debian/dists/stable/InRelease', await repoFile('dists/stable/InRelease'));
  await put(`127.0.0.1/debian/${hello.filename}`, await repoFile(hello.filename));
  // a repository no backend serves, and acng's own bookkeeping
  await put('uburep/dists/jammy/InRelease', Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\n'));
  await put('_xstore/rsnap/debrep', Buffer.from('x'), { withHead: false });
  await writeFile(path.join(acng, '_expending_dat'), 'debrep/pool/main/o/old.deb\n');
});
after(async () => {
  await server.close();
  await world.close();
});

async function cliRun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const common = [
    '--cache-dir',
    server.config.cacheDir,
    '--db',
    server.config.db,
    '--backend',
    `fixture=${world.upstream.base}`,
    '--keyring',
    `fixture=${world.key.keyring}`,
  ];
  try {
    const r = await run(process.execPath, [cli, ...args, ...common], { maxBuffer: 64 * MiB });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const importAcng = async (...args: string[]) => {
  const r = await cliRun('cache', 'import', acng, '--map', 'debrep=fixture', '--json', ...args);
  assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}: ${r.stderr}`);
  return { code: r.code, result: JSON.parse(r.stdout) as ImportResult };
};

const cached = (key: string) => path.join(server.config.cacheDir, key);

function expectedTaken(): Map<string, string> {
  const index = (name: string) =>
    `fixture/dists/stable/${byHashRel(`main/binary-amd64/${name}`, world.gen1.files.get(`main/binary-amd64/${name}`)!.sha256)}`;
  const gzKey = index('Packages.gz');
  return new Map([
    ['127.0.0.1/debian/dists/stable/InRelease', 'fixture/dists/stable/InRelease'],
    ['debrep/dists/stable/Release', 'fixture/dists/stable/Release'],
    ['debrep/dists/stable/Release.gpg', 'fixture/dists/stable/Release.gpg'],
    ['debrep/dists/stable/main/binary-amd64/Packages.xz', index('Packages.xz')],
    ['debrep/dists/stable/main/binary-amd64/Release', index('Release')],
    [`debrep/${gzKey.slice('fixture/'.length)}`, gzKey],
    [`127.0.0.1/debian/${debOf(world.gen1, 'hello').filename}`, `fixture/${debOf(world.gen1, 'hello').filename}`],
    [`127.0.0.1/debian/${debOf(world.gen1, odd.name).filename}`, `fixture/${debOf(world.gen1, odd.name).filename}`],
  ]);
}

function expectedRefused(): Map<string, string> {
  return new Map([
    [`debrep/${debOf(world.gen1, 'aptgate-demo').filename}`, 'mismatch'],
    ['debrep/dists/rogue/InRelease', 'signature'],
    [`debrep/${debOf(world.gen1, 'aptgate-big').filename}`, 'partial'],
    ['debrep/pool/main/s/stray/stray_1.0_amd64.deb', 'unvouched'],
    ['debrep/pool/main/g/ghost/ghost_1.0_amd64.deb.head', 'head-only'],
    ['debrep/README', 'not-cached'],
    ['debrep/dists/rogue/main/binary-amd64/Packages.xz', 'unvouched'],
    ['uburep', 'no-backend'],
    ['_xstore', 'acng-internal'],
    ['_expending_dat', 'acng-internal'],
  ]);
}

test('a directory that is not there, or a --map to no backend, is a usage error that changes nothing', async () => {
  const missing = await cliRun('cache', 'import', path.join(world.dir, 'no-such-dir'));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /USAGE: .*no-such-dir is not a directory/);
  const unknown = await cliRun('cache', 'import', acng, '--map', 'debrep=nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /USAGE: --map debrep=nope: no backend "nope"/);
  assert.equal(server.proxy.snapshots.currentAll().length, 0);
});

test('--dry-run reports what would be taken and refused, and changes nothing', async () => {
  const { code, result } = await importAcng('--dry-run');
  assert.equal(code, 3, 'a tampered file and a root no configured key signed: exit 3');
  assert.equal(result.dryRun, true);
  assert.deepEqual(new Map(result.taken.map((t) => [t.path, t.key])), expectedTaken());
  assert.deepEqual(new Map(result.refused.map((x) => [x.path, x.reason])), expectedRefused());
  assert.equal(result.problems, 2);
  assert.deepEqual(result.present.map((p) => p.path).sort(), [
    'debrep/dists/stable/InRelease',
    `debrep/${debOf(world.gen1, 'hello').filename}`,
  ]);
  for (const key of expectedTaken().values()) assert.equal(existsSync(cached(key)), false, key);
  assert.equal(server.proxy.snapshots.currentAll().length, 0, 'no snapshot recorded');
  assert.deepEqual(await readdir(path.join(server.config.cacheDir, '.tmp')), [], 'no temporary file left');
});

test('import takes only verified files, refuses the rest with reasons, and records them as fills would (the server running)', async () => {
  const { code, result } = await importAcng();
  assert.equal(code, 3);
  assert.deepEqual(new Map(result.taken.map((t) => [t.path, t.key])), expectedTaken());
  assert.deepEqual(new Map(result.refused.map((x) => [x.path, x.reason])), expectedRefused());
  assert.deepEqual(result.byKind.pool.files, 2);
  assert.deepEqual(result.present.map((p) => p.path).sort(), [
    'debrep/dists/stable/InRelease',
    `debrep/${debOf(world.gen1, 'hello').filename}`,
  ]);
  assert.equal(result.refused.find((x) => x.path === 'uburep')?.files, 1);

  // the verified bytes are in the cache, the tampered and partial ones are not
  for (const name of ['hello', odd.name]) {
    const d = debOf(world.gen1, name);
    assert.equal(sha256(await readFile(cached(`fixture/${d.filename}`))), d.sha256, name);
  }
  for (const name of ['aptgate-demo', 'aptgate-big'])
    assert.equal(existsSync(cached(`fixture/${debOf(world.gen1, name).filename}`)), false, name);
  assert.equal(existsSync(cached('fixture/pool/main/s/stray/stray_1.0_amd64.deb')), false);
  assert.deepEqual(await readdir(path.join(server.config.cacheDir, '.tmp')), []);
  // the acng directory is only read
  assert.ok(existsSync(path.join(acng, 'debrep', debOf(world.gen1, 'aptgate-demo').filename)));

  // snapshots of both root forms, the Packages in the package index linked to them
  const snap = server.proxy.snapshots.latest('fixture', 'stable', 'inrelease');
  assert.equal(snap?.sha256, sha256(world.gen1.inRelease));
  assert.equal(server.proxy.snapshots.latest('fixture', 'stable', 'release')?.sha256, sha256(world.gen1.release));
  assert.equal(server.proxy.snapshots.latest('fixture', 'rogue', 'inrelease'), undefined);
  assert.ok(server.proxy.packageIndex.isLinked(snap!.id, 'main', 'amd64'));
  const hello = debOf(world.gen1, 'hello');
  assert.deepEqual(server.proxy.packageIndex.lookupFile('fixture', hello.filename), {
    size: hello.size,
    sha256: hello.sha256,
  });

  // cache verify agrees: every imported file is vouched for
  const v = await cliRun('cache', 'verify', '--json');
  assert.equal(v.code, 0, v.stdout);
  const verified = JSON.parse(v.stdout) as VerifyResult;
  assert.equal(verified.ok, verified.checked);
  assert.ok(verified.checked >= 5);

  // again, in human form: everything is there already; the problems are listed first
  const human = await cliRun('cache', 'import', acng, '--map', 'debrep=fixture');
  assert.equal(human.code, 3);
  assert.match(human.stdout, /^took 0 files/m);
  assert.match(human.stdout, /^already in the cache: 10 files$/m);
  const lines = human.stdout.split('\n').filter((l) => l.startsWith('  '));
  assert.deepEqual(
    lines
      .slice(0, 2)
      .map((l) => l.trim().split(/\s+/)[0])
      .sort(),
    ['mismatch', 'signature'],
  );
  assert.match(human.stdout, /^ {2}no-backend +uburep \(1 files, .*\): no backend for "uburep"/m);
});

test('the server serves the imported files as hits, without asking upstream, and apt downloads from it', async () => {
  world.upstream.resetCounts();
  const hello = debOf(world.gen1, 'hello');
  const direct = await request(server.port, `/fixture/${hello.filename}`);
  assert.equal(direct.headers['x-aptgate-result'], 'hit');
  assert.equal(sha256(direct.body), hello.sha256);

  const apt = await aptEnv(path.join(world.dir, 'apt'), {
    sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
    proxy: 'DIRECT',
    config: { 'Acquire::Retries': '0' },
  });
  await runAptOk(['update', '--error-on=any'], { apt });
  await runAptOk(['install', '--download-only', odd.name], { apt });
  // hello depends on libc6, which this repository does not carry: download it alone
  await runAptOk(['download', 'hello'], { apt, cwd: apt.archivesDir });
  const files = await downloadedDebs(apt);
  const got = await Promise.all(files.map(async (f) => sha256(await readFile(path.join(apt.archivesDir, f)))));
  assert.deepEqual(got.sort(), [debOf(world.gen1, odd.name).sha256, hello.sha256].sort());
  // upstream saw at most the conditional check of the signed root: no index, no pool file
  const asked = world.upstream
    .requests()
    .map((r) => r.path)
    .filter((p) => p !== 'dists/stable/InRelease');
  assert.deepEqual(asked, []);
});

test("a root older than the suite's newest snapshot is refused as a rollback; the newer snapshot stays", async () => {
  const gen2 = await world.repo.publish('stable', [demo2], { extraDebs: [helloDeb] });
  assert.equal((await request(server.port, '/fixture/dists/stable/InRelease')).status, 200);
  assert.equal(server.proxy.snapshots.newest('fixture', 'stable')?.sha256, sha256(gen2.inRelease));

  const { result } = await importAcng();
  const reasons = new Map(result.refused.map((x) => [x.path, x.reason]));
  for (const f of [
    'debrep/dists/stable/InRelease',
    'debrep/dists/stable/Release',
    'debrep/dists/stable/Release.gpg',
    '127.0.0.1/debian/dists/stable/InRelease',
  ]) {
    assert.equal(reasons.get(f), 'rollback', f);
  }
  assert.equal(result.byKind.root.files, 0);
  assert.equal(server.proxy.snapshots.newest('fixture', 'stable')?.sha256, sha256(gen2.inRelease));
  // a pool file gen1 and gen2 share stays vouched for (and is in the cache already)
  assert.ok(result.present.some((p) => p.key === `fixture/${debOf(gen2, 'hello').filename}`));
});
