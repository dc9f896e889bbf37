// Issue 2: real apt-get through aptgate in both modes, served from cache for the next client,
// and no Hash Sum mismatch when upstream publishes while clients update.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { Agent } from 'undici';
import { fixturesDir } from './helpers/paths.js';
import path from 'node:path';
import { aptEnv, downloadedDebs, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { demo2, big, debOf, makeWorld, type World } from './helpers/world.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let world: World;
before(async () => {
  world = await makeWorld();
});
after(async () => {
  await world.close();
});

function noMismatch(r: { stdout: string; stderr: string }): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(
    all,
    /Hash Sum mismatch|unexpected size|Mirror sync in progress|is not signed|NO_PUBKEY|BADSIG/i,
    all,
  );
}

async function client(
  name: string,
  mode: 'proxy' | 'remap',
  server: TestServer,
  extra: Record<string, string> = {},
): Promise<AptEnv> {
  const uri = mode === 'proxy' ? world.upstream.base : `${server.url}/fixture`;
  return aptEnv(path.join(world.dir, name), {
    sources: [{ uri, suites: ['stable'], signedBy: world.key.keyring }],
    ...(mode === 'proxy' ? { proxy: `${server.url}/` } : { proxy: 'DIRECT' }),
    config: { 'Acquire::Retries': '0', ...extra },
  });
}

test('apt-get update and install --download-only work in proxy and remap mode; the next client is served from cache', async () => {
  const server = await startServer(
    testConfig(path.join(world.dir, 'srv-modes'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 3_600_000;
    }),
  );
  try {
    for (const mode of ['proxy', 'remap'] as const) {
      const a = await client(`apt-${mode}-a`, mode, server);
      noMismatch(await runAptOk(['update', '--error-on=any'], { apt: a }));
      noMismatch(await runAptOk(['install', '--download-only', 'aptgate-demo', 'aptgate-big'], { apt: a }));
      // hello depends on libc6, which this repository does not carry: download it alone
      await runAptOk(['download', 'hello'], { apt: a, cwd: a.archivesDir });
      const files = await downloadedDebs(a);
      assert.equal(files.length, 3, files.join(' '));
      for (const f of files) {
        const bytes = await readFile(path.join(a.archivesDir, f));
        const expected = world.gen1.debs.find((d) => path.basename(d.filename) === f)!;
        assert.equal(sha256(bytes), expected.sha256, f);
      }

      // a second client, same mode: nothing reaches upstream
      world.upstream.resetCounts();
      const b = await client(`apt-${mode}-b`, mode, server);
      noMismatch(await runAptOk(['update', '--error-on=any'], { apt: b }));
      await runAptOk(['install', '--download-only', 'aptgate-demo', 'aptgate-big'], { apt: b });
      await runAptOk(['download', 'hello'], { apt: b, cwd: b.archivesDir });
      assert.equal((await downloadedDebs(b)).length, 3);
      assert.equal(world.upstream.totalHits(), 0, JSON.stringify(world.upstream.requests().map((r) => r.path)));
    }
    // both modes share one cache: the pool file was fetched from upstream once in all
    const deb = debOf(world.gen1, 'aptgate-big');
    const cached = await readdir(path.join(server.config.cacheDir, 'fixture', path.dirname(deb.filename)));
    assert.deepEqual(cached, [path.basename(deb.filename)]);
    // the package index was fed from the Packages that passed through, and the suite is tracked
    await server.proxy.indexer.idle();
    assert.deepEqual(
      server.proxy.snapshots.tracked().map((t) => [t.backend, t.suite, t.component, t.architecture]),
      [['fixture', 'stable', 'main', 'amd64']],
    );
    assert.deepEqual(server.proxy.packageIndex.lookupFile('fixture', deb.filename), {
      size: deb.size,
      sha256: deb.sha256,
    });
  } finally {
    await server.close();
  }
});

test('publish race: upstream publishes while clients update; apt never sees a hash mismatch', async () => {
  const server = await startServer(
    testConfig(path.join(world.dir, 'srv-race'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
    }),
  );
  try {
    // 1. a publish lands between the client's InRelease and its index requests (by-hash, apt's default)
    let published = false;
    world.upstream.onRequest(
      (p) => /\/by-hash\//.test(p) || /Packages/.test(p),
      async () => {
        if (published) return;
        published = true;
        await world.repo.publish('stable', [demo2, big]);
      },
    );
    const a = await client('race-a', 'remap', server);
    const ra = await runApt(['update', '--error-on=any'], { apt: a });
    noMismatch(ra);
    assert.equal(ra.code, 0, ra.stdout + ra.stderr);
    assert.ok(published, 'the publish happened during the update');
    world.upstream.clearHooks();

    // 2. the next update picks the new generation, with canonical index names (By-Hash off):
    //    a new InRelease is never paired with the old index
    const b = await client('race-b', 'remap', server, { 'Acquire::By-Hash': 'no' });
    noMismatch(await runAptOk(['update', '--error-on=any'], { apt: b }));
    const policy = await runAptOk(['policy', 'aptgate-demo'], { apt: b, command: 'apt-cache' });
    assert.match(policy.stdout, /Candidate: 2\.0-1/);

    // 3. canonical names again: client c updates (gen2), upstream publishes gen3, client d updates
    //    (gen3) and then c asks for the canonical index of its own generation
    const c = await client('race-c', 'remap', server, { 'Acquire::By-Hash': 'no' });
    noMismatch(await runAptOk(['update', '--error-on=any'], { apt: c }));
    await world.repo.publish('stable', [demo2, big, { name: 'aptgate-new', version: '1.0-1' }]);
    const d = await client('race-d', 'remap', server, { 'Acquire::By-Hash': 'no' });
    noMismatch(await runAptOk(['update', '--error-on=any'], { apt: d }));
    assert.match(
      (await runAptOk(['policy', 'aptgate-new'], { apt: d, command: 'apt-cache' })).stdout,
      /Candidate: 1\.0-1/,
    );
    noMismatch(await runAptOk(['update', '--error-on=any'], { apt: c }));
    noMismatch(await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt: d }));
  } finally {
    await server.close();
  }
});

test('a suite without InRelease works through Release + Release.gpg, verified as a pair', async () => {
  await world.repo.publish('legacy', [demo2]);
  await rm(world.repo.path('dists/legacy/InRelease'));
  const server = await startServer(testConfig(path.join(world.dir, 'srv-legacy'), { fixture: world.backend }));
  try {
    const a = await aptEnv(path.join(world.dir, 'legacy-a'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['legacy'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    const r = await runAptOk(['update', '--error-on=any'], { apt: a });
    noMismatch(r);
    assert.match(
      (await runAptOk(['policy', 'aptgate-demo'], { apt: a, command: 'apt-cache' })).stdout,
      /Candidate: 2\.0-1/,
    );
    assert.equal(world.upstream.hits('dists/legacy/Release.gpg'), 1);
  } finally {
    await server.close();
  }
});

test('https mirrors: clients speak plain http to aptgate, aptgate speaks TLS upstream', async () => {
  const cert = await readFile(path.join(fixturesDir, 'tls', 'cert.pem'));
  const key = await readFile(path.join(fixturesDir, 'tls', 'key.pem'));
  // a TLS front for the fixture upstream
  const front = tls.createServer({ cert, key }, (sock) => {
    const plain = net.connect(world.upstream.port, '127.0.0.1');
    sock.pipe(plain).pipe(sock);
    sock.on('error', () => plain.destroy());
    plain.on('error', () => sock.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const port = (front.address() as net.AddressInfo).port;
  const dispatcher = new Agent({ connect: { ca: cert } });
  const server = await startServer(
    testConfig(path.join(world.dir, 'srv-tls'), {
      fixture: { mirrors: [`https://127.0.0.1:${port}/debian`], keyring: world.key.keyring },
    }),
    { dispatcher },
  );
  try {
    const a = await aptEnv(path.join(world.dir, 'tls-a'), {
      sources: [{ uri: `http://127.0.0.1:${port}/debian`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: `${server.url}/`,
      config: { 'Acquire::Retries': '0' },
    });
    noMismatch(await runAptOk(['update', '--error-on=any'], { apt: a }));
    await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt: a });
    assert.equal((await downloadedDebs(a)).length, 1);
  } finally {
    await server.close();
    await dispatcher.close();
    await new Promise((r) => front.close(r));
  }
});
