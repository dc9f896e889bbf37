// Issue 13, signed roots: a hostile mirror replaying an older, validly signed Release +
// Release.gpg never takes the served indexes or a stage back (defect 3), and an InRelease that
// apt would refuse (anything before or after its one signed block) is never snapshotted or
// served (defect 8). Real gpg-signed fixture repositories, a fixture upstream and aptgate over
// HTTP on 127.0.0.1, real apt-get where apt's verdict matters.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { isAptgateError } from '../src/errors.js';
import { checkDetachedSignature, splitClearsigned, splitClearsignedInSlices } from '../src/index/clearsigned.js';
import { clearsignedText, parseRelease } from '../src/index/release.js';
import { verifyClearsigned } from '../src/sys/gpgv.js';
import { aptEnv, downloadedDebs, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { clearsign } from './helpers/gpg.js';
import { request } from './helpers/http.js';
import type { Published } from './helpers/repo.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { debOf, demo1, demo2, makeWorld, type World } from './helpers/world.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const DISTS = 'dists/stable';
const PACKAGES = `${DISTS}/main/binary-amd64/Packages`;
/** what upstream publishes (the plain Packages is listed, not published) */
const PACKAGES_GZ = `${PACKAGES}.gz`;
const demo3 = { ...demo2, version: '3.0-1' };

async function settle(server: TestServer): Promise<void> {
  await server.proxy.indexer.idle();
  await new Promise((r) => setImmediate(r));
  await server.gate.idle();
  await server.outdated.idle();
}

function withoutId<T extends { id: number }>(row: T): Omit<T, 'id'> {
  const { id: _id, ...rest } = row;
  return rest;
}

function snapshotCount(server: TestServer): number {
  return (server.db.prepare('SELECT count(*) AS n FROM snapshot').get() as { n: number }).n;
}

async function candidate(apt: AptEnv, pkg: string): Promise<string> {
  const r = await runAptOk(['policy', pkg], { apt, command: 'apt-cache' });
  return /Candidate: (\S+)/.exec(r.stdout)?.[1] ?? '';
}

const versions = (packages: string | Buffer, name: string) =>
  [...packages.toString().matchAll(new RegExp(`^Package: ${name}\\n(?:.+\\n)*?Version: (\\S+)`, 'gm'))].map(
    (m) => m[1],
  );

async function stagePackages(server: TestServer, stage: string): Promise<string> {
  const r = await request(server.port, `/stage/${stage}/fixture/${PACKAGES}`);
  assert.equal(r.status, 200, r.body.toString());
  return r.body.toString();
}

/** Upstream now offers an older publish's Release + Release.gpg, and no InRelease. */
async function replayRelease(world: World, old: Published): Promise<void> {
  await writeFile(world.repo.path(`${DISTS}/Release.gpg`), old.releaseGpg);
  await writeFile(world.repo.path(`${DISTS}/Release`), old.release);
  await rm(world.repo.path(`${DISTS}/InRelease`), { force: true });
}

describe('issue 13 defect 3: an older signed Release never rolls a suite or a stage back', () => {
  let world: World;
  let gen1: Published;
  before(async () => {
    world = await makeWorld({ debs: [demo1] });
    gen1 = world.gen1;
  });
  after(async () => {
    await world.close();
  });

  it('a replayed older Release + Release.gpg (InRelease gone) makes no snapshot; indexes, the test stage and the newer .deb stay, also after a restart', async () => {
    const dir = path.join(world.dir, 'srv-replay');
    const config = () =>
      testConfig(dir, { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      });
    let server = await startServer(config());
    // proxy mode: apt's lists are kept under the upstream URI, whatever port aptgate gets after a restart
    const apt = await aptEnv(path.join(world.dir, 'apt-replay'), {
      sources: [{ uri: world.upstream.base, signedBy: world.key.keyring }],
      config: { 'Acquire::Retries': '0' },
    });
    const via = () => ({ apt, proxy: `${server.url}/` });
    try {
      await runAptOk(['update', '--error-on=any'], via());
      await settle(server);
      const gen2 = await world.repo.publish('stable', [demo1, demo2]);
      await runAptOk(['update', '--error-on=any'], via());
      await settle(server);
      assert.equal(await candidate(apt, 'aptgate-demo'), '2.0-1');
      assert.deepEqual(
        server.gate.history('test').map((g) => g.kind),
        ['initial', 'follow'],
        'the test stage followed the newer snapshot',
      );
      assert.ok(versions(await stagePackages(server, 'test'), 'aptgate-demo').includes('2.0-1'));
      const newest = server.proxy.snapshots.newest('fixture', 'stable')!;
      assert.equal(newest.date, gen2.date.getTime());
      const count = snapshotCount(server);
      const deb2 = debOf(gen2, 'aptgate-demo', '2.0-1');

      // the attack: a validly signed older Release + Release.gpg, InRelease 404
      await replayRelease(world, gen1);
      const check = async (when: string) => {
        for (const file of ['Release', 'Release.gpg']) {
          const r = await request(server.port, `/fixture/${DISTS}/${file}`);
          assert.equal(r.status, 502, `${when}: ${file} ${r.status} ${r.body.toString().slice(0, 200)}`);
          assert.equal(r.headers['x-aptgate-error'], 'ROLLBACK', when);
          assert.ok(
            !r.body.equals(gen1.release) && !r.body.equals(gen1.releaseGpg),
            `${when}: the older ${file} is never served`,
          );
        }
        // index requests, from a client that holds no generation too: the newer generation's bytes
        for (const from of ['127.0.0.1', '127.0.0.2']) {
          const p = await request(server.port, `/fixture/${PACKAGES_GZ}`, { localAddress: from });
          assert.equal(p.status, 200, `${when}: Packages from ${from}`);
          assert.deepEqual(
            versions(gunzipSync(p.body), 'aptgate-demo'),
            ['1.0-1', '2.0-1'],
            `${when}: Packages from ${from}`,
          );
        }
        // the server's own refresh gets the same answer
        await assert.rejects(
          server.proxy.suites.root(server.config.backends.get('fixture')!, 'stable', 'release', {
            revalidate: true,
            force: true,
          }),
          (e) => isAptgateError(e, 'ROLLBACK'),
        );
        // apt fails loudly and keeps its lists: still offered, and still served, the newer version
        const upd = await runApt(['update'], via());
        assert.match(upd.stdout + upd.stderr, /Release\s+502/, upd.stdout + upd.stderr);
        assert.equal(await candidate(apt, 'aptgate-demo'), '2.0-1', when);
        await rm(path.join(apt.archivesDir, path.basename(deb2.filename)), { force: true });
        await runAptOk(['install', '--download-only', 'aptgate-demo'], via());
        assert.ok((await downloadedDebs(apt)).includes(path.basename(deb2.filename)), when);
        await settle(server);
        assert.equal(snapshotCount(server), count, `${when}: no snapshot of the older Release`);
        assert.equal(server.proxy.snapshots.newest('fixture', 'stable')!.id, newest.id);
        assert.deepEqual(
          server.gate.history('test').map((g) => g.kind),
          ['initial', 'follow'],
          `${when}: the test stage did not move`,
        );
        assert.equal(server.gate.history('test').at(-1)!.baseSnapshot, newest.id);
        assert.deepEqual(versions(await stagePackages(server, 'test'), 'aptgate-demo'), ['1.0-1', '2.0-1'], when);
        const d = await request(server.port, `/stage/test/fixture/${deb2.filename}`);
        assert.equal(d.status, 200, when);
        assert.equal(sha256(d.body), deb2.sha256);
      };
      await check('running');

      // after a restart the first Release-kind fetch is compared with the database
      await server.close();
      server = await startServer(config());
      await check('after a restart');

      // upstream recovers: the suite and the test stage move forward again
      const gen3 = await world.repo.publish('stable', [demo1, demo2, demo3]);
      await runAptOk(['update', '--error-on=any'], via());
      await settle(server);
      assert.equal(await candidate(apt, 'aptgate-demo'), '3.0-1');
      assert.equal(server.proxy.snapshots.newest('fixture', 'stable')!.date, gen3.date.getTime());
      assert.deepEqual(
        server.gate.history('test').map((g) => g.kind),
        ['initial', 'follow', 'follow'],
      );
      assert.ok(versions(await stagePackages(server, 'test'), 'aptgate-demo').includes('3.0-1'));
    } finally {
      await server.close();
      await world.repo.publish('stable', [demo1]);
    }
  });

  it('the gate itself never follows an older snapshot, and a rollback of the first stage lasts until a newer one', async () => {
    const server = await startServer(
      testConfig(path.join(world.dir, 'srv-gate'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    const apt = await aptEnv(path.join(world.dir, 'apt-gate'), {
      sources: [{ uri: `${server.url}/fixture`, signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    try {
      const first = await world.repo.publish('stable', [demo1]);
      await runAptOk(['update', '--error-on=any'], { apt });
      await settle(server);
      const older = server.proxy.snapshots.newest('fixture', 'stable')!;
      await world.repo.publish('stable', [demo1, demo2]);
      await runAptOk(['update', '--error-on=any'], { apt });
      await settle(server);
      const newer = server.proxy.snapshots.newest('fixture', 'stable')!;
      assert.ok(newer.date > older.date);
      assert.equal(server.gate.history('test').at(-1)!.baseSnapshot, newer.id);

      // an older root recorded after the newer one (what a replayed Release made before), its Packages indexed
      const replayed = server.proxy.snapshots.record({
        ...withoutId(older),
        kind: 'release',
        sha256: sha256(first.release),
        fetchedAt: Date.now(),
      });
      assert.ok(replayed.id > newer.id);
      for (const l of server.proxy.packageIndex.linkedFiles(older.id))
        server.proxy.packageIndex.link(replayed.id, l.component, l.architecture, l.indexFileId);
      assert.deepEqual(await server.gate.onSnapshotIndexed(replayed.id), []);
      assert.equal(server.gate.history('test').at(-1)!.baseSnapshot, newer.id);
      assert.ok(versions(await stagePackages(server, 'test'), 'aptgate-demo').includes('2.0-1'));

      // an explicit rollback is the only way back, and the snapshot it left is not followed again
      const [back] = await server.gate.rollback('test', 'admin', 'regression');
      assert.equal(back!.baseSnapshot, older.id);
      assert.deepEqual(
        await server.gate.onSnapshotIndexed(newer.id),
        [],
        'the rolled-back snapshot is not followed again',
      );
      assert.deepEqual(versions(await stagePackages(server, 'test'), 'aptgate-demo'), ['1.0-1']);
      await world.repo.publish('stable', [demo1, demo2, demo3]);
      await runAptOk(['update', '--error-on=any'], { apt });
      await settle(server);
      assert.deepEqual(
        server.gate.history('test').map((g) => g.kind),
        ['initial', 'follow', 'rollback', 'follow'],
      );
      assert.ok(versions(await stagePackages(server, 'test'), 'aptgate-demo').includes('3.0-1'));
    } finally {
      await server.close();
    }
  });
});

describe('issue 13 defect 8: an InRelease apt would refuse is never snapshotted or served', () => {
  let world: World;
  let gen1: Published;
  /** a valid clearsigned block by the archive key (older content) to append */
  let extra: Buffer;
  before(async () => {
    world = await makeWorld({ debs: [demo1] });
    gen1 = world.gen1;
    extra = await clearsign(world.key, gen1.release);
  });
  after(async () => {
    await world.close();
  });

  const variants = (doc: Buffer): Record<string, { doc: Buffer; apt: boolean }> => {
    const s = doc.toString('latin1');
    const sig = s.slice(s.indexOf('-----BEGIN PGP SIGNATURE-----'));
    return {
      'as signed': { doc, apt: true },
      'CRLF line ends': { doc: Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1'), apt: true },
      'blanks at line ends': { doc: Buffer.from(s.replace(/\n/g, ' \t\n'), 'latin1'), apt: true },
      'no final newline': { doc: Buffer.from(s.replace(/\n$/, ''), 'latin1'), apt: true },
      'a second signature block': { doc: Buffer.from(s + sig, 'latin1'), apt: true },
      'a second signed block appended': { doc: Buffer.concat([doc, extra]), apt: false },
      'an empty line, then a second signed block': { doc: Buffer.concat([doc, Buffer.from('\n'), extra]), apt: false },
      'text after the signature': { doc: Buffer.concat([doc, Buffer.from('Origin: evil\n')]), apt: false },
      'a trailing empty line': { doc: Buffer.concat([doc, Buffer.from('\n')]), apt: false },
      'a trailing line of blanks': { doc: Buffer.concat([doc, Buffer.from('  \n\n')]), apt: false },
      'text before the signed message': { doc: Buffer.concat([Buffer.from('Origin: evil\n'), doc]), apt: false },
      'an empty line before the signed message': { doc: Buffer.concat([Buffer.from('\n'), doc]), apt: false },
    };
  };

  it("the splitter: apt's rules on synthetic documents", async () => {
    const sig = '-----BEGIN PGP SIGNATURE-----\n\niQ==\n=abcd\n-----END PGP SIGNATURE-----\n';
    const doc = (text: string, tail = '') =>
      Buffer.from(`-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${text}${sig}${tail}`);
    const ok = splitClearsigned(doc('Origin: x\n- -dash\n- Label: y\nDate: z  \n'));
    assert.equal(ok.text.toString(), 'Origin: x\n-dash\nLabel: y\nDate: z');
    assert.equal(ok.signature.toString(), sig);
    assert.equal(
      splitClearsigned(Buffer.from(doc('A: 1\nB: 2\n').toString().replace(/\n/g, '\r\n'))).text.toString(),
      'A: 1\nB: 2',
    );
    assert.equal(
      splitClearsigned(doc('A: 1\n', sig)).signature.toString(),
      sig + sig,
      'more signature blocks are one signature file',
    );
    const refused = (d: Buffer, line?: number) =>
      assert.throws(
        () => splitClearsigned(d),
        (e) =>
          isAptgateError(e, 'SIGNATURE') &&
          e.details?.status === 'FORMAT' &&
          (line === undefined || e.details?.line === line),
      );
    refused(Buffer.concat([Buffer.from('x\n'), doc('A: 1\n')]), 1);
    refused(doc('A: 1\n', '\n'), 10);
    refused(doc('A: 1\n', 'x\n'), 10);
    refused(doc('A: 1\n', `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nB: 2\n${sig}`), 10);
    refused(doc('A: 1\n-----BEGIN PGP SIGNED MESSAGE-----\n'), 5);
    refused(doc('A: 1\n- \n'), 5);
    refused(Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\n-Hash: SHA256\n\nA: 1\n' + sig), 2);
    refused(
      Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: 1\n-----BEGIN PGP SIGNATURE-----\n\niQ==\n'),
    );
    refused(Buffer.from('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: 1\n'));
    refused(
      Buffer.from(
        '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: 1\n-----BEGIN PGP SIGNATURE-----\n\n-----BEGIN PGP MESSAGE-----\n-----END PGP SIGNATURE-----\n',
      ),
      7,
    );
    refused(Buffer.alloc(0));
    // Release.gpg as apt takes it: armored blocks only
    checkDetachedSignature(Buffer.from(sig));
    checkDetachedSignature(Buffer.from(sig + sig));
    checkDetachedSignature(Buffer.from(sig.replace(/\n/g, '\r\n')));
    for (const bad of [
      '\n' + sig,
      sig + '\n',
      sig + 'x\n',
      sig.replace('-----END PGP SIGNATURE-----\n', ''),
      '',
      '\x88\x01binary',
    ]) {
      assert.throws(
        () => checkDetachedSignature(Buffer.from(bad, 'latin1')),
        (e) => isAptgateError(e, 'SIGNATURE'),
        JSON.stringify(bad),
      );
    }
    // the text of a stored root is read the same way
    assert.equal(clearsignedText(doc('A: 1\n- B: 2\n')), 'A: 1\nB: 2');
    // what comes from a mirror is split in slices of the event loop, with the same result
    const big = doc(`${'Field: value \r\n- - dashed\n'.repeat(100_000)}`);
    const [sync, sliced] = [splitClearsigned(big), await splitClearsignedInSlices(big)];
    assert.ok(sliced.text.equals(sync.text) && sliced.signature.equals(sync.signature));
    assert.equal(sync.text.toString(), Array(100_000).fill('Field: value\n- dashed').join('\n'));
    await assert.rejects(
      splitClearsignedInSlices(Buffer.concat([big, Buffer.from('\n')])),
      (e) => isAptgateError(e, 'SIGNATURE') && e.details?.line === 200_009,
    );
  });

  it('the splitter and gpgv accept exactly what real apt-get accepts', async () => {
    const released = parseRelease(gen1.release);
    try {
      for (const [name, v] of Object.entries(variants(gen1.inRelease))) {
        await writeFile(world.repo.path(`${DISTS}/InRelease`), v.doc);
        const env = await aptEnv(path.join(world.dir, `apt-v-${name.replace(/\W+/g, '-')}`), {
          sources: [{ uri: world.upstream.base, signedBy: world.key.keyring }],
          proxy: 'DIRECT',
        });
        const r = await runApt(['update', '--error-on=any'], { apt: env });
        assert.equal(r.code === 0, v.apt, `apt on "${name}": ${r.stdout}${r.stderr}`);
        const ours = await verifyClearsigned([world.key.keyring], v.doc, 'InRelease').then(
          (x) => x,
          (e: unknown) => e as Error,
        );
        if (v.apt) {
          assert.ok(!(ours instanceof Error), `aptgate on "${name}": ${String(ours)}`);
          assert.deepEqual([...parseRelease(ours.text).files.values()], [...released.files.values()], name);
        } else {
          assert.ok(
            isAptgateError(ours, 'SIGNATURE') && ours.details?.status === 'FORMAT',
            `aptgate on "${name}": ${String(ours)}`,
          );
          assert.match(ours.message, /apt refuses it/);
        }
      }
    } finally {
      await writeFile(world.repo.path(`${DISTS}/InRelease`), gen1.inRelease);
    }
  });

  it('a second signed block appended: refused like a bad signature, the previous generation stays served and apt keeps working', async () => {
    const server = await startServer(
      testConfig(path.join(world.dir, 'srv-append'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
        c.proxy.mirrorRetryMs = 60_000;
      }),
    );
    const apt = await aptEnv(path.join(world.dir, 'apt-append'), {
      sources: [{ uri: `${server.url}/fixture`, signedBy: world.key.keyring }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    try {
      await runAptOk(['update', '--error-on=any'], { apt });
      await settle(server);
      const first = await request(server.port, `/fixture/${DISTS}/InRelease`);
      assert.ok(first.body.equals(gen1.inRelease));
      const count = snapshotCount(server);

      const gen2 = await world.repo.publish('stable', [demo1, demo2]);
      const tampered = Buffer.concat([gen2.inRelease, extra]);
      await writeFile(world.repo.path(`${DISTS}/InRelease`), tampered);
      const again = await request(server.port, `/fixture/${DISTS}/InRelease`);
      assert.equal(again.status, 200);
      assert.ok(again.body.equals(gen1.inRelease), 'the previous generation, never the file apt refuses');
      assert.equal(again.headers['x-aptgate-snapshot'], first.headers['x-aptgate-snapshot']);
      assert.match(
        (await request(server.port, '/-/metrics')).body.toString(),
        /aptgate_signature_failures_total\{backend="fixture"\} 1/,
      );
      const health = JSON.parse((await request(server.port, '/-/health')).body.toString()) as {
        mirrors: Array<{ mirror: string; healthy: boolean }>;
      };
      assert.equal(
        health.mirrors.find((m) => m.mirror === world.upstream.base)!.healthy,
        false,
        'the mirror is set aside',
      );

      // real apt through aptgate: no "Splitting up ... failed", still the previous generation
      const upd = await runAptOk(['update', '--error-on=any'], { apt });
      assert.doesNotMatch(upd.stdout + upd.stderr, /Splitting up|not signed|GPG error/);
      assert.equal(await candidate(apt, 'aptgate-demo'), '1.0-1');
      await settle(server);
      assert.equal(snapshotCount(server), count, 'no snapshot of the refused InRelease');
      assert.deepEqual(versions(await stagePackages(server, 'test'), 'aptgate-demo'), ['1.0-1']);

      // upstream publishes a proper InRelease again: it is taken
      await writeFile(world.repo.path(`${DISTS}/InRelease`), gen2.inRelease);
      await runAptOk(['update', '--error-on=any'], { apt });
      assert.equal(await candidate(apt, 'aptgate-demo'), '2.0-1');
    } finally {
      await server.close();
      await world.repo.publish('stable', [demo1]);
    }
  });

  it('a new suite whose InRelease apt would refuse gets a clear error; one apt accepts (CRLF) is served', async () => {
    const gen = await world.repo.publish('stable', [demo1]);
    try {
      for (const [name, v] of Object.entries(variants(gen.inRelease))) {
        if (name === 'as signed') continue;
        await writeFile(world.repo.path(`${DISTS}/InRelease`), v.doc);
        const server = await startServer(
          testConfig(path.join(world.dir, `srv-new-${name.replace(/\W+/g, '-')}`), { fixture: world.backend }),
        );
        try {
          const r = await request(server.port, `/fixture/${DISTS}/InRelease`);
          if (v.apt) {
            assert.equal(r.status, 200, `${name}: ${r.body.toString().slice(0, 300)}`);
            assert.ok(r.body.equals(v.doc), name);
            assert.equal((await request(server.port, `/fixture/${PACKAGES_GZ}`)).status, 200, name);
          } else {
            assert.equal(r.status, 502, `${name}: ${r.status}`);
            assert.equal(r.headers['x-aptgate-error'], 'SIGNATURE', name);
            assert.match(r.body.toString(), /apt refuses it/, name);
            assert.equal(snapshotCount(server), 0, name);
            assert.equal((await request(server.port, `/fixture/${PACKAGES_GZ}`)).status, 502, name);
          }
        } finally {
          await server.close();
        }
      }
      // and real apt through aptgate on the CRLF form
      await writeFile(
        world.repo.path(`${DISTS}/InRelease`),
        Buffer.from(gen.inRelease.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'),
      );
      const server = await startServer(
        testConfig(path.join(world.dir, 'srv-new-crlf-apt'), { fixture: world.backend }),
      );
      try {
        const apt = await aptEnv(path.join(world.dir, 'apt-crlf'), {
          sources: [{ uri: `${server.url}/fixture`, signedBy: world.key.keyring }],
          proxy: 'DIRECT',
        });
        await runAptOk(['update', '--error-on=any'], { apt });
        assert.equal(await candidate(apt, 'aptgate-demo'), '1.0-1');
      } finally {
        await server.close();
      }
    } finally {
      await writeFile(world.repo.path(`${DISTS}/InRelease`), gen.inRelease);
    }
  });
});
