// The LTSP-style chroot fixture (helpers/chroot.ts) end to end: a real `debootstrap
// --variant=minbase` of bookworm amd64 through aptgate in proxy mode, from the test-signed copy of
// the minbase .debs (test/fetch-minbase.sh), under a mirror name that does not resolve.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CHROOT_ALIAS, CHROOT_BACKEND, makeChrootWorld, mountsUnder, removeChroot, sharedChroot,
  type Chroot, type ChrootWorld,
} from './helpers/chroot.js';
import { field, parseControlParagraphs } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

describe('fixture: a bookworm minbase chroot made by debootstrap through aptgate', () => {
  let world: ChrootWorld | undefined;
  let server: TestServer | undefined;
  let chroot: Chroot | undefined;

  before(async () => {
    world = await makeChrootWorld();
    server = await startServer(testConfig(path.join(world.dir, 'srv'), { [CHROOT_BACKEND]: world.backend }, world.tweak));
    // sharedChroot: bootstrapChroot(world, server.url, <world.dir>/chroot), once per process
    chroot = await sharedChroot(world, server.url);
  });
  after(async () => {
    await server?.close();
    if (chroot) await removeChroot(chroot.target);
    await world?.close();
  });

  it('installs apt and dpkg, for amd64, and every minbase package', async (t) => {
    t.diagnostic(`debootstrap through aptgate took ${chroot!.ms} ms`);
    const status = parseControlParagraphs(await readFile(path.join(chroot!.target, 'var', 'lib', 'dpkg', 'status'), 'utf8'));
    const installed = new Map(status.filter((p) => field(p, 'Status') === 'install ok installed').map((p) => [field(p, 'Package')!, p]));
    for (const name of ['apt', 'dpkg']) assert.ok(installed.has(name), `${name} is installed in the chroot`);
    assert.equal(field(installed.get('dpkg')!, 'Architecture'), 'amd64');
    const minbase = [...world!.minbase.fields.keys()].map((k) => k.split(' ')[0]!).sort();
    assert.deepEqual([...installed.keys()].sort(), minbase, 'exactly the cached minbase set is installed');
    const arch = (await execOk('chroot', [chroot!.target, 'dpkg', '--print-architecture'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } })).toString('utf8').trim();
    assert.equal(arch, 'amd64');
  });

  it('sources.list names the unresolvable alias', async () => {
    assert.equal(await readFile(path.join(chroot!.target, 'etc', 'apt', 'sources.list'), 'utf8'), `deb http://${CHROOT_ALIAS} bookworm main\n`);
  });

  it('every pool .deb and the InRelease came from the fixture upstream, fetched by aptgate (not by wget)', () => {
    const up = world!.upstream;
    assert.ok(up.hits('dists/bookworm/InRelease') >= 1, 'InRelease fetched upstream');
    const missed = world!.gen1.debs.filter((d) => up.hits(d.filename) < 1).map((d) => d.filename);
    assert.deepEqual(missed, [], 'pool files the upstream never served');
    const agents = new Set(up.requests().map((r) => String(r.headers['user-agent'] ?? '')));
    assert.ok([...agents].every((a) => a.startsWith('aptgate/')), `upstream user agents: ${[...agents].join(', ')}`);
  });

  it('leaves no mount under the chroot', async () => {
    assert.deepEqual(await mountsUnder(chroot!.target), []);
  });

  it('sharedChroot: one chroot per world and proxy in a process, failures included', async () => {
    assert.equal(await sharedChroot(world!, server!.url), chroot, 'the same chroot, not a second debootstrap');
    // a proxy that refuses connections: the failure is memoised too, debootstrap runs once
    const dead = 'http://127.0.0.1:9';
    const a = sharedChroot(world!, dead);
    assert.equal(sharedChroot(world!, dead), a);
    await assert.rejects(a, (err: Error) => err.message.includes(`http_proxy=${dead} debootstrap`) && err.message.includes('exited'));
    assert.deepEqual(await mountsUnder(world!.dir), []);
  });
});
