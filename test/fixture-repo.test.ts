/**
 * Proves the repository fixtures are real: real .debs and a real gpg-signed repository that the real
 * apt-get accepts. The fixture upstream server itself is tested in fixture-upstream.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { aptEnv, downloadedDebs, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { buildDeb, field, parseControlParagraphs, readDebControl, type DebSpec } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { disposeTestKey, gpgvVerify, loadTestKey, clearsign, type TestKey } from './helpers/gpg.js';
import { helloDeb } from './helpers/paths.js';
import { FixtureRepo, formatReleaseDate, type Published } from './helpers/repo.js';
import { FixtureUpstream } from './helpers/upstream.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

const demo1: DebSpec = {
  name: 'aptgate-demo',
  version: '1.0-1',
  description: 'aptgate demo package\nUsed by the fixture tests.\n\nSecond paragraph.',
};
const demo2: DebSpec = { name: 'aptgate-demo', version: '2.0-1' };
const big: DebSpec = { name: 'aptgate-big', version: '1.0-1', arch: 'all', payloadBytes: 5 * MiB };

let dir: string;
let key: TestKey;
let rogue: TestKey;
let repo: FixtureRepo;
let up: FixtureUpstream;
let gen1: Published;
let apt: AptEnv;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-fixture-'));
  [key, rogue] = await Promise.all([loadTestKey(dir, 'archive'), loadTestKey(dir, 'rogue')]);
  repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
  gen1 = await repo.publish('stable', [demo1, big], { extraDebs: [helloDeb] });
  up = await FixtureUpstream.start(repo.root);
  apt = await aptEnv(path.join(dir, 'apt'), { sources: [{ uri: up.base, suites: ['stable'], signedBy: key.keyring }] });
});

after(async () => {
  await up?.close();
  if (key) await disposeTestKey(key);
  if (rogue) await disposeTestKey(rogue);
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

async function repoFile(rel: string): Promise<Buffer> {
  return readFile(path.join(repo.root, rel));
}

// ---------------------------------------------------------------------------------------------

test('buildDeb builds real packages with dpkg-deb', async () => {
  const out = path.join(dir, 'debs');
  const epoch = await buildDeb(
    {
      name: 'libfoo1',
      version: '1:2.3-4',
      arch: 'arm64',
      depends: 'libc6 (>= 2.36)',
      multiArch: 'same',
      source: 'foo',
      section: 'libs',
    },
    out,
  );
  assert.equal(path.basename(epoch), 'libfoo1_2.3-4_arm64.deb');
  const c = await readDebControl(epoch);
  assert.equal(field(c, 'Package'), 'libfoo1');
  assert.equal(field(c, 'Version'), '1:2.3-4');
  assert.equal(field(c, 'Architecture'), 'arm64');
  assert.equal(field(c, 'Depends'), 'libc6 (>= 2.36)');
  assert.equal(field(c, 'Multi-Arch'), 'same');
  assert.equal(field(c, 'Source'), 'foo');
  assert.equal(field(c, 'Section'), 'libs');
  assert.ok(field(c, 'Maintainer'));
  assert.match(field(c, 'Installed-Size') ?? '', /^\d+$/);

  const payload = await buildDeb({ name: 'payload-test', version: '1', payloadBytes: 200_000 }, out);
  const size = (await stat(payload)).size;
  assert.ok(size >= 200_000 && size < 200_000 + 32_768, `payload deb size ${size}`);
  const contents = (await execOk('dpkg-deb', ['--contents', payload])).toString();
  assert.match(contents, /\.\/usr\/share\/payload-test\/payload\.bin/);
  assert.match(contents, /root\/root/);
  // deterministic: rebuilding the same spec gives the same bytes
  const again = await buildDeb({ name: 'payload-test', version: '1', payloadBytes: 200_000 }, path.join(dir, 'debs2'));
  assert.equal(sha256(await readFile(again)), sha256(await readFile(payload)));
});

test('published repository: Release, Packages, by-hash and pool are complete and consistent', async () => {
  const release = gen1.release.toString('utf8');
  const [rel] = parseControlParagraphs(release);
  assert.ok(rel);
  assert.equal(field(rel, 'Origin'), 'Aptgate Test');
  assert.equal(field(rel, 'Label'), 'Aptgate Test');
  assert.equal(field(rel, 'Suite'), 'stable');
  assert.equal(field(rel, 'Codename'), 'stable');
  assert.equal(field(rel, 'Date'), formatReleaseDate(gen1.date));
  assert.match(field(rel, 'Date')!, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} UTC$/);
  assert.ok(gen1.date.getTime() <= Date.now(), 'Date is not in the future');
  assert.equal(field(rel, 'Acquire-By-Hash'), 'yes');
  assert.equal(field(rel, 'Architectures'), 'amd64');
  assert.equal(field(rel, 'Components'), 'main');
  assert.equal(field(rel, 'No-Support-for-Architecture-all'), 'Packages');
  assert.equal(field(rel, 'Valid-Until'), undefined);
  assert.deepEqual(await repoFile('dists/stable/Release'), gen1.release);
  assert.deepEqual(await repoFile('dists/stable/InRelease'), gen1.inRelease);
  assert.deepEqual(await repoFile('dists/stable/Release.gpg'), gen1.releaseGpg);
  assert.match(gen1.inRelease.toString(), /^-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n/);
  assert.match(gen1.releaseGpg.toString(), /^-----BEGIN PGP SIGNATURE-----/);

  // every listed file: listed in both sections, and hashes match what is on disk
  assert.deepEqual([...gen1.files.keys()].sort(), [
    'main/binary-amd64/Packages',
    'main/binary-amd64/Packages.gz',
    'main/binary-amd64/Packages.xz',
    'main/binary-amd64/Release',
  ]);
  for (const [p, f] of gen1.files) {
    assert.match(release, new RegExp(`^ ${f.sha256} +${f.size} ${p.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(release, new RegExp(`^ [0-9a-f]{32} +${f.size} ${p.replace(/\./g, '\\.')}$`, 'm'));
    const onDisk = path.join(repo.root, 'dists/stable', p);
    if (p.endsWith('/Packages')) {
      assert.equal(existsSync(onDisk), false, 'uncompressed Packages is listed but not published by default');
      continue;
    }
    const data = await readFile(onDisk);
    assert.equal(data.length, f.size);
    assert.equal(sha256(data), f.sha256);
    const byHash = await readFile(path.join(path.dirname(onDisk), 'by-hash', 'SHA256', f.sha256));
    assert.deepEqual(byHash, data);
  }
  const xz = await execOk('xz', ['-dc'], { input: await repoFile('dists/stable/main/binary-amd64/Packages.xz') });
  const gz = gunzipSync(await repoFile('dists/stable/main/binary-amd64/Packages.gz'));
  assert.deepEqual(xz, gz);
  assert.equal(sha256(xz), gen1.files.get('main/binary-amd64/Packages')!.sha256);

  // Packages paragraphs
  const paras = parseControlParagraphs(xz.toString('utf8'));
  assert.deepEqual(
    paras.map((p) => field(p, 'Package')),
    ['aptgate-big', 'aptgate-demo', 'hello'],
  );
  for (const p of paras) {
    for (const f of [
      'Package',
      'Version',
      'Architecture',
      'Maintainer',
      'Installed-Size',
      'Section',
      'Priority',
      'Filename',
      'Size',
      'MD5sum',
      'SHA256',
      'Description',
    ]) {
      assert.ok(field(p, f), `${field(p, 'Package')} has ${f}`);
    }
    const deb = await readFile(path.join(repo.root, field(p, 'Filename')!));
    assert.equal(String(deb.length), field(p, 'Size'));
    assert.equal(sha256(deb), field(p, 'SHA256'));
    assert.equal(createHash('md5').update(deb).digest('hex'), field(p, 'MD5sum'));
  }
  // the real hello: fields come from its control file
  const helloPara = paras.find((p) => field(p, 'Package') === 'hello')!;
  const helloCtl = await readDebControl(helloDeb);
  for (const [k, v] of helloCtl) assert.equal(field(helloPara, k), v, k);
  assert.equal(field(helloPara, 'Filename'), 'pool/main/h/hello/hello_2.10-3_amd64.deb');
  assert.match(
    field(paras[1]!, 'Description')!,
    /^aptgate demo package\n Used by the fixture tests\.\n \.\n Second paragraph\.$/,
  );

  const bigDeb = gen1.debs.find((d) => d.name === 'aptgate-big')!;
  assert.equal(bigDeb.filename, 'pool/main/a/aptgate-big/aptgate-big_1.0-1_all.deb');
  assert.ok(bigDeb.size >= 5 * MiB && bigDeb.size < 5 * MiB + 32_768, `big deb is ${bigDeb.size} bytes`);
});

test('publish options: architectures, all-packages, compressions, byHash, Valid-Until, NotAutomatic, lib* pool prefix', async () => {
  const validUntil = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000);
  const pub = await repo.publish(
    'opts',
    [
      { name: 'libzz1', version: '0.1-1', arch: 'arm64', source: 'zz' },
      { name: 'libzz-common', version: '0.1-1', arch: 'all', source: 'libzz' },
      { name: 'aptgate-demo', version: '1.0-1' },
    ],
    {
      architectures: ['amd64', 'arm64'],
      component: 'contrib',
      compressions: ['none'],
      byHash: false,
      validUntil,
      notAutomatic: true,
      butAutomaticUpgrades: true,
      codename: 'optscode',
      origin: 'O',
      label: 'L',
    },
  );
  const [rel] = parseControlParagraphs(pub.release.toString());
  assert.equal(field(rel!, 'Architectures'), 'amd64 arm64');
  assert.equal(field(rel!, 'Components'), 'contrib');
  assert.equal(field(rel!, 'Valid-Until'), formatReleaseDate(validUntil));
  assert.equal(field(rel!, 'NotAutomatic'), 'yes');
  assert.equal(field(rel!, 'ButAutomaticUpgrades'), 'yes');
  assert.equal(field(rel!, 'Acquire-By-Hash'), undefined);
  assert.equal(field(rel!, 'Codename'), 'optscode');
  assert.equal(field(rel!, 'Suite'), 'opts');
  assert.equal(field(rel!, 'Origin'), 'O');
  assert.deepEqual([...pub.files.keys()].sort(), [
    'contrib/binary-amd64/Packages',
    'contrib/binary-amd64/Release',
    'contrib/binary-arm64/Packages',
    'contrib/binary-arm64/Release',
  ]);
  assert.equal(existsSync(path.join(repo.root, 'dists/opts/contrib/binary-amd64/by-hash')), false);
  const names = async (arch: string) =>
    parseControlParagraphs((await repoFile(`dists/opts/contrib/binary-${arch}/Packages`)).toString()).map((p) =>
      field(p, 'Package'),
    );
  assert.deepEqual(await names('amd64'), ['aptgate-demo', 'libzz-common']);
  assert.deepEqual(await names('arm64'), ['libzz-common', 'libzz1']);
  assert.deepEqual(pub.debs.map((d) => d.filename).sort(), [
    'pool/contrib/a/aptgate-demo/aptgate-demo_1.0-1_amd64.deb',
    'pool/contrib/libz/libzz/libzz-common_0.1-1_all.deb',
    'pool/contrib/z/zz/libzz1_0.1-1_arm64.deb',
  ]);
  const perDir = (await repoFile('dists/opts/contrib/binary-arm64/Release')).toString();
  assert.match(perDir, /^Component: contrib$/m);
  assert.match(perDir, /^Architecture: arm64$/m);
  // a package for an architecture that is not published is an error
  await assert.rejects(repo.publish('opts', [{ name: 'x-only', version: '1', arch: 'i386' }]), /not for any of/);
});

test('signatures: gpgv accepts the archive key, rejects the rogue key and tampering', async () => {
  const ok = await gpgvVerify(key.keyring, gen1.inRelease);
  assert.ok(ok.ok, ok.stderr);
  assert.deepEqual(ok.validSigs, [key.fingerprint]);
  const detached = await gpgvVerify(key.keyring, gen1.releaseGpg, gen1.release);
  assert.ok(detached.ok, detached.stderr);

  // keyring is binary (not armored) and only holds the archive key
  const kr = await readFile(key.keyring);
  assert.notEqual(kr.subarray(0, 5).toString(), '-----');
  assert.notEqual(key.fingerprint, rogue.fingerprint);

  const forged = await repo.publish('forged', [demo1], { signWith: rogue });
  const bad = await gpgvVerify(key.keyring, forged.inRelease);
  assert.equal(bad.ok, false);
  assert.match(bad.status, /NO_PUBKEY|ERRSIG/);
  assert.equal((await gpgvVerify(key.keyring, forged.releaseGpg, forged.release)).ok, false);
  assert.ok((await gpgvVerify(rogue.keyring, forged.inRelease)).ok, 'the rogue signature itself is well-formed');

  const tampered = Buffer.from(gen1.inRelease.toString().replace('Origin: Aptgate Test', 'Origin: Aptgate Evil'));
  assert.equal((await gpgvVerify(key.keyring, tampered)).ok, false);
  assert.equal(
    (await gpgvVerify(key.keyring, gen1.releaseGpg, Buffer.concat([gen1.release, Buffer.from('x')]))).ok,
    false,
  );

  // parallel signing on one key home is fine
  const sigs = await Promise.all(Array.from({ length: 6 }, (_, i) => clearsign(key, Buffer.from(`message ${i}\n`))));
  for (const s of sigs) assert.ok((await gpgvVerify(key.keyring, s)).ok);
});

test('real apt-get: update, install --download-only and download against the fixture upstream, isolated from the host', async () => {
  up.resetCounts();
  // isolation: nothing that the host's /etc/apt adds shows up in our configuration
  const ours = (await runAptOk(['dump'], { apt, command: 'apt-config' })).stdout.split('\n');
  assert.ok(ours.includes(`Dir::Etc::parts "${apt.dir}/etc/apt.conf.d/";`), 'config parts are ours');
  assert.ok(ours.includes(`Dir::Etc::sourceparts "${apt.dir}/etc/sources.list.d/";`));
  assert.ok(ours.includes(`Dir::State::status "${apt.statusFile}";`));
  assert.ok(ours.includes(`Dir::Etc::trustedparts "${apt.dir}/etc/trusted.gpg.d/";`));
  assert.ok(
    !ours.some((l) => /^(Dir|Dir::.*) "\/(etc|var)\//.test(l)),
    `no host dirs: ${ours.filter((l) => /"\/(etc|var)\//.test(l)).join(', ')}`,
  );
  const host = (
    await runAptOk(['dump'], {
      apt: { ...apt, options: [], env: { ...apt.env, APT_CONFIG: '' } },
      command: 'apt-config',
    })
  ).stdout.split('\n');
  const pureConf = path.join(dir, 'pure-apt.conf');
  await writeFile(
    pureConf,
    `Dir::Etc::Main "${path.join(dir, 'nonexistent.conf')}";\nDir::Etc::Parts "${path.join(dir, 'nonexistent.d')}/";\n`,
  );
  const pure = new Set(
    (
      await runAptOk(['dump'], {
        apt: { ...apt, options: [], env: { ...apt.env, APT_CONFIG: pureConf } },
        command: 'apt-config',
      })
    ).stdout.split('\n'),
  );
  const hostOnly = host.filter((l) => l !== '' && !pure.has(l));
  const oursSet = new Set(ours);
  // keys that our apt.conf sets itself may coincide with the host's values
  const ourKeys = apt.options.filter((o) => o !== '-o').map((o) => o.slice(0, o.indexOf('=')).toLowerCase());
  const leaked = hostOnly.filter(
    (l) =>
      oursSet.has(l) &&
      !ourKeys.some((k) => l.toLowerCase().startsWith(`${k} `) || l.toLowerCase().startsWith(`${k}::`)),
  );
  assert.deepEqual(leaked, [], 'host-only apt configuration leaked into the isolated environment');
  assert.equal(await readFile(apt.statusFile, 'utf8'), '', 'status file exists and is empty');

  const upd = await runAptOk(['update'], { apt });
  assert.doesNotMatch(upd.stdout + upd.stderr, /^(W|E):/m);
  // only our source is used
  const getLines = upd.stdout.split('\n').filter((l) => /^(Get|Hit|Ign|Err):/.test(l));
  assert.ok(getLines.length >= 2, upd.stdout);
  for (const l of getLines) assert.ok(l.includes(up.url), `unexpected source: ${l}`);
  const policy = (await runAptOk(['policy'], { apt, command: 'apt-cache' })).stdout;
  const sources = policy.split('\n').filter((l) => /^\s+\d+ \S+/.test(l));
  assert.deepEqual(
    sources.map((l) => l.trim().split(/\s+/)[1]),
    [apt.statusFile, up.url],
  );
  assert.equal(up.hits('dists/stable/InRelease'), 1);
  // apt used by-hash for the Packages index
  assert.equal(
    up.hits(`dists/stable/main/binary-amd64/by-hash/SHA256/${gen1.files.get('main/binary-amd64/Packages.xz')!.sha256}`),
    1,
  );

  const show = (await runAptOk(['show', 'hello'], { apt, command: 'apt-cache' })).stdout;
  assert.match(show, /^Version: 2\.10-3$/m);

  const inst = await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt });
  assert.match(inst.stdout, /aptgate-demo amd64 1\.0-1/);
  assert.deepEqual(await downloadedDebs(apt), ['aptgate-demo_1.0-1_amd64.deb']);
  const got = await readFile(path.join(apt.archivesDir, 'aptgate-demo_1.0-1_amd64.deb'));
  assert.equal(sha256(got), gen1.debs.find((d) => d.name === 'aptgate-demo')!.sha256);

  // apt-get download (no dependency resolution: hello needs libc6 which is not in the repo)
  const dl = path.join(dir, 'dl');
  await mkdir(dl);
  await runAptOk(['download', 'hello', 'aptgate-big'], { apt, cwd: dl });
  assert.deepEqual((await readdir(dl)).sort(), ['aptgate-big_1.0-1_all.deb', 'hello_2.10-3_amd64.deb']);
  assert.equal(sha256(await readFile(path.join(dl, 'hello_2.10-3_amd64.deb'))), sha256(await readFile(helloDeb)));
  assert.equal(
    sha256(await readFile(path.join(dl, 'aptgate-big_1.0-1_all.deb'))),
    gen1.debs.find((d) => d.name === 'aptgate-big')!.sha256,
  );

  // a repository signed by the rogue key is refused by apt
  const rogueApt = await aptEnv(path.join(dir, 'apt-rogue'), {
    sources: [{ uri: up.base, suites: ['forged'], signedBy: key.keyring }],
  });
  const refused = await runApt(['update'], { apt: rogueApt });
  assert.match(refused.stdout + refused.stderr, /NO_PUBKEY|not signed|signatures couldn't be verified/);
});

test('second publish: new InRelease with a later Date, old by-hash files kept, apt sees the new version', async () => {
  const gen2 = await repo.publish('stable', [demo1, demo2, big], { extraDebs: [helloDeb] });
  assert.notDeepEqual(gen2.inRelease, gen1.inRelease);
  assert.ok(gen2.date.getTime() >= gen1.date.getTime() + 1000, 'Date strictly later');
  assert.equal((await stat(repo.path('dists/stable/InRelease'))).mtime.getTime(), gen2.date.getTime(), 'mtime = Date');
  const oldXz = gen1.files.get('main/binary-amd64/Packages.xz')!.sha256;
  const newXz = gen2.files.get('main/binary-amd64/Packages.xz')!.sha256;
  assert.notEqual(oldXz, newXz);
  const byHashDir = 'dists/stable/main/binary-amd64/by-hash/SHA256';
  const kept = await readdir(repo.path(byHashDir));
  assert.ok(kept.includes(oldXz) && kept.includes(newXz));
  assert.ok(kept.includes(gen1.files.get('main/binary-amd64/Packages.gz')!.sha256));
  // the old by-hash file is still served
  const old = await fetch(`${up.base}/${byHashDir}/${oldXz}`);
  assert.equal(old.status, 200);
  assert.equal(sha256(Buffer.from(await old.arrayBuffer())), oldXz);
  // unchanged pool file was reused, not rebuilt
  assert.equal(
    gen2.debs.find((d) => d.name === 'aptgate-big')!.sha256,
    gen1.debs.find((d) => d.name === 'aptgate-big')!.sha256,
  );
  assert.equal(gen2.debs.filter((d) => d.name === 'aptgate-demo').length, 2);
  // gpgv still happy
  assert.ok((await gpgvVerify(key.keyring, gen2.inRelease)).ok);

  up.resetCounts();
  await runAptOk(['update'], { apt });
  assert.equal(up.hits(`${byHashDir}/${newXz}`), 1);
  await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt });
  const got = await readFile(path.join(apt.archivesDir, 'aptgate-demo_2.0-1_amd64.deb'));
  assert.equal(sha256(got), gen2.debs.find((d) => d.name === 'aptgate-demo' && d.version === '2.0-1')!.sha256);

  // a third publish right away still gets a strictly later Date, never in the future
  const gen3 = await repo.publish('stable', [demo1, demo2, big], { extraDebs: [helloDeb] });
  assert.ok(gen3.date.getTime() >= gen2.date.getTime() + 1000);
  assert.ok(gen3.date.getTime() <= Date.now());
});
