// Issue 13 (proxy storage integrity): a hostile or broken mirror over real HTTP. A pool file
// is stored only once verified against a signed index (otherwise streamed through uncached,
// `pass-unverified`); an interrupted index ingest is redone at start; a cut body without a
// length is never stored; a directory page never becomes a file (and such a file heals);
// redirects are followed only to the backend's own hosts; an upstream timeout is a 504.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { request } from './helpers/http.js';
import { flipLast, HostileUpstream, rawClose, redirect } from './helpers/hostile.js';
import { startServer, testConfig, type BackendSpec, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';
import { openDb } from '../src/state/db.js';
import type { Config } from '../src/config.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let world: World;
let hostile: HostileUpstream;
let backend: BackendSpec;
let n = 0;

before(async () => {
  world = await makeWorld();
  hostile = await HostileUpstream.start(world.repo.root);
  backend = { mirrors: [hostile.base], keyring: world.key.keyring };
});
afterEach(() => {
  hostile.clear();
  hostile.resetCounts();
});
after(async () => {
  await hostile.close();
  await world.close();
});

function server(tweak?: (c: Config) => void, b: BackendSpec = backend): Promise<TestServer> {
  return startServer(testConfig(path.join(world.dir, `srv-${++n}`), { fixture: b }, tweak));
}

/** InRelease and Packages through the proxy, and the index ingested. */
async function prime(s: TestServer): Promise<void> {
  assert.equal((await request(s.port, '/fixture/dists/stable/InRelease')).status, 200);
  assert.equal((await request(s.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
  await s.proxy.indexer.idle();
}

const cached = (s: TestServer, rel: string) => path.join(s.config.cacheDir, 'fixture', rel);

/** Upstream answers this file with its last byte flipped (same length). */
function wrongBytes(rel: string, times = 1): void {
  hostile.on(
    rel,
    async ({ res, file }) => {
      const bad = flipLast(await file());
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': bad.length });
      res.end(bad);
    },
    times,
  );
}

test('fresh server: a pool file asked for before any index is streamed through uncached (pass-unverified); once the index is known wrong bytes are refused', async () => {
  const s = await server();
  try {
    const deb = debOf(world.gen1, 'aptgate-demo');
    wrongBytes(deb.filename);
    const first = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-aptgate-result'], 'pass-unverified');
    assert.equal(existsSync(cached(s, deb.filename)), false, 'an unverified body is never stored');
    await s.proxy.fills.drain();
    assert.equal(existsSync(cached(s, deb.filename)), false);

    await prime(s);
    wrongBytes(deb.filename);
    const bad = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(bad.status, 502);
    assert.equal(bad.headers['x-aptgate-error'], 'INTEGRITY');
    const good = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(good.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(good.body), deb.sha256);
    await s.proxy.fills.drain();
    const hit = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(hit.headers['x-aptgate-result'], 'hit');
    assert.equal(sha256(hit.body), deb.sha256);
  } finally {
    await s.close();
  }
});

test('a known suite whose Packages no client fetched: the pool request fetches and ingests the index first, then verifies', async () => {
  const s = await server();
  try {
    assert.equal((await request(s.port, '/fixture/dists/stable/InRelease')).status, 200);
    const deb = debOf(world.gen1, 'aptgate-demo');
    wrongBytes(deb.filename);
    const bad = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(bad.status, 502);
    assert.equal(bad.headers['x-aptgate-error'], 'INTEGRITY');
    const packages = world.gen1.files.get('main/binary-amd64/Packages.xz')!;
    assert.equal(
      hostile.hits(`dists/stable/main/binary-amd64/by-hash/SHA256/${packages.sha256}`),
      1,
      'the index was fetched for the pool request',
    );
    assert.deepEqual(s.proxy.packageIndex.lookupFile('fixture', deb.filename), { size: deb.size, sha256: deb.sha256 });
    assert.equal(existsSync(cached(s, deb.filename)), false);
    const good = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(good.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(good.body), deb.sha256);
  } finally {
    await s.close();
  }
});

test('an ingest interrupted by a kill (index row left pending:) is redone at start, without any client asking', async () => {
  const dir = path.join(world.dir, `srv-${++n}`);
  const config = testConfig(dir, { fixture: backend });
  const deb = debOf(world.gen1, 'aptgate-big');
  const first = await startServer(config);
  try {
    await prime(first);
  } finally {
    await first.close();
  }
  // what a kill in the middle of runIndexJob leaves: the content row still `pending:<file hash>`,
  // some entries written, no alias, no link to the snapshot
  const packages = world.gen1.files.get('main/binary-amd64/Packages.xz')!;
  const db = openDb(config.db);
  try {
    const row = db.prepare<[], { id: number }>('SELECT id FROM index_file WHERE complete = 1').get()!;
    db.prepare('DELETE FROM snapshot_index WHERE index_file_id = ?').run(row.id);
    db.prepare('DELETE FROM index_alias WHERE index_file_id = ?').run(row.id);
    db.prepare('UPDATE index_file SET complete = 0, content_sha256 = ? WHERE id = ?').run(
      `pending:${packages.sha256}`,
      row.id,
    );
  } finally {
    db.close();
  }
  const second = await startServer(config);
  try {
    await second.proxy.resumed;
    assert.deepEqual(second.proxy.packageIndex.lookupFile('fixture', deb.filename), {
      size: deb.size,
      sha256: deb.sha256,
    });
    assert.equal(
      second.db.prepare<[], { c: number }>('SELECT count(*) AS c FROM index_file WHERE complete = 0').get()!.c,
      0,
    );
    // and a wrong body is now caught: the transfer is aborted, nothing stored
    wrongBytes(deb.filename);
    const bad = await request(second.port, `/fixture/${deb.filename}`);
    assert.equal(bad.complete, false);
    assert.equal(existsSync(path.join(config.cacheDir, 'fixture', deb.filename)), false);
    const good = await request(second.port, `/fixture/${deb.filename}`);
    assert.equal(sha256(good.body), deb.sha256);
  } finally {
    await second.close();
  }
});

test('a body without Content-Length cut short (or shorter than announced) is never stored as complete', async () => {
  const s = await server();
  try {
    const deb = debOf(world.gen1, 'aptgate-demo');
    const cut = (withLength: boolean) =>
      hostile.on(
        deb.filename,
        async ({ res, file }) => {
          const whole = await file();
          rawClose(
            res,
            '200 OK',
            {
              'Content-Type': 'application/octet-stream',
              ...(withLength ? { 'Content-Length': String(whole.length) } : {}),
            },
            whole.subarray(0, whole.length >> 1),
          );
        },
        1,
      );
    // index not known yet: streamed through, never stored, the next request is not a hit
    cut(false);
    const r1 = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(r1.headers['x-aptgate-result'], 'pass-unverified');
    assert.ok(r1.body.length < deb.size);
    await s.proxy.fills.drain();
    assert.equal(existsSync(cached(s, deb.filename)), false);
    const r2 = await request(s.port, `/fixture/${deb.filename}`);
    assert.notEqual(r2.headers['x-aptgate-result'], 'hit');
    assert.equal(sha256(r2.body), deb.sha256);

    await prime(s);
    for (const withLength of [false, true]) {
      cut(withLength);
      const r = await request(s.port, `/fixture/${deb.filename}`);
      assert.ok(r.status === 502 || !r.complete, `status ${r.status}`);
      assert.equal(existsSync(cached(s, deb.filename)), false);
    }
    const good = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(good.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(good.body), deb.sha256);
  } finally {
    await s.close();
  }
});

test('a directory path (301, then an HTML listing) is never stored as a file; the .debs below it stay cacheable', async () => {
  const s = await server();
  try {
    await prime(s);
    const deb = debOf(world.gen1, 'aptgate-demo');
    const dirRel = path.dirname(path.dirname(deb.filename)); // pool/main/a
    const page = await request(s.port, `/fixture/${dirRel}`);
    assert.notEqual(page.headers['x-aptgate-result'], 'miss');
    assert.notEqual(page.headers['x-aptgate-result'], 'hit');
    await s.proxy.fills.drain();
    assert.equal(existsSync(cached(s, dirRel)), false);
    const again = await request(s.port, `/fixture/${dirRel}`);
    assert.notEqual(again.headers['x-aptgate-result'], 'hit');
    assert.equal((await request(s.port, `/fixture/${deb.filename}`)).headers['x-aptgate-result'], 'miss');
    await s.proxy.fills.drain();
    const hit = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(hit.headers['x-aptgate-result'], 'hit');
    assert.equal(sha256(hit.body), deb.sha256);
  } finally {
    await s.close();
  }
});

test('a file left where a directory belongs (an older poisoned cache) heals when a verified file below it is stored', async () => {
  const s = await server();
  try {
    await prime(s);
    const deb = debOf(world.gen1, 'aptgate-demo');
    const dirRel = path.dirname(path.dirname(deb.filename));
    await mkdir(path.dirname(cached(s, dirRel)), { recursive: true });
    await writeFile(cached(s, dirRel), '<html><body>Index of /pool/main/a</body></html>\n');
    assert.equal((await request(s.port, `/fixture/${deb.filename}`)).headers['x-aptgate-result'], 'miss');
    await s.proxy.fills.drain();
    assert.ok(statSync(cached(s, dirRel)).isDirectory());
    const hit = await request(s.port, `/fixture/${deb.filename}`);
    assert.equal(hit.headers['x-aptgate-result'], 'hit');
    assert.equal(sha256(hit.body), deb.sha256);
  } finally {
    await s.close();
  }
});

/** Another server on 127.0.0.1 that must never be reached, counting requests. */
async function bystander(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const srv = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 7 });
    res.end('secret\n');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

test("redirects to hosts that are not the backend's (another local service, aptgate itself) are refused, nothing is fetched or stored", async () => {
  const other = await bystander();
  const s = await server();
  try {
    const demo = debOf(world.gen1, 'aptgate-demo');
    // unknown index (would be streamed through) and known index (would be verified): both refused
    for (const primed of [false, true]) {
      if (primed) await prime(s);
      hostile.on(demo.filename, ({ res }) => redirect(res, 302, `${other.url}/secret`), 1);
      const r = await request(s.port, `/fixture/${demo.filename}`);
      assert.equal(r.status, 502, `primed=${primed}`);
      assert.equal(r.headers['x-aptgate-error'], 'UPSTREAM_FAILED');
      assert.doesNotMatch(r.body.toString(), /secret\n$/);
      await s.proxy.fills.drain();
      assert.equal(existsSync(cached(s, demo.filename)), false);
    }
    hostile.on(demo.filename, ({ res }) => redirect(res, 302, `${s.url}/-/health`), 1);
    const health = await request(s.port, `/fixture/${demo.filename}`);
    assert.equal(health.status, 502);
    assert.doesNotMatch(health.body.toString(), /"status":"ok"/);
    hostile.on('project/trace/master', ({ res }) => redirect(res, 301, `${other.url}/trace`), 1);
    assert.equal((await request(s.port, '/fixture/project/trace/master')).status, 502);
    assert.equal(other.hits(), 0, 'the other host was never asked');
    // a refused redirect does not set the mirror aside: the next request is served
    const good = await request(s.port, `/fixture/${demo.filename}`);
    assert.equal(good.status, 200);
    assert.equal(sha256(good.body), demo.sha256);
  } finally {
    await s.close();
    await other.close();
  }
});

test('redirect_hosts: a redirect to a configured host is followed and, verified, stored; a redirect to another path is served but never stored', async () => {
  const cdn = await HostileUpstream.start(world.repo.root);
  const s = await server((c) => {
    c.backends.get('fixture')!.redirectHosts = [`127.0.0.1:${cdn.port}`];
  });
  try {
    await prime(s);
    const demo = debOf(world.gen1, 'aptgate-demo');
    hostile.on(demo.filename, ({ res }) => redirect(res, 302, `${cdn.base}/${demo.filename}`), 1);
    const r = await request(s.port, `/fixture/${demo.filename}`);
    assert.equal(r.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(r.body), demo.sha256);
    assert.equal(cdn.hits(demo.filename), 1);
    await s.proxy.fills.drain();
    assert.equal((await request(s.port, `/fixture/${demo.filename}`)).headers['x-aptgate-result'], 'hit');

    // same bytes, but under another name: served (they verify), not stored under this name
    const big = debOf(world.gen1, 'aptgate-big');
    hostile.on(big.filename, ({ res }) => redirect(res, 302, `${cdn.base}/elsewhere.deb`), 1);
    cdn.on('elsewhere.deb', async ({ res }) => {
      const body = await (await import('node:fs/promises')).readFile(world.repo.path(big.filename));
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    });
    const moved = await request(s.port, `/fixture/${big.filename}`);
    assert.equal(sha256(moved.body), big.sha256);
    await s.proxy.fills.drain();
    assert.equal(existsSync(cached(s, big.filename)), false);
  } finally {
    await s.close();
    await cdn.close();
  }
});

test('a by-hash index object redirected to its canonical name on the same mirror is still stored and ingested (its key names its content)', async () => {
  const s = await server();
  try {
    const packages = world.gen1.files.get('main/binary-amd64/Packages.xz')!;
    hostile.on(`dists/stable/main/binary-amd64/by-hash/SHA256/${packages.sha256}`, ({ res }) =>
      redirect(res, 302, '/debian/dists/stable/main/binary-amd64/Packages.xz'),
    );
    await prime(s);
    await s.proxy.fills.drain();
    assert.equal(hostile.hits('dists/stable/main/binary-amd64/Packages.xz'), 1);
    assert.ok(existsSync(cached(s, `dists/stable/main/binary-amd64/by-hash/SHA256/${packages.sha256}`)));
    const deb = debOf(world.gen1, 'aptgate-demo');
    assert.deepEqual(s.proxy.packageIndex.lookupFile('fixture', deb.filename), { size: deb.size, sha256: deb.sha256 });
  } finally {
    await s.close();
  }
});

test('by-hash objects named by MD5 or SHA1 (weak hashes apt does not ask by) are passed through, never stored', async () => {
  const s = await server();
  try {
    await prime(s);
    const body = Buffer.from('bytes a hostile mirror chose, with their own MD5 and SHA1\n');
    for (const [dir, algo] of [
      ['MD5Sum', 'md5'],
      ['SHA1', 'sha1'],
    ] as const) {
      const rel = `dists/stable/main/binary-amd64/by-hash/${dir}/${createHash(algo).update(body).digest('hex')}`;
      hostile.on(rel, ({ res }) => {
        res.writeHead(200, { 'Content-Length': body.length });
        res.end(body);
      });
      const r = await request(s.port, `/fixture/${rel}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-aptgate-result'], 'pass-unverified');
      await s.proxy.fills.drain();
      assert.equal(existsSync(cached(s, rel)), false, `${dir}: nothing stored`);
    }
  } finally {
    await s.close();
  }
});

test("an upstream timeout on a new suite's InRelease is a 504 UPSTREAM_TIMEOUT saying so, not a 500", async () => {
  const s = await server((c) => {
    c.proxy.idleTimeoutMs = 300;
  });
  try {
    // headers, then a body that stops
    hostile.on('dists/stalled/InRelease', ({ res }) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 4096 });
      res.write('-----BEGIN PGP SIGNED MESSAGE-----\n');
    });
    // no answer at all
    hostile.on('dists/silent/InRelease', () => undefined);
    for (const suite of ['stalled', 'silent']) {
      const r = await request(s.port, `/fixture/dists/${suite}/InRelease`);
      assert.equal(r.status, 504, `${suite}: ${r.body.toString()}`);
      assert.equal(r.headers['x-aptgate-error'], 'UPSTREAM_TIMEOUT');
      assert.match(r.body.toString(), /time/i);
    }
  } finally {
    await s.close();
  }
});
