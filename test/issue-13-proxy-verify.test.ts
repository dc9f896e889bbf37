// Issue 13: `aptgate cache verify [--fix] [--json]` re-checks every cached file against the
// signed indexes while a server serves from the same cache and database: a file corrupted on
// disk is reported (exit status 3), --fix evicts it and the next request refetches good bytes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, open, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { request } from './helpers/http.js';
import { helloDeb, projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';
import type { VerifyResult } from '../src/proxy/verify.js';

const run = promisify(execFile);
const cli = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let world: World;
let server: TestServer;

before(async () => {
  world = await makeWorld();
  server = await startServer(testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }));
  for (const p of ['dists/stable/InRelease', 'dists/stable/main/binary-amd64/Packages.xz']) {
    assert.equal((await request(server.port, `/fixture/${p}`)).status, 200);
  }
  await server.proxy.indexer.idle();
  for (const name of ['aptgate-demo', 'aptgate-big', 'hello']) {
    assert.equal((await request(server.port, `/fixture/${debOf(world.gen1, name).filename}`)).status, 200);
  }
  await server.proxy.fills.drain();
});
after(async () => {
  await server.close();
  await world.close();
});

/** Runs the real CLI in its own process; resolves with its exit status and output. */
async function verify(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [
      cli,
      'cache',
      'verify',
      ...args,
      '--cache-dir',
      server.config.cacheDir,
      '--db',
      server.config.db,
    ]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const cached = (rel: string) => path.join(server.config.cacheDir, 'fixture', rel);

test('a clean cache verifies: exit 0, every file ok', async () => {
  const r = await verify('--json');
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout) as VerifyResult;
  assert.equal(v.mismatched.length + v.unvouched.length, 0);
  assert.equal(v.ok, v.checked);
  assert.ok(v.checked >= 4, `checked ${v.checked}`);
});

test('files corrupted on disk while the server serves are reported (exit 3), --fix evicts them, the next request refetches good bytes', async () => {
  const big = debOf(world.gen1, 'aptgate-big');
  const demo = debOf(world.gen1, 'aptgate-demo');
  // the big file: one byte changed in place (same size); the small one: cut short
  const fh = await open(cached(big.filename), 'r+');
  try {
    await fh.write(Buffer.from([0x5a]), 0, 1, 1_000_000);
  } finally {
    await fh.close();
  }
  await truncate(cached(demo.filename), demo.size - 10);
  // a file no index vouches for, as an older version cached it
  const stray = 'pool/main/s/stray/stray_1.0_amd64.deb';
  await mkdir(path.dirname(cached(stray)), { recursive: true });
  await copyFile(helloDeb, cached(stray));

  // the server serves the corrupted file as a hit: it does not re-hash on every request
  assert.equal((await request(server.port, `/fixture/${big.filename}`)).headers['x-aptgate-result'], 'hit');

  // verify runs in its own process while the server keeps answering
  const [report, during] = await Promise.all([
    verify('--json'),
    request(server.port, `/fixture/${debOf(world.gen1, 'hello').filename}`),
  ]);
  assert.equal(during.status, 200);
  assert.equal(report.code, 3, report.stderr);
  const v = JSON.parse(report.stdout) as VerifyResult;
  const byKey = new Map(v.mismatched.map((p) => [p.key, p]));
  assert.equal(byKey.get(`fixture/${big.filename}`)?.reason, 'sha256');
  assert.equal(byKey.get(`fixture/${big.filename}`)?.expected?.[0]?.sha256, big.sha256);
  assert.equal(byKey.get(`fixture/${demo.filename}`)?.reason, 'size');
  assert.deepEqual(
    v.unvouched.map((p) => p.key),
    [`fixture/${stray}`],
  );
  assert.equal(v.evicted, 0);
  assert.ok(existsSync(cached(big.filename)), 'without --fix nothing is removed');
  const human = await verify();
  assert.equal(human.code, 3);
  assert.match(human.stdout, /^mismatch +fixture\/pool\/.*aptgate-big/m);
  assert.match(human.stdout, /^unvouched +fixture\/pool\/main\/s\/stray/m);

  const fixed = await verify('--fix', '--json');
  assert.equal(fixed.code, 0, fixed.stderr);
  const f = JSON.parse(fixed.stdout) as VerifyResult;
  assert.equal(f.evicted, 3);
  assert.ok([...f.mismatched, ...f.unvouched].every((p) => p.evicted));
  for (const rel of [big.filename, demo.filename, stray]) assert.equal(existsSync(cached(rel)), false, rel);
  assert.ok(existsSync(cached(debOf(world.gen1, 'hello').filename)), 'good files stay');

  for (const d of [big, demo]) {
    const again = await request(server.port, `/fixture/${d.filename}`);
    assert.equal(again.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(again.body), d.sha256);
  }
  await server.proxy.fills.drain();
  const clean = await verify('--json');
  assert.equal(clean.code, 0);
  assert.equal((JSON.parse(clean.stdout) as VerifyResult).mismatched.length, 0);
});

test('a directory page stored as a file by an older version is unvouched and evicted', async () => {
  // (what issue 13's defect 6 left behind: pool/main/m holding an HTML listing)
  const page = cached('pool/main/m');
  await writeFile(page, '<html><head><title>Index of /debian/pool/main/m/</title></head></html>\n');
  const r = JSON.parse((await verify('--fix', '--json')).stdout) as VerifyResult;
  assert.deepEqual(
    r.unvouched.map((p) => [p.key, p.evicted]),
    [['fixture/pool/main/m', true]],
  );
  assert.equal(existsSync(page), false);
});
