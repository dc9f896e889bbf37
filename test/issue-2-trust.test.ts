// Issue 2: an InRelease is served only after gpgv verified it; mirrors fail over and are set
// aside; the last good generation survives an unreachable or lagging upstream; tracked suites
// are refreshed and indexed by the server itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { request } from './helpers/http.js';
import { startServer, testConfig, waitFor } from './helpers/server.js';
import { FixtureUpstream } from './helpers/upstream.js';
import { big, debOf, demo2, makeWorld, type World } from './helpers/world.js';

let world: World;
before(async () => {
  world = await makeWorld();
});
after(async () => {
  await world.close();
});

const INRELEASE = 'dists/stable/InRelease';

test('an InRelease that does not verify is refused and the previous generation stays', async () => {
  const server = await startServer(
    testConfig(path.join(world.dir, 'srv-sig'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
    }),
  );
  const fresh = await startServer(testConfig(path.join(world.dir, 'srv-sig-fresh'), { fixture: world.backend }));
  try {
    const first = await request(server.port, `/fixture/${INRELEASE}`);
    assert.equal(first.status, 200);
    // upstream now publishes a generation signed by a key the backend does not trust
    const forged = await world.repo.publish('stable', [demo2, big], { signWith: await world.rogue() });
    world.upstream.resetCounts();
    const again = await request(server.port, `/fixture/${INRELEASE}`);
    assert.equal(world.upstream.hits(INRELEASE), 1, 'upstream was asked');
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(first.body), 'the verified generation, not the forged one');
    assert.ok(!again.body.equals(forged.inRelease));
    assert.match(
      (await request(server.port, '/-/metrics')).body.toString(),
      /aptgate_signature_failures_total\{backend="fixture"\} 1/,
    );
    // a server without a previous generation serves nothing at all
    const none = await request(fresh.port, `/fixture/${INRELEASE}`);
    assert.equal(none.status, 502);
    assert.equal(none.headers['x-aptgate-error'], 'SIGNATURE');
    // and index requests cannot be answered from the forged Release either
    assert.equal((await request(fresh.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 502);
  } finally {
    await server.close();
    await fresh.close();
    await world.repo.publish('stable', [demo2, big]);
  }
});

test('fail-over: connect errors, 5xx and timeouts go to the next mirror; a failed mirror is kept aside', async () => {
  const second = await FixtureUpstream.start(world.repo.root, { prefix: '/debian' });
  const deadPort = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  try {
    // 1. connection refused on the first mirror
    const s1 = await startServer(
      testConfig(path.join(world.dir, 'srv-fo1'), {
        fixture: { mirrors: [`http://127.0.0.1:${deadPort}/debian`, second.base], keyring: world.key.keyring },
      }),
    );
    try {
      second.resetCounts();
      assert.equal((await request(s1.port, `/fixture/${INRELEASE}`)).status, 200);
      assert.equal(second.hits(INRELEASE), 1);
    } finally {
      await s1.close();
    }
    // 2. 503 on the first: served by the second, and the first is then skipped
    const s2 = await startServer(
      testConfig(path.join(world.dir, 'srv-fo2'), {
        fixture: { mirrors: [world.upstream.base, second.base], keyring: world.key.keyring },
      }),
    );
    try {
      world.upstream.resetCounts();
      second.resetCounts();
      world.upstream.fault(INRELEASE, { kind: 'status', status: 503 }, 1);
      assert.equal((await request(s2.port, `/fixture/${INRELEASE}`)).status, 200);
      const deb = debOf(world.gen1, 'aptgate-demo');
      assert.equal((await request(s2.port, `/fixture/${deb.filename}`)).status, 200);
      assert.equal(world.upstream.totalHits(), 1, 'the failed mirror is not asked again while set aside');
      assert.equal(second.hits(deb.filename), 1);
      const health = JSON.parse((await request(s2.port, '/-/health')).body.toString());
      assert.equal(health.mirrors.find((m: { mirror: string }) => m.mirror === world.upstream.base).healthy, false);
    } finally {
      await s2.close();
    }
    // 3. a mirror that does not answer in time
    const s3 = await startServer(
      testConfig(
        path.join(world.dir, 'srv-fo3'),
        { fixture: { mirrors: [world.upstream.base, second.base], keyring: world.key.keyring } },
        (c) => {
          c.proxy.idleTimeoutMs = 300;
        },
      ),
    );
    try {
      second.resetCounts();
      world.upstream.fault(INRELEASE, { kind: 'delay', ms: 2000 }, 1);
      assert.equal((await request(s3.port, `/fixture/${INRELEASE}`)).status, 200);
      assert.equal(second.hits(INRELEASE), 1);
    } finally {
      await s3.close();
    }
  } finally {
    await second.close();
  }
});

test('upstream unreachable: the last good generation is served; a lagging mirror never moves it back', async () => {
  const old = path.join(world.dir, 'repo-old');
  await cp(world.repo.root, old, { recursive: true });
  const lagging = await FixtureUpstream.start(old, { prefix: '/debian' });
  const gen2 = await world.repo.publish('stable', [demo2, big]);
  const server = await startServer(
    testConfig(
      path.join(world.dir, 'srv-stale'),
      { fixture: { mirrors: [world.upstream.base, lagging.base], keyring: world.key.keyring } },
      (c) => {
        c.proxy.releaseTtlMs = 0;
        c.proxy.mirrorRetryMs = 0;
      },
    ),
  );
  try {
    const cur = await request(server.port, `/fixture/${INRELEASE}`);
    assert.ok(cur.body.equals(gen2.inRelease));
    // the up-to-date mirror fails: the lagging one answers with an older InRelease
    world.upstream.fault(INRELEASE, { kind: 'status', status: 503 }, 1);
    lagging.resetCounts();
    const behind = await request(server.port, `/fixture/${INRELEASE}`);
    assert.equal(lagging.hits(INRELEASE), 1);
    assert.ok(behind.body.equals(gen2.inRelease), 'not moved back to the older generation');
    // both unreachable: still the last good one, marked stale in the log
    await lagging.close();
    world.upstream.fault(INRELEASE, { kind: 'status', status: 503 }, 1);
    const down = await request(server.port, `/fixture/${INRELEASE}`);
    assert.equal(down.status, 200);
    assert.ok(down.body.equals(gen2.inRelease));
  } finally {
    await server.close();
  }
});

test('tracked suites are refreshed and indexed by the server without client traffic', async () => {
  const server = await startServer(
    testConfig(path.join(world.dir, 'srv-refresh'), { fixture: world.backend }, (c) => {
      c.proxy.refreshIntervalMs = 150;
      c.backends.get('fixture')!.trackSuites = ['stable'];
      c.backends.get('fixture')!.trackComponents = ['main'];
      c.backends.get('fixture')!.trackArchitectures = ['amd64'];
    }),
  );
  try {
    const current = await world.repo.publish('stable', [demo2, big]);
    const deb = debOf(current, 'aptgate-demo', '2.0-1');
    // no client asked for anything: the timer fetches InRelease and Packages and indexes them
    await waitFor(() => server.proxy.packageIndex.lookupFile('fixture', deb.filename), 'the refresh to index demo 2.0');
    const next = await world.repo.publish('stable', [{ name: 'aptgate-demo', version: '4.0-1' }, big]);
    const deb4 = debOf(next, 'aptgate-demo', '4.0-1');
    await waitFor(
      () => server.proxy.packageIndex.lookupFile('fixture', deb4.filename),
      'the refresh to pick up the next publish',
    );
    assert.deepEqual(server.proxy.packageIndex.lookupFile('fixture', deb4.filename), {
      size: deb4.size,
      sha256: deb4.sha256,
    });
    const snap = server.proxy.snapshots.latest('fixture', 'stable', 'inrelease')!;
    assert.equal(snap.date, next.date.getTime());
    assert.ok(server.proxy.packageIndex.isLinked(snap.id, 'main', 'amd64'));
  } finally {
    await server.close();
  }
});

test('InRelease revalidation: one conditional check shared by every client asking meanwhile', async () => {
  const server = await startServer(
    testConfig(path.join(world.dir, 'srv-reval'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
    }),
  );
  try {
    const first = await request(server.port, `/fixture/${INRELEASE}`);
    assert.equal(first.status, 200);
    world.upstream.resetCounts();
    world.upstream.fault(INRELEASE, { kind: 'delay', ms: 200 }, 1);
    const all = await Promise.all(Array.from({ length: 20 }, () => request(server.port, `/fixture/${INRELEASE}`)));
    for (const r of all) assert.ok(r.body.equals(first.body));
    assert.equal(world.upstream.hits(INRELEASE), 1, 'one upstream check for 20 clients');
    const check = world.upstream.requests().find((r) => r.path === INRELEASE)!;
    assert.equal(check.headers['if-modified-since'], first.headers['last-modified'], 'the check is conditional');
    assert.ok(all.filter((r) => r.headers['x-aptgate-snapshot'] === first.headers['x-aptgate-snapshot']).length === 20);
  } finally {
    await server.close();
  }
});
