// Issue 4: what the agent runs. Real apt-get, apt-mark and dpkg act inside a separate root (see
// test/helpers/root.ts) on a signed fixture repository served over HTTP; the machine's own dpkg
// database must stay as it was.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectState } from '../src/agent/collect.js';
import { runJob } from '../src/agent/executors.js';
import { classifyFailure, lockHolder } from '../src/agent/failure.js';
import type { JobKind, JobPolicy, JobSpec } from '../src/agent/types.js';
import { renderSources } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import { exec } from './helpers/exec.js';
import { disposeTestKey, loadTestKey, type TestKey } from './helpers/gpg.js';
import { FixtureRepo } from './helpers/repo.js';
import { createTestRoot, type TestRoot } from './helpers/root.js';
import { FixtureUpstream } from './helpers/upstream.js';

const d = (name: string, version: string): DebSpec => ({ name, version });
const v1 = ['alpha', 'held', 'secpkg', 'delta'].map((n) => d(n, '1.0-1'));
const v2 = ['alpha', 'held', 'delta'].map((n) => d(n, '2.0-1'));

let nextId = 1;
function job(kind: JobKind, params: Record<string, unknown> = {}, policy: Partial<JobPolicy> = {}): JobSpec {
  return {
    id: nextId++,
    kind,
    params,
    policy: { allowReboot: false, repairDpkg: false, lockTimeout: 5, timeout: 120, ...policy },
  };
}

const sha256 = async (f: string) =>
  createHash('sha256')
    .update(await readFile(f))
    .digest('hex');

/** name → sha256 of every file in the lists directory */
async function listsSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name !== 'lock') out[e.name] = await sha256(path.join(dir, e.name));
  }
  return out;
}

/** Holds an fcntl write lock on `file` (as apt and dpkg lock) until stdin closes. */
async function holdLock(file: string): Promise<ChildProcess> {
  const script =
    'use Fcntl; open(my $f, ">>", $ARGV[0]) or die "open: $!"; ' +
    'fcntl($f, F_SETLKW, pack("s s x4 q q i x4", F_WRLCK, SEEK_SET, 0, 0, 0)) or die "lock: $!"; $| = 1; print "locked\\n"; <STDIN>;';
  const child = spawn('perl', ['-e', script, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.equal(line.toString(), 'locked\n');
  return child;
}

describe('issue 4: the agent runs apt and dpkg in a separate root', () => {
  let dir: string;
  let key: TestKey;
  let repo: FixtureRepo;
  let up: FixtureUpstream;
  let t: TestRoot;
  let hostStatus: string;

  before(async () => {
    hostStatus = await sha256('/var/lib/dpkg/status');
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-exec-'));
    key = await loadTestKey(dir, 'archive');
    repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
    await repo.publish('stable', v1);
    await repo.publish('stable-security', [], { codename: 'bookworm-security' });
    up = await FixtureUpstream.start(repo.root);
    t = await createTestRoot(path.join(dir, 't'), {
      sources: [{ uri: up.base, suites: ['stable', 'stable-security'], signedBy: key.keyring }],
    });
    const r = await runJob(job('update'), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    const inst = await runJob(job('install', { packages: ['alpha', 'held', 'secpkg'] }), t.target);
    assert.equal(inst.exitCode, 0, inst.transcript);
    assert.equal(inst.changed, true);
    // v2 arrives: 2.0-1 in stable (1.0-1 stays published), a security update in stable-security
    await repo.publish('stable', [...v1, ...v2]);
    await repo.publish('stable-security', [d('secpkg', '1.0-1+deb12u1')], { codename: 'bookworm-security' });
  });

  after(async () => {
    await up?.close();
    if (key) await disposeTestKey(key);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('update runs apt-get update --error-on=any in the root', async () => {
    const r = await runJob(job('update'), t.target);
    assert.equal(r.failure, undefined, r.transcript);
    assert.equal(r.exitCode, 0);
    assert.equal(r.changed, false);
    assert.match(r.transcript, /^\$ apt-get .*-o Dir=\S+\/root\/ .* update --error-on=any$/m);
    assert.ok(up.hits('dists/stable-security/InRelease') >= 2);
  });

  it('hold: apt-mark writes the selection into the root; collectState lists it', async () => {
    const r = await runJob(job('hold', { packages: ['held'] }), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    assert.equal((await t.installed('held'))?.status, 'hold ok installed');
    const s = await collectState(t.target);
    assert.deepEqual(s.extras.holds, ['held:amd64']);
    assert.equal(s.statusText, await t.status());
  });

  it("collectState: apt's own upgradable list with security flags, sources, preferences, reboot, dpkg health", async () => {
    await writeFile(
      path.join(t.target.preferencesDir, 'pin.pref'),
      'Package: nothing\nPin: version 1\nPin-Priority: 10\n',
    );
    await writeFile(path.join(t.target.preferencesDir, 'ignored.txt'), 'apt ignores this\n');
    await writeFile(path.join(t.target.sourcesDir, 'notes.txt'), 'not a sources file\n');
    let s = await collectState(t.target);
    const up2 = Object.fromEntries(s.extras.aptUpgradable.map((u) => [u.package, u]));
    assert.deepEqual(up2['alpha'], {
      package: 'alpha',
      architecture: 'amd64',
      installed: '1.0-1',
      candidate: '2.0-1',
      security: false,
    });
    assert.deepEqual(up2['secpkg'], {
      package: 'secpkg',
      architecture: 'amd64',
      installed: '1.0-1',
      candidate: '1.0-1+deb12u1',
      security: true,
    });
    assert.equal(up2['held']?.candidate, '2.0-1', 'apt list --upgradable lists held packages too');
    assert.deepEqual(
      s.extras.sources.map((f) => path.basename(f.path)),
      ['fixture.sources'],
    );
    assert.equal(s.extras.sources[0]!.content, await readFile(t.sourcesFile, 'utf8'));
    assert.deepEqual(
      s.extras.preferences.map((f) => path.basename(f.path)),
      ['pin.pref'],
    );
    assert.deepEqual(s.extras.reboot, { required: false, packages: [] });
    assert.deepEqual(s.extras.dpkg, { audit: '', interrupted: false });

    await writeFile(t.target.rebootRequiredFile, '*** System restart required ***\n');
    await writeFile(`${t.target.rebootRequiredFile}.pkgs`, 'linux-image-amd64\nlibc6\nlibc6\n');
    s = await collectState(t.target);
    assert.deepEqual(s.extras.reboot, { required: true, packages: ['linux-image-amd64', 'libc6'] });
    await rm(t.target.rebootRequiredFile);
    await rm(`${t.target.rebootRequiredFile}.pkgs`);
  });

  it('upgrade with securityOnly upgrades only what comes from the security suite', async () => {
    const r = await runJob(job('upgrade', { securityOnly: true }), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    assert.equal(r.changed, true);
    assert.match(r.transcript, /^\$ apt-get .* install --only-upgrade secpkg:amd64$/m);
    assert.equal((await t.installed('secpkg'))?.version, '1.0-1+deb12u1');
    assert.equal((await t.installed('alpha'))?.version, '1.0-1');
    const again = await runJob(job('upgrade', { securityOnly: true }), t.target);
    assert.deepEqual(
      [again.exitCode, again.failure, again.changed, again.summary],
      [0, undefined, false, 'upgrade (security only): nothing to upgrade'],
    );
  });

  it('upgrade takes v1 to v2 in the root and leaves the held package alone', async () => {
    const r = await runJob(job('upgrade'), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    assert.equal(r.failure, undefined);
    assert.equal(r.changed, true);
    assert.equal(r.rebootRequired, false);
    assert.match(r.summary, /^apt-get upgrade: 1 upgraded, 0 newly installed, 0 to remove and 1 not upgraded\.$/);
    assert.match(
      r.transcript,
      /-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o DPkg::Lock::Timeout=5 /,
    );
    assert.match(r.transcript, /Unpacking alpha \(2\.0-1\) over \(1\.0-1\)/);
    assert.equal((await t.installed('alpha'))?.version, '2.0-1');
    assert.equal((await readFile(path.join(t.root, 'usr/share/doc/alpha/README'), 'utf8')).split(' ')[1], '2.0-1');
    assert.deepEqual(await t.installed('held'), { version: '1.0-1', status: 'hold ok installed' });
    assert.deepEqual((await collectState(t.target)).extras.holds, ['held:amd64']);
  });

  it('install name=version installs exactly that version; a held package asked for is a held-packages failure', async () => {
    const r = await runJob(job('install', { packages: ['delta=1.0-1'] }), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    assert.equal(r.changed, true);
    assert.equal((await t.installed('delta'))?.version, '1.0-1');
    const h = await runJob(job('install', { packages: ['held'] }), t.target);
    assert.equal(h.failure, 'held-packages', h.transcript);
    assert.notEqual(h.exitCode, 0);
    assert.equal(h.changed, false);
    assert.equal((await t.installed('held'))?.version, '1.0-1');
    const u = await runJob(job('unhold', { packages: ['held:amd64'] }), t.target);
    assert.equal(u.exitCode, 0, u.transcript);
    assert.equal((await t.installed('held'))?.status, 'install ok installed');
  });

  it('remove removes the package from the root', async () => {
    const r = await runJob(job('remove', { packages: ['delta'] }), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    assert.equal(await t.installed('delta'), undefined);
    await assert.rejects(stat(path.join(t.root, 'usr/share/doc/delta/README')));
  });

  it('invalid package names: invalid-job, exit 2, nothing runs', async () => {
    const before = await t.status();
    for (const [kind, p] of [
      ['install', 'foo;rm -rf /'],
      ['install', '-oAPT::x'],
      ['remove', 'Foo'],
      ['hold', 'a b'],
      ['remove', 'alpha=2.0-1'],
      ['install', 'alpha=2.0-1 x'],
      ['install', 'alpha:amd64=1:'],
      ['remove', 'alpha:-x'],
      ['install', '$(id)'],
    ] as Array<[JobKind, string]>) {
      const r = await runJob(job(kind, { packages: ['alpha', p] }), t.target);
      assert.equal(r.failure, 'invalid-job', `${kind} ${p}`);
      assert.equal(r.exitCode, 2);
      assert.equal(r.changed, false);
      assert.doesNotMatch(r.transcript, /^\$ /m, 'no command ran');
    }
    for (const bad of [
      job('install', {}),
      job('upgrade', { securityOnly: 'yes' }),
      job('update', {}, { lockTimeout: -1 }),
      job('add-source', { name: '../etc', content: 'Types: deb\n' }),
      job('remove-source', { name: 'A' }),
      job('add-source', { name: 'x', content: 'Types: deb\nURIs: http://h/\nSuites: s\n' }),
      job('reboot'),
    ]) {
      const r = await runJob(bad, t.target);
      assert.deepEqual([r.failure, r.exitCode], ['invalid-job', 2], JSON.stringify(bad));
      assert.doesNotMatch(r.transcript, /^\$ /m);
    }
    assert.equal((await runJob(job('reboot'), t.target)).summary, "reboot not allowed by the job's policy");
    assert.equal(await t.status(), before);
  });

  it('add-source with a broken URL: apt-get update fails, the file goes again, lists unchanged, failure network', async () => {
    const lists = await listsSnapshot(t.listsDir);
    const content = 'Types: deb\nURIs: http://127.0.0.1:1/debian\nSuites: stable\nComponents: main\nTrusted: yes\n';
    const r = await runJob(job('add-source', { name: 'broken', content }), t.target);
    assert.equal(r.failure, 'network', r.transcript);
    assert.notEqual(r.exitCode, 0);
    assert.match(
      r.summary,
      /^add-source broken: apt-get update failed, previous state restored, lists refreshed; Could not connect to 127\.0\.0\.1:1 /,
      r.transcript,
    );
    assert.equal((r.transcript.match(/^\$ apt-get .* update --error-on=any$/gm) ?? []).length, 2);
    await assert.rejects(stat(path.join(t.target.sourcesDir, 'aptgate-broken.sources')));
    assert.deepEqual(await listsSnapshot(t.listsDir), lists);
  });

  it('add-source valid: the file stays (0644), update succeeded; remove-source takes it away again', async () => {
    await repo.publish('extra', [d('extrapkg', '1.0-1')]);
    const content = renderSources([{ uri: up.base, suites: ['extra'], signedBy: key.keyring }]);
    const file = path.join(t.target.sourcesDir, 'aptgate-extra.sources');
    const r = await runJob(job('add-source', { name: 'extra', content }), t.target);
    assert.equal(r.exitCode, 0, r.transcript);
    assert.equal(await readFile(file, 'utf8'), content);
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.ok(Object.keys(await listsSnapshot(t.listsDir)).some((n) => n.includes('_dists_extra_')));
    assert.ok((await collectState(t.target)).extras.sources.some((f) => f.path === file && f.content === content));

    const gone = await runJob(job('remove-source', { name: 'extra' }), t.target);
    assert.equal(gone.exitCode, 0, gone.transcript);
    await assert.rejects(stat(file));
    assert.ok(!Object.keys(await listsSnapshot(t.listsDir)).some((n) => n.includes('_dists_extra_')));
    const again = await runJob(job('remove-source', { name: 'extra' }), t.target);
    assert.deepEqual([again.exitCode, again.summary], [0, 'remove-source extra: not present, nothing to remove']);
  });

  it('dpkg lock held by another process: dpkg-lock, with the holder in the summary', async () => {
    const holder = await holdLock(path.join(t.root, 'var/lib/dpkg/lock-frontend'));
    try {
      const before = await t.status();
      const r = await runJob(job('install', { packages: ['delta'] }, { lockTimeout: 1 }), t.target);
      assert.equal(r.failure, 'dpkg-lock', r.transcript);
      assert.equal(r.summary, `dpkg lock held by process ${holder.pid} (perl)`);
      assert.equal(r.changed, false);
      assert.equal(await t.status(), before);
    } finally {
      holder.stdin!.end();
      await once(holder, 'close');
    }
  });

  it('dpkg interrupted: refused without repairDpkg, repaired with it (dpkg --configure -a first)', async () => {
    const journal = path.join(t.root, 'var/lib/dpkg/updates/0000');
    await writeFile(journal, '');
    assert.equal((await collectState(t.target)).extras.dpkg.interrupted, true);
    const no = await runJob(job('install', { packages: ['delta'] }), t.target);
    assert.deepEqual([no.failure, no.changed], ['dpkg-interrupted', false]);
    assert.doesNotMatch(no.transcript, /^\$ /m);
    const yes = await runJob(job('install', { packages: ['delta'] }, { repairDpkg: true }), t.target);
    assert.equal(yes.exitCode, 0, yes.transcript);
    assert.match(yes.transcript, /^\$ dpkg --root=\S+ --log=\S+ --configure -a\n(?:.*\n)*\$ apt-get /m);
    await assert.rejects(stat(journal));
    assert.equal((await t.installed('delta'))?.version, '2.0-1');
  });

  it('reboot: only when allowed and required', async () => {
    const none = await runJob(job('reboot', {}, { allowReboot: true }), t.target, { rebootCommand: ['false'] });
    assert.deepEqual([none.exitCode, none.failure, none.summary], [0, undefined, 'no reboot required']);
    await writeFile(t.target.rebootRequiredFile, '');
    const yes = await runJob(job('reboot', {}, { allowReboot: true }), t.target, {
      rebootCommand: ['true', 'reboot-now'],
    });
    assert.deepEqual([yes.exitCode, yes.failure, yes.rebootRequired], [0, undefined, true]);
    assert.match(yes.transcript, /^\$ true reboot-now$/m);
    await rm(t.target.rebootRequiredFile);
  });

  it('timeout: a job still running after policy.timeout is stopped', { timeout: 60_000 }, async () => {
    let open!: () => void;
    let reached!: () => void;
    const inFlight = new Promise<void>((res) => {
      reached = res;
    });
    up.fault(
      'dists/stable/InRelease',
      {
        kind: 'gate',
        until: new Promise<void>((res) => {
          open = res;
        }),
        reached,
      },
      1,
    );
    try {
      const running = runJob(job('update', {}, { timeout: 1 }), t.target);
      await inFlight;
      const r = await running;
      assert.deepEqual([r.failure, r.exitCode, r.summary], ['timeout', 124, 'timed out after 1 s']);
      assert.match(r.transcript, /# timeout: the job took longer than 1 s; stopping it/);
    } finally {
      open();
      up.clearFaults();
    }
  });

  it("apt's and dpkg's real failure texts are classified: signature, broken dependencies, interrupted, dpkg's lock", async () => {
    const rogue = await loadTestKey(dir, 'rogue');
    try {
      await repo.publish('other', [d('otherpkg', '1.0-1')]);
      const content = renderSources([{ uri: up.base, suites: ['other'], signedBy: rogue.keyring }]);
      const sig = await runJob(job('add-source', { name: 'rogue', content }), t.target);
      assert.equal(sig.failure, 'signature', sig.transcript);
      assert.match(sig.summary, /^add-source rogue: .*: NO_PUBKEY [0-9A-F]{16}$/);
    } finally {
      await disposeTestKey(rogue);
    }
    await repo.publish('stable', [...v1, ...v2, { name: 'orphan', version: '1.0-1', depends: 'missing-dep' }]);
    assert.equal((await runJob(job('update'), t.target)).exitCode, 0);
    const broken = await runJob(job('install', { packages: ['orphan'] }), t.target);
    assert.equal(broken.failure, 'broken-dependencies', broken.transcript);
    assert.equal(broken.summary, 'orphan : Depends: missing-dep but it is not installable');

    await writeFile(path.join(t.root, 'var/lib/dpkg/updates/0001'), '');
    const apt = await t.apt(['-y', 'install', 'orphan']);
    assert.equal(classifyFailure(apt.output, apt.code ?? -1), 'dpkg-interrupted', apt.output);
    const holder = await holdLock(path.join(t.root, 'var/lib/dpkg/lock-frontend'));
    try {
      const dpkg = await exec('dpkg', [...t.target.dpkgOptions, '--configure', '-a'], {
        env: { ...process.env, LC_ALL: 'C' },
      });
      const text = dpkg.stdout.toString() + dpkg.stderr.toString();
      assert.equal(classifyFailure(text, dpkg.code ?? -1), 'dpkg-lock', text);
      assert.equal(lockHolder(text), `process ${holder.pid}`);
    } finally {
      holder.stdin!.end();
      await once(holder, 'close');
    }
    const refresh = await runJob(job('refresh'), t.target);
    assert.deepEqual([refresh.exitCode, refresh.transcript], [0, '']);
    assert.equal((await exec('dpkg', [...t.target.dpkgOptions, '--configure', '-a'])).code, 0);
  });

  it('classifyFailure and lockHolder on the messages apt and dpkg print', () => {
    const cases: Array<[string, number, string | undefined]> = [
      [
        'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?',
        100,
        'dpkg-lock',
      ],
      ['E: Could not get lock /var/lib/apt/lists/lock. It is held by process 77 (packagekitd)', 100, 'dpkg-lock'],
      [
        "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem. ",
        100,
        'dpkg-interrupted',
      ],
      [
        "Setting up foo (2.0-1) ...\n\nConfiguration file '/etc/foo.conf'\n ==> Modified (by you or by a script) since installation.\n ==> Package distributor has shipped an updated version.\n   What would you like to do about it ?  Your options are:",
        1,
        'conffile-prompt',
      ],
      [
        'dpkg: error processing package foo (--configure):\n end of file on stdin at conffile prompt\nErrors were encountered while processing:\n foo',
        100,
        'conffile-prompt',
      ],
      ['E: Held packages were changed and -y was used without --allow-change-held-packages.', 100, 'held-packages'],
      [
        "The following packages have unmet dependencies:\n app : Depends: lib (= 2) but 1 is to be installed\nE: Unmet dependencies. Try 'apt --fix-broken install' with no packages (or specify a solution).",
        100,
        'broken-dependencies',
      ],
      [
        "Err:1 http://deb.debian.org/debian bookworm InRelease\n  Temporary failure resolving 'deb.debian.org'\nE: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'",
        100,
        'network',
      ],
      [
        'E: Failed to fetch http://proxy:3142/debian/pool/main/h/hello/hello_2.10-3_amd64.deb  Could not connect to proxy:3142 (10.0.0.1), connection timed out',
        100,
        'network',
      ],
      [
        "W: GPG error: http://deb.debian.org/debian bookworm InRelease: The following signatures were invalid: EXPKEYSIG 6ED0E7B82643E131 Debian Archive Automatic Signing Key (12/bookworm) <ftpmaster@debian.org>\nE: The repository 'http://deb.debian.org/debian bookworm InRelease' is not signed.",
        100,
        'signature',
      ],
      [
        'W: GPG error: http://x stable InRelease: The following signatures were invalid: BADSIG 0123456789ABCDEF',
        100,
        'signature',
      ],
      ["E: You don't have enough free space in /var/cache/apt/archives/.", 100, 'disk-full'],
      [
        "dpkg: error processing archive /var/cache/apt/archives/foo_2_amd64.deb (--unpack):\n cannot copy extracted data for './usr/bin/foo' to '/usr/bin/foo.dpkg-new': failed to write (No space left on device)",
        100,
        'disk-full',
      ],
      ['E: Sub-process /usr/bin/dpkg returned an error code (1)', 100, 'other'],
      ['E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1', 0, undefined],
    ];
    for (const [text, code, reason] of cases) assert.equal(classifyFailure(text, code), reason, text);
    const kept =
      'The following packages have been kept back:\n  held other\n0 upgraded, 0 newly installed, 0 to remove and 2 not upgraded.\nE: x';
    assert.equal(classifyFailure(kept, 100, { required: ['held=2.0-1'] }), 'held-packages');
    assert.equal(classifyFailure(kept, 100, { required: ['third'] }), 'other');
    assert.equal(lockHolder(cases[0]![0]), 'process 4242 (apt-get)');
    assert.equal(lockHolder('dpkg: error: dpkg frontend lock was locked by another process with pid 99'), 'process 99');
    assert.equal(lockHolder('E: Sub-process /usr/bin/dpkg returned an error code (1)'), undefined);
  });

  it("the machine's own dpkg status is untouched", async () => {
    assert.equal(await sha256('/var/lib/dpkg/status'), hostStatus);
  });
});
