// The LTSP-style chroot fixture (helpers/chroot.ts) end to end: a real `debootstrap
// --variant=minbase` of bookworm amd64 through aptgate in proxy mode, from the test-signed copy of
// the minbase .debs (test/fetch-minbase.sh), under a mirror name that does not resolve; then an
// i386 one from a repository of both architectures, run on this amd64 host under linux32.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  bootstrapChroot,
  CHROOT_ALIAS,
  CHROOT_BACKEND,
  makeChrootWorld,
  mountsUnder,
  removeChroot,
  sharedChroot,
  type Chroot,
  type ChrootWorld,
} from './helpers/chroot.js';
import { field, parseControlParagraphs, type DebSpec } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

describe('fixture: a bookworm minbase chroot made by debootstrap through aptgate', () => {
  let world: ChrootWorld | undefined;
  let server: TestServer | undefined;
  let chroot: Chroot | undefined;

  before(async () => {
    world = await makeChrootWorld();
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { [CHROOT_BACKEND]: world.backend }, world.tweak),
    );
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
    const status = parseControlParagraphs(
      await readFile(path.join(chroot!.target, 'var', 'lib', 'dpkg', 'status'), 'utf8'),
    );
    const installed = new Map(
      status.filter((p) => field(p, 'Status') === 'install ok installed').map((p) => [field(p, 'Package')!, p]),
    );
    for (const name of ['apt', 'dpkg']) assert.ok(installed.has(name), `${name} is installed in the chroot`);
    assert.equal(field(installed.get('dpkg')!, 'Architecture'), 'amd64');
    const minbase = [...world!.minbase.fields.keys()].map((k) => k.split(' ')[0]!).sort();
    assert.deepEqual([...installed.keys()].sort(), minbase, 'exactly the cached minbase set is installed');
    const arch = (
      await execOk('chroot', [chroot!.target, 'dpkg', '--print-architecture'], {
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      })
    )
      .toString('utf8')
      .trim();
    assert.equal(arch, 'amd64');
  });

  it('sources.list names the unresolvable alias', async () => {
    assert.equal(
      await readFile(path.join(chroot!.target, 'etc', 'apt', 'sources.list'), 'utf8'),
      `deb http://${CHROOT_ALIAS} bookworm main\n`,
    );
  });

  it('every pool .deb and the InRelease came from the fixture upstream, fetched by aptgate (not by wget)', () => {
    const up = world!.upstream;
    assert.ok(up.hits('dists/bookworm/InRelease') >= 1, 'InRelease fetched upstream');
    const missed = world!.gen1.debs.filter((d) => up.hits(d.filename) < 1).map((d) => d.filename);
    assert.deepEqual(missed, [], 'pool files the upstream never served');
    const agents = new Set(up.requests().map((r) => String(r.headers['user-agent'] ?? '')));
    assert.ok(
      [...agents].every((a) => a.startsWith('aptgate/')),
      `upstream user agents: ${[...agents].join(', ')}`,
    );
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
    await assert.rejects(
      a,
      (err: Error) => err.message.includes(`http_proxy=${dead} debootstrap`) && err.message.includes('exited'),
    );
    assert.deepEqual(await mountsUnder(world!.dir), []);
  });

  it('refuses an architecture the world does not publish', async () => {
    assert.deepEqual(world!.architectures, ['amd64']);
    await assert.rejects(
      bootstrapChroot(world!, server!.url, path.join(world!.dir, 'never-i386'), { arch: 'i386' }),
      /the world publishes amd64, not i386/,
    );
  });
});

/** `name version arch` of the stanzas of a published Packages.gz */
async function listed(world: ChrootWorld, arch: string): Promise<string[]> {
  const text = gunzipSync(await readFile(world.repo.path(`dists/bookworm/main/binary-${arch}/Packages.gz`))).toString(
    'utf8',
  );
  return parseControlParagraphs(text)
    .map((p) => `${field(p, 'Package')} ${field(p, 'Version')} ${field(p, 'Architecture')}`)
    .sort();
}

describe('fixture: an i386 chroot, from a repository of amd64 and i386, through aptgate, run under linux32', () => {
  const tool: DebSpec = { name: 'aptgate-i386-tool', version: '1.0-1', arch: 'i386' };
  const doc: DebSpec = { name: 'aptgate-doc', version: '1.0-1', arch: 'all' };
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
  let world: ChrootWorld | undefined;
  let server: TestServer | undefined;
  let chroot: Chroot | undefined;

  before(async () => {
    world = await makeChrootWorld({ architectures: ['amd64', 'i386'], debs: [tool, doc] });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { [CHROOT_BACKEND]: world.backend }, world.tweak),
    );
    chroot = await sharedChroot(world, server.url, { arch: 'i386' });
  });
  after(async () => {
    await server?.close();
    if (chroot) await removeChroot(chroot.target);
    await world?.close();
  });

  it('publishes binary-amd64 and binary-i386 in one suite, the Architecture: all .debs once', async () => {
    const w = world!;
    assert.deepEqual(w.architectures, ['amd64', 'i386']);
    assert.deepEqual([...w.minbases.keys()], ['amd64', 'i386']);
    assert.match(w.gen1.release.toString('utf8'), /^Architectures: amd64 i386$/m);
    const amd64 = w.minbases.get('amd64')!;
    const i386 = w.minbases.get('i386')!;
    const all = [...amd64.fields.keys()].filter((k) => k.endsWith(' all'));
    assert.ok(all.length > 0, 'the minbase has Architecture: all packages');
    assert.deepEqual(
      all,
      [...i386.fields.keys()].filter((k) => k.endsWith(' all')),
      'both caches hold the same Architecture: all packages',
    );
    // each pool file once: the union of both minbases plus the two test debs
    const published = w.gen1.debs.map((d) => `${d.name} ${d.version} ${d.arch}`).sort();
    assert.equal(new Set(published).size, published.length);
    const union = [...new Set([...amd64.fields.keys(), ...i386.fields.keys()])];
    assert.deepEqual(published, [...union, 'aptgate-i386-tool 1.0-1 i386', 'aptgate-doc 1.0-1 all'].sort());
    // binary-<arch>: its own minbase plus the test debs of its arch or all
    assert.deepEqual(await listed(w, 'amd64'), [...amd64.fields.keys(), 'aptgate-doc 1.0-1 all'].sort());
    assert.deepEqual(
      await listed(w, 'i386'),
      [...i386.fields.keys(), 'aptgate-i386-tool 1.0-1 i386', 'aptgate-doc 1.0-1 all'].sort(),
    );
  });

  it('installs apt and dpkg for i386, and every i386 minbase package', async (t) => {
    t.diagnostic(`debootstrap --arch=i386 through aptgate took ${chroot!.ms} ms`);
    const status = parseControlParagraphs(
      await readFile(path.join(chroot!.target, 'var', 'lib', 'dpkg', 'status'), 'utf8'),
    );
    const installed = new Map(
      status.filter((p) => field(p, 'Status') === 'install ok installed').map((p) => [field(p, 'Package')!, p]),
    );
    for (const name of ['apt', 'dpkg']) assert.ok(installed.has(name), `${name} is installed in the chroot`);
    assert.equal(field(installed.get('dpkg')!, 'Architecture'), 'i386');
    assert.equal(field(installed.get('libc6')!, 'Architecture'), 'i386');
    const minbase = [...world!.minbases.get('i386')!.fields.keys()].map((k) => k.split(' ')[0]!).sort();
    assert.deepEqual([...installed.keys()].sort(), minbase, 'exactly the cached i386 minbase set is installed');
    assert.equal(
      await readFile(path.join(chroot!.target, 'etc', 'apt', 'sources.list'), 'utf8'),
      `deb http://${CHROOT_ALIAS} bookworm main\n`,
    );
  });

  it('runs on this amd64 host under linux32: uname -m is i686, dpkg --print-architecture is i386', async () => {
    const uname = (await execOk('linux32', ['chroot', chroot!.target, 'uname', '-m'], { env })).toString('utf8').trim();
    assert.equal(uname, 'i686');
    const arch = (await execOk('linux32', ['chroot', chroot!.target, 'dpkg', '--print-architecture'], { env }))
      .toString('utf8')
      .trim();
    assert.equal(arch, 'i386');
  });

  it('every i386 and all minbase .deb came from the fixture upstream through aptgate, no amd64 one', () => {
    const w = world!;
    const up = w.upstream;
    const minbase = new Set(w.minbases.get('i386')!.fields.keys());
    const wanted = w.gen1.debs.filter((d) => minbase.has(`${d.name} ${d.version} ${d.arch}`));
    assert.equal(wanted.length, minbase.size);
    assert.deepEqual(
      wanted.filter((d) => up.hits(d.filename) < 1).map((d) => d.filename),
      [],
      'pool files the upstream never served',
    );
    assert.deepEqual(
      w.gen1.debs.filter((d) => d.arch === 'amd64' && up.hits(d.filename) > 0).map((d) => d.filename),
      [],
      'amd64 pool files fetched',
    );
    assert.ok(up.hits('dists/bookworm/InRelease') >= 1, 'InRelease fetched upstream');
    const agents = new Set(up.requests().map((r) => String(r.headers['user-agent'] ?? '')));
    assert.ok(
      [...agents].every((a) => a.startsWith('aptgate/')),
      `upstream user agents: ${[...agents].join(', ')}`,
    );
  });

  it('sharedChroot keys by architecture; no mount remains', async () => {
    assert.equal(await sharedChroot(world!, server!.url, { arch: 'i386' }), chroot);
    assert.deepEqual(await mountsUnder(world!.dir), []);
  });
});
