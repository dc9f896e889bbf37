// Issue 2: one upstream fetch per object, clients streaming from the fill in progress, and
// never a wrong or partial byte cached or served whole.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { FixtureUpstream } from './helpers/upstream.js';
import { request } from './helpers/http.js';
import { spawnServer, startServer, testConfig, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';
import { helloDeb } from './helpers/paths.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let world: World;
let second: FixtureUpstream;
before(async () => {
  world = await makeWorld();
  // a second mirror with the same content, for fail-over
  second = await FixtureUpstream.start(world.repo.root, { prefix: '/debian' });
});
after(async () => {
  await second.close();
  await world.close();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Fetches InRelease and Packages through the proxy so pool files have a known size and hash. */
async function prime(server: TestServer): Promise<void> {
  assert.equal((await request(server.port, '/fixture/dists/stable/InRelease')).status, 200);
  assert.equal((await request(server.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
  await server.proxy.indexer.idle();
}

async function tmpFiles(server: TestServer): Promise<string[]> {
  return readdir(path.join(server.config.cacheDir, '.tmp'));
}

test('20 concurrent requests for an uncached 5 MB object: one upstream request, 20 identical complete bodies, bytes before the fill ends', async () => {
  const server = await startServer(testConfig(path.join(world.dir, 'srv-coalesce'), { fixture: world.backend }));
  try {
    await prime(server);
    const deb = debOf(world.gen1, 'aptgate-big');
    const gate = deferred();
    world.upstream.fault(deb.filename, { kind: 'gate', until: gate.promise }, 1);
    world.upstream.resetCounts();
    const firstBytes = Array.from({ length: 20 }, () => deferred());
    const responses = firstBytes.map((fb) =>
      request(server.port, `/fixture/${deb.filename}`, { onData: () => fb.resolve() }),
    );
    // every client has bytes while upstream is still held after its first 64 KiB
    await Promise.all(firstBytes.map((f) => f.promise));
    const fill = server.proxy.fills.get(`fixture/${deb.filename}`);
    assert.ok(fill, 'the fill is still in flight');
    assert.equal(fill.status, 'streaming');
    gate.resolve();
    const all = await Promise.all(responses);
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.ok(r.complete);
      assert.equal(r.body.length, deb.size);
      assert.equal(sha256(r.body), deb.sha256);
    }
    assert.deepEqual(new Set(all.map((r) => r.headers['x-aptgate-result'])), new Set(['miss', 'coalesced']));
    assert.equal(world.upstream.hits(deb.filename), 1);
    // and the object is now a plain hit
    await fill.done;
    const again = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(again.headers['x-aptgate-result'], 'hit');
    assert.equal(world.upstream.hits(deb.filename), 1);
  } finally {
    await server.close();
  }
});

test('a client disconnecting does not cancel the fill', async () => {
  const server = await startServer(testConfig(path.join(world.dir, 'srv-disconnect'), { fixture: world.backend }));
  try {
    await prime(server);
    const deb = debOf(world.gen1, 'aptgate-big');
    const gate = deferred();
    const reached = deferred();
    world.upstream.fault(deb.filename, { kind: 'gate', until: gate.promise, reached: reached.resolve }, 1);
    world.upstream.resetCounts();
    const http = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.port, path: `/fixture/${deb.filename}`, agent: false },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => undefined);
      req.end();
    });
    const fill = server.proxy.fills.get(`fixture/${deb.filename}`)!;
    gate.resolve();
    assert.equal(await fill.done, true);
    const r = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(r.headers['x-aptgate-result'], 'hit');
    assert.equal(sha256(r.body), deb.sha256);
    assert.equal(world.upstream.hits(deb.filename), 1);
  } finally {
    await server.close();
  }
});

test('wrong bytes in a small object: 502 before the first byte, nothing cached, the next request uses the next mirror', async () => {
  const backend = { mirrors: [world.upstream.base, second.base], keyring: world.key.keyring };
  const server = await startServer(testConfig(path.join(world.dir, 'srv-small'), { fixture: backend }));
  try {
    await prime(server);
    const deb = debOf(world.gen1, 'hello');
    world.upstream.fault(deb.filename, { kind: 'wrong-bytes' }, 1);
    world.upstream.resetCounts();
    second.resetCounts();
    const bad = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(bad.status, 502);
    assert.equal(bad.headers['x-aptgate-error'], 'INTEGRITY');
    assert.equal(existsSync(path.join(server.config.cacheDir, 'fixture', deb.filename)), false);
    const good = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(good.status, 200);
    assert.equal(sha256(good.body), deb.sha256);
    assert.equal(world.upstream.hits(deb.filename), 1);
    assert.equal(second.hits(deb.filename), 1);
    assert.match(
      await (await fetch(`${server.url}/-/metrics`)).text(),
      /aptgate_upstream_errors_total\{backend="fixture",mirror="[^"]+"\} 1/,
    );
  } finally {
    await server.close();
  }
});

test('wrong bytes at the end of a streamed object: the transfer is aborted, nothing cached, the next request is good', async () => {
  const server = await startServer(testConfig(path.join(world.dir, 'srv-large'), { fixture: world.backend }));
  try {
    await prime(server);
    const deb = debOf(world.gen1, 'aptgate-big');
    world.upstream.fault(deb.filename, { kind: 'wrong-bytes' }, 1);
    const bad = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(bad.status, 200);
    assert.equal(bad.headers['content-length'], String(deb.size));
    assert.equal(bad.complete, false);
    assert.ok(bad.body.length < deb.size, 'the client never holds the whole wrong file');
    assert.equal(existsSync(path.join(server.config.cacheDir, 'fixture', deb.filename)), false);
    assert.deepEqual(await tmpFiles(server), []);
    const good = await request(server.port, `/fixture/${deb.filename}`);
    assert.ok(good.complete);
    assert.equal(sha256(good.body), deb.sha256);
  } finally {
    await server.close();
  }
});

test('a size that contradicts the indexes is a 502 before the first byte', async () => {
  const server = await startServer(testConfig(path.join(world.dir, 'srv-length'), { fixture: world.backend }));
  try {
    await prime(server);
    const deb = debOf(world.gen1, 'aptgate-big');
    world.upstream.fault(deb.filename, { kind: 'wrong-length', delta: 10 }, 1);
    const bad = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(bad.status, 502);
    assert.equal(bad.headers['x-aptgate-error'], 'INTEGRITY');
    assert.equal(existsSync(path.join(server.config.cacheDir, 'fixture', deb.filename)), false);
  } finally {
    await server.close();
  }
});

test('a truncated upstream body leaves no cached file, also for files no index names', async () => {
  const server = await startServer(testConfig(path.join(world.dir, 'srv-trunc'), { fixture: world.backend }));
  try {
    await prime(server);
    const deb = debOf(world.gen1, 'aptgate-big');
    world.upstream.fault(deb.filename, { kind: 'reset', afterBytes: 1024 * 1024 }, 1);
    const cut = await request(server.port, `/fixture/${deb.filename}`);
    assert.equal(cut.complete, false);
    assert.equal(existsSync(path.join(server.config.cacheDir, 'fixture', deb.filename)), false);

    // a pool file that no Packages lists: nothing vouches for it, so it is streamed through
    // and never stored (issue 13), cut or whole
    const orphan = 'pool/main/o/orphan/orphan_1.0_amd64.deb';
    await mkdir(path.dirname(world.repo.path(orphan)), { recursive: true });
    await copyFile(helloDeb, world.repo.path(orphan));
    world.upstream.fault(orphan, { kind: 'reset', afterBytes: 20_000 }, 1);
    const cut2 = await request(server.port, `/fixture/${orphan}`);
    assert.equal(cut2.status, 200);
    assert.equal(cut2.complete, false);
    assert.equal(existsSync(path.join(server.config.cacheDir, 'fixture', orphan)), false);
    const whole = await request(server.port, `/fixture/${orphan}`);
    assert.ok(whole.complete);
    assert.equal(whole.headers['x-aptgate-result'], 'pass-unverified');
    assert.equal(existsSync(path.join(server.config.cacheDir, 'fixture', orphan)), false);
    assert.deepEqual(await tmpFiles(server), []);
  } finally {
    await server.close();
  }
});

test('a server killed during a fill never serves the partial file later', async () => {
  const dir = path.join(world.dir, 'srv-kill');
  const args = [
    '--state-dir',
    dir,
    '--backend',
    `fixture=${world.upstream.base}`,
    '--keyring',
    `fixture=${world.key.keyring}`,
  ];
  const deb = debOf(world.gen1, 'aptgate-big');
  const gate = deferred();
  world.upstream.fault(deb.filename, { kind: 'gate', until: gate.promise }, 1);
  world.upstream.resetCounts();
  const first = await spawnServer(args);
  try {
    // the index first: only files a signed index names are filled (issue 13)
    assert.equal((await request(first.port, '/fixture/dists/stable/InRelease')).status, 200);
    assert.equal((await request(first.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
    const got = deferred();
    const pending = request(first.port, `/fixture/${deb.filename}`, { onData: () => got.resolve() });
    await got.promise;
    await first.kill();
    const cut = await pending;
    assert.equal(cut.complete, false);
    assert.equal(existsSync(path.join(dir, 'cache', 'fixture', deb.filename)), false);
    assert.equal((await readdir(path.join(dir, 'cache', '.tmp'))).length, 1, 'the partial file is only in .tmp');
  } finally {
    gate.resolve();
    await first.kill();
  }
  const second2 = await spawnServer(args);
  try {
    assert.deepEqual(await readdir(path.join(dir, 'cache', '.tmp')), []);
    const r = await request(second2.port, `/fixture/${deb.filename}`);
    assert.ok(r.complete);
    assert.equal(r.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(r.body), deb.sha256);
    assert.equal(world.upstream.hits(deb.filename), 2);
  } finally {
    assert.equal(await second2.stop(), 0);
  }
});
