// Issue 15 (review): a pool file no parsed index names makes aptgate fetch and ingest the
// Packages that could name it first. When that Packages cannot be fetched, every further pool
// request fetched it again (and waited for it) before passing its file through unverified; now
// the failed Packages is tried again by pool requests only after proxy.mirror_retry, while a
// client's own request for it is served at once. Real fixture repository and upstream over HTTP.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from './helpers/http.js';
import { startServer, testConfig } from './helpers/server.js';
import { debOf, demo1, makeWorld, odd, type World } from './helpers/world.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let world: World;
before(async () => {
  world = await makeWorld({ debs: [demo1, odd] });
});
after(async () => {
  await world.close();
});

test("a Packages that cannot be fetched is not fetched again for every pool request; the client's own request for it still is", async () => {
  const s = await startServer(testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }));
  try {
    assert.equal((await request(s.port, '/fixture/dists/stable/InRelease')).status, 200);
    const packages = world.gen1.files.get('main/binary-amd64/Packages.xz')!;
    const packagesPaths = [
      `dists/stable/main/binary-amd64/by-hash/SHA256/${packages.sha256}`,
      'dists/stable/main/binary-amd64/Packages.xz',
    ];
    const packagesHits = () => packagesPaths.reduce((n, p) => n + world.upstream.hits(p), 0);
    world.upstream.resetCounts();
    world.upstream.fault((p) => packagesPaths.includes(p), { kind: 'status', status: 503 });

    // two files the same Packages names (main, amd64), neither known yet
    const [a, b] = [debOf(world.gen1, 'aptgate-demo'), debOf(world.gen1, 'aptgate-odd+name')];
    for (const deb of [a, b, a]) {
      const r = await request(s.port, `/fixture/${deb.filename}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-aptgate-result'], 'pass-unverified');
      assert.equal(sha256(r.body), deb.sha256);
    }
    assert.equal(packagesHits(), 1, 'the failing Packages was asked for by the first pool request only');

    // apt's own request for the index is not held back; once it is in, pool files are verified
    world.upstream.clearFaults();
    assert.equal((await request(s.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
    await s.proxy.indexer.idle();
    const verified = await request(s.port, `/fixture/${b.filename}`);
    assert.equal(verified.headers['x-aptgate-result'], 'miss');
    assert.equal(sha256(verified.body), b.sha256);
  } finally {
    await s.close();
  }
});
