// Issue 5 (release gate): the server's signing key and one signed suite of a stage view, checked
// with gpgv and the real apt against a real signed fixture repository.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { ServerKey } from '../src/gate/key.js';
import { PublishStamps } from '../src/gate/stamp.js';
import { isSecuritySnapshot } from '../src/gate/stages.js';
import {
  paragraphFields,
  publishSuite,
  splitParagraphs,
  type ParagraphFields,
  type PublishSource,
} from '../src/gate/publish.js';
import { aptEnv, downloadedDebs, runApt, runAptOk } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { disposeTestKey, gpgvVerify, loadTestKey, type TestKey } from './helpers/gpg.js';
import { FixtureRepo } from './helpers/repo.js';
import { FixtureUpstream } from './helpers/upstream.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const d = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({ name, version, ...more });
const DEBS = [
  d('alpha', '1.0-1'),
  d('alpha', '2.0-1'),
  d('beta', '1.0-1+b1', { source: 'beta-src (1.0-1)' }),
  d('delta', '1.0-1'),
  d('gamma', '1.0-1', { arch: 'all' }),
  d('alpha', '1.0-1', { arch: 'i386' }),
];
const keep = (p: ParagraphFields) =>
  (p.package === 'alpha' && p.version === '1.0-1') || p.source === 'beta-src' || p.package === 'gamma';

/** upstream paragraphs as raw text (the fixture writes no \r and no trailing blank line) */
function rawParagraphs(packages: Buffer): string[] {
  return packages
    .toString('utf8')
    .replace(/\n+$/, '')
    .split('\n\n')
    .map((p) => `${p}\n`);
}

async function collect(chunks: Array<Buffer | string>): Promise<string[]> {
  const out: string[] = [];
  for await (const p of splitParagraphs(Readable.from(chunks))) out.push(p.toString('utf8'));
  return out;
}

function releaseHashes(release: string): Map<string, { sha256: string; size: number }> {
  const section = release.split(/^SHA256:\n/m)[1]!;
  const m = new Map<string, { sha256: string; size: number }>();
  for (const l of section.split('\n')) {
    const f = /^ ([0-9a-f]{64}) +(\d+) (\S+)$/.exec(l);
    if (!f) break;
    m.set(f[3]!, { sha256: f[1]!, size: Number(f[2]) });
  }
  return m;
}

describe('issue 5: signed stage suites (gate/key.ts, gate/publish.ts)', () => {
  let dir: string;
  let upstreamKey: TestKey;
  let repo: FixtureRepo;
  let key: ServerKey;
  let keyring: string;
  const opened: ServerKey[] = [];
  let stage: string; // served as http://.../stage/test/fixture, with pool/ linked to the fixture's pool
  let suiteDir: string;
  let published: Awaited<ReturnType<typeof publishSuite>>;
  let sources: (arch: string) => PublishSource[];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-gp-'));
    upstreamKey = await loadTestKey(dir);
    repo = await FixtureRepo.create(path.join(dir, 'repo'), upstreamKey);
    await repo.publish('stable', DEBS, { architectures: ['amd64', 'i386'], codename: 'bookworm' });
    key = await ServerKey.open(path.join(dir, 'key'), { name: 'gate test' });
    opened.push(key);
    keyring = path.join(dir, 'stage.gpg');
    await writeFile(keyring, await key.exportBinary());
    stage = path.join(dir, 'stage');
    suiteDir = path.join(stage, 'dists', 'stable');
    // the same upstream index twice (xz and gz): a paragraph kept from both is written once
    sources = (arch) => [
      { file: repo.path(`dists/stable/main/binary-${arch}/Packages.xz`), compression: 'xz', keep },
      { file: repo.path(`dists/stable/main/binary-${arch}/Packages.gz`), compression: 'gz', keep },
    ];
    published = await publishSuite({
      dir: stage,
      suite: 'stable',
      date: new Date(Date.now() - 60_000),
      key,
      fields: {
        origin: 'Aptgate Test',
        label: 'Aptgate Test',
        suite: 'stable',
        codename: 'bookworm',
        description: 'stage test',
      },
      targets: ['amd64', 'i386'].map((architecture) => ({
        component: 'main',
        architecture,
        sources: sources(architecture),
      })),
    });
    await symlink(repo.path('pool'), path.join(stage, 'pool'));
  });

  after(async () => {
    for (const k of opened) await k.close();
    await disposeTestKey(upstreamKey);
    await rm(dir, { recursive: true, force: true });
  });

  it('signs InRelease and Release.gpg so that gpgv verifies them with the exported key', async () => {
    const [inRelease, release, releaseGpg] = await Promise.all(
      ['InRelease', 'Release', 'Release.gpg'].map((f) => readFile(path.join(suiteDir, f))),
    );
    const clear = await gpgvVerify(keyring, inRelease!);
    assert.ok(clear.ok, clear.stderr);
    assert.deepEqual(clear.validSigs, [key.fingerprint]);
    assert.ok(inRelease!.includes(release!), 'InRelease signs the Release text');
    const detached = await gpgvVerify(keyring, releaseGpg!, release!);
    assert.deepEqual(detached.validSigs, [key.fingerprint]);
    assert.equal((await gpgvVerify(upstreamKey.keyring, inRelease!)).ok, false);
    assert.equal(published.inReleaseSha256, sha256(inRelease!));
    // the armored export is the binary one in ASCII armor
    const armored = await key.exportArmored();
    assert.match(armored, /^-----BEGIN PGP PUBLIC KEY BLOCK-----\n/);
    const body = armored
      .split('\n\n')[1]!
      .split('\n')
      .filter((l) => l && !l.startsWith('=') && !l.startsWith('-----'))
      .join('');
    assert.deepEqual(Buffer.from(body, 'base64'), await readFile(keyring));
  });

  it('writes exactly the kept upstream paragraphs, byte for byte, and a Release that names them', async () => {
    const release = await readFile(path.join(suiteDir, 'Release'), 'utf8');
    assert.match(
      release,
      /^Origin: Aptgate Test\nLabel: Aptgate Test\nSuite: stable\nCodename: bookworm\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d UTC\n/,
    );
    assert.match(release, /^Acquire-By-Hash: no$/m);
    assert.match(release, /^Architectures: amd64 i386$/m);
    assert.match(release, /^Components: main$/m);
    assert.doesNotMatch(release, /Valid-Until|MD5Sum/);
    const hashes = releaseHashes(release);
    assert.deepEqual([...hashes.keys()].sort(), [
      'main/binary-amd64/Packages',
      'main/binary-amd64/Packages.gz',
      'main/binary-i386/Packages',
      'main/binary-i386/Packages.gz',
    ]);
    for (const [rel, h] of hashes) {
      const data = await readFile(path.join(suiteDir, rel));
      assert.deepEqual({ sha256: sha256(data), size: data.length }, h, rel);
    }
    let total = 0;
    const filenames = new Set<string>();
    for (const arch of ['amd64', 'i386']) {
      const upstream = gunzipSync(await readFile(repo.path(`dists/stable/main/binary-${arch}/Packages.gz`)));
      const kept = rawParagraphs(upstream).filter((p) => keep(paragraphFields(Buffer.from(p)) as ParagraphFields));
      const ours = await readFile(path.join(suiteDir, `main/binary-${arch}/Packages`));
      assert.equal(ours.toString('utf8'), kept.map((p) => `${p}\n`).join(''), arch);
      const gz = await readFile(path.join(suiteDir, `main/binary-${arch}/Packages.gz`));
      assert.deepEqual(gunzipSync(gz), ours);
      assert.deepEqual([...gz.subarray(3, 8)], [0, 0, 0, 0, 0], 'no name and no mtime in the gzip header');
      total += kept.length;
      for (const p of kept) filenames.add(paragraphFields(Buffer.from(p)).filename!);
    }
    assert.equal(published.packages, total);
    assert.equal(total, 5); // amd64: alpha 1.0, beta, gamma; i386: alpha 1.0, gamma
    // (FixtureRepo files a spec's pool directory under its whole Source value, "beta-src (1.0-1)")
    assert.deepEqual([...published.filenames].map((f) => path.basename(f)).sort(), [
      'alpha_1.0-1_amd64.deb',
      'alpha_1.0-1_i386.deb',
      'beta_1.0-1+b1_amd64.deb',
      'gamma_1.0-1_all.deb',
    ]);
    assert.deepEqual([...published.filenames].sort(), [...filenames].sort());
  });

  it('serves a repository the real apt accepts: only the kept versions, installable from the pool', async () => {
    const up = await FixtureUpstream.start(stage, { prefix: '/stage/test/fixture' });
    try {
      const apt = await aptEnv(path.join(dir, 'apt'), {
        sources: [{ uri: up.base, suites: ['stable'], signedBy: keyring }],
        proxy: 'DIRECT',
        config: { 'Acquire::Retries': '0' },
      });
      const upd = await runAptOk(['update', '--error-on=any'], { apt });
      assert.doesNotMatch(upd.stdout + upd.stderr, /^W:|NO_PUBKEY|not signed/m);
      const policy = await runAptOk(['policy', 'alpha'], { apt, command: 'apt-cache' });
      assert.match(policy.stdout, /Candidate: 1\.0-1\n/);
      assert.doesNotMatch(policy.stdout, /2\.0-1/);
      assert.notEqual((await runApt(['show', 'delta'], { apt, command: 'apt-cache' })).code, 0);
      assert.notEqual((await runApt(['install', '--download-only', 'alpha=2.0-1'], { apt })).code, 0);
      await runAptOk(['install', '--download-only', 'alpha', 'beta', 'gamma'], { apt });
      assert.deepEqual(await downloadedDebs(apt), [
        'alpha_1.0-1_amd64.deb',
        'beta_1.0-1+b1_amd64.deb',
        'gamma_1.0-1_all.deb',
      ]);
      assert.ok(up.hits('dists/stable/InRelease') >= 1);
    } finally {
      await up.close();
    }
  });

  it('republishing replaces the suite and leaves no temporary directory', async () => {
    const again = await publishSuite({
      dir: stage,
      suite: 'stable',
      date: new Date(Date.now() - 30_000),
      key,
      fields: { suite: 'stable', codename: 'bookworm' },
      targets: [{ component: 'main', architecture: 'amd64', sources: sources('amd64').slice(0, 1) }],
    });
    assert.notEqual(again.inReleaseSha256, published.inReleaseSha256);
    assert.equal(again.packages, 3);
    assert.deepEqual(await readdir(path.join(stage, 'dists')), ['stable']);
    assert.deepEqual(await readdir(suiteDir), ['InRelease', 'Release', 'Release.gpg', 'main']);
    assert.deepEqual(await readdir(path.join(suiteDir, 'main')), ['binary-amd64']);
  });

  it('ServerKey: reopening finds the same key; concurrent first opens (processes and calls) make one key', async () => {
    const again = await ServerKey.open(path.join(dir, 'key'));
    opened.push(again);
    assert.equal(again.fingerprint, key.fingerprint);
    assert.match(key.fingerprint, /^[0-9A-F]{40}$/);

    const modUrl = new URL('../src/gate/key.js', import.meta.url).href;
    const shared = path.join(dir, 'k2');
    const script = `import { ServerKey } from ${JSON.stringify(modUrl)};
      const k = await ServerKey.open(process.argv[1]); process.stdout.write(k.fingerprint); await k.close();`;
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        execOk(process.execPath, ['--input-type=module', '-e', script, shared], { timeoutMs: 120_000 }),
      ),
    );
    const fprs = new Set(runs.map((r) => r.toString('utf8')));
    assert.equal(fprs.size, 1, [...fprs].join(' '));
    assert.equal((await readdir(path.join(shared, 'private-keys-v1.d'))).length, 1);

    const inProcess = path.join(dir, 'k3');
    const both = await Promise.all([ServerKey.open(inProcess), ServerKey.open(inProcess)]);
    opened.push(...both);
    assert.equal(both[0]!.fingerprint, both[1]!.fingerprint);
    assert.equal((await readdir(path.join(inProcess, 'private-keys-v1.d'))).length, 1);
    assert.ok(!(await readdir(inProcess)).includes('.aptgate-key.lock'));
    assert.equal((await stat(inProcess)).mode & 0o777, 0o700);
  });

  it('splits paragraphs across any chunk boundary, with \\r\\n lines and whitespace-only separators', async () => {
    const text =
      '\n\nPackage: a\r\nVersion: 1\r\nDescription: x\r\n more\r\n\r\n \t\nPackage: b\nSource: bs (2)\nVersion: 2\n\n\n\nPackage: c\nVersion: 3';
    const expected = [
      'Package: a\r\nVersion: 1\r\nDescription: x\r\n more\r\n',
      'Package: b\nSource: bs (2)\nVersion: 2\n',
      'Package: c\nVersion: 3\n',
    ];
    assert.deepEqual(await collect([text]), expected);
    for (const size of [1, 2, 3, 7]) {
      const buf = Buffer.from(text);
      const chunks: Buffer[] = [];
      for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
      assert.deepEqual(await collect(chunks), expected, `chunks of ${size}`);
    }
    assert.deepEqual(paragraphFields(Buffer.from(expected[0]!)), {
      package: 'a',
      version: '1',
      architecture: undefined,
      source: 'a',
      filename: '',
    });
    assert.equal(paragraphFields(Buffer.from('PACKAGE: b\nsource: bs (2)\n')).source, 'bs');
  });

  it('streams a large plain source (paragraphs cut by read chunks) and keeps the selected ones', async () => {
    const paras: string[] = [];
    for (let i = 0; i < 4000; i++) {
      paras.push(
        `Package: p${i}\nVersion: 1.${i}\nArchitecture: amd64\nDescription: filler ${'x'.repeat(i % 97)}\n long text\nFilename: pool/main/p/p${i}/p${i}_1.${i}_amd64.deb\n`,
      );
    }
    const file = path.join(dir, 'Packages.plain');
    await writeFile(file, paras.join('\n'));
    assert.ok(paras.join('\n').length > 2 * 256 * 1024, 'larger than two read chunks');
    const r = await publishSuite({
      dir: path.join(dir, 'big'),
      suite: 'big',
      date: new Date(),
      key,
      fields: {},
      targets: [
        {
          component: 'main',
          architecture: 'amd64',
          sources: [{ file, compression: 'none', keep: (p) => Number(p.version.slice(2)) % 3 === 0 }],
        },
      ],
    });
    const kept = paras.filter((_, i) => i % 3 === 0);
    assert.equal(r.packages, kept.length);
    assert.equal(r.filenames.size, kept.length);
    const out = await readFile(path.join(dir, 'big/dists/big/main/binary-amd64/Packages'), 'utf8');
    assert.equal(out, kept.map((p) => `${p}\n`).join(''));
  });
});

describe('PublishStamps: the Last-Modified of a suite written again', () => {
  it('is this second, or a second after the last one given to the suite', () => {
    const stamps = new PublishStamps();
    const t = Date.UTC(2026, 11, 7, 12, 0, 0);
    assert.equal(stamps.next('test\0fixture\0stable', t + 300), t);
    // written again within the same second: the next second, then the one after
    assert.equal(stamps.next('test\0fixture\0stable', t + 700), t + 1000);
    assert.equal(stamps.next('test\0fixture\0stable', t + 900), t + 2000);
    // another suite has its own dates; the clock catching up wins again
    assert.equal(stamps.next('production\0fixture\0stable', t + 900), t);
    assert.equal(stamps.next('test\0fixture\0stable', t + 5500), t + 5000);
    // a generation rewritten after a restart: after what its files said before
    assert.equal(new PublishStamps().next('test\0fixture\0stable', t + 100, t + 400), t + 1000);
  });
});

describe("isSecuritySnapshot: the cooldown's security lane", () => {
  const snap = (suite: string, suiteField: string | null, label: string | null) =>
    ({ suite, suiteField, label }) as unknown as Parameters<typeof isSecuritySnapshot>[0];
  it("by the suite or its Suite field, or Debian's label; not any label that mentions security", () => {
    assert.equal(isSecuritySnapshot(snap('bookworm-security', 'stable-security', 'Debian-Security')), true);
    assert.equal(isSecuritySnapshot(snap('jammy-security', 'jammy-security', 'Ubuntu')), true);
    assert.equal(isSecuritySnapshot(snap('updates', null, 'Debian-Security')), true);
    assert.equal(isSecuritySnapshot(snap('stable', 'stable', 'Vendor Security')), false);
    assert.equal(isSecuritySnapshot(snap('bookworm', 'stable', 'Debian')), false);
  });
});
