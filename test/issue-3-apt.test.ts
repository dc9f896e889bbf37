// Issue 3: the corners where a naive "highest version wins" rule goes wrong, each checked against
// the real apt on the same inputs: a signed repository built from real .debs (amd64 and i386),
// with a security suite, a backports-like suite (NotAutomatic + ButAutomaticUpgrades), an
// experimental-like one (NotAutomatic), explicit pins, holds, Multi-Arch: same, Architecture: all,
// epochs, `~`, binNMUs, Breaks, new dependencies and new Recommends; phased updates last.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatOutdated } from '../src/cli/outdated.js';
import type { OutdatedResult } from '../src/index/outdated.js';
import { runAptOk } from './helpers/apt.js';
import {
  aptSimulate,
  aptUpgradable,
  compareEnv,
  setDiff,
  statusFromPackages,
  type CompareEnv,
  type ListsSuite,
} from './helpers/compare.js';
import type { DebSpec } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { disposeTestKey, loadTestKey, type TestKey } from './helpers/gpg.js';
import { ours, upgradableSet, upgradeSet } from './helpers/outdated.js';
import { FixtureRepo } from './helpers/repo.js';

const d = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({ name, version, ...more });

// what the machine has installed, as published (so that apt sees the same versions)
const installedDebs: DebSpec[] = [
  d('libmulti', '1.0-1', { multiArch: 'same' }),
  d('libmulti', '1.0-1', { multiArch: 'same', arch: 'i386' }),
  d('liblag', '1.0-1', { multiArch: 'same' }),
  d('liblag', '1.0-1', { multiArch: 'same', arch: 'i386' }),
  d('data-all', '1.0-1', { arch: 'all' }),
  // a package that becomes architecture-specific, and one that becomes Architecture: all
  d('goes-native', '1.0-1', { arch: 'all' }),
  d('goes-all', '1.0-1'),
  d('tool32', '1.0-1', { arch: 'i386' }),
  d('app', '1.0-1', { depends: 'libapp (= 1.0-1)' }),
  d('libapp', '1.0-1'),
  d('needs-new', '1.0-1'),
  d('breaker', '1.0-1'),
  d('victim', '1.0-1'),
  d('breaker2', '1.0-1'),
  d('heldvictim', '1.0-1'),
  d('recommender', '1.0-1'),
  d('bpo-pkg', '1.0-1'),
  d('bpo-installed', '2.0-1~bpo12+1'),
  d('exp-pkg', '1.0-1'),
  d('pinned-up', '1.0-1'),
  d('pinned-hold', '1.0-1'),
  d('neverme', '1.0-1'),
  d('epochy', '5.0-1'),
  d('tilde', '1.0~rc1-1'),
  d('binnmu', '1.0-1'),
  d('secpkg', '1.0-1'),
  d('removed', '1.0-1'),
  d('halfdone', '1.0-1'),
  d('originpin', '1.0-1'),
  d('globpin-a', '1.0-1'),
  d('globpin-b', '1.0-1'),
  d('globpin32', '1.0-1', { arch: 'i386' }),
];

const stableDebs: DebSpec[] = [
  d('libmulti', '2.0-1', { multiArch: 'same' }),
  d('libmulti', '2.0-1', { multiArch: 'same', arch: 'i386' }),
  // the i386 build of liblag 2.0 lags behind: Multi-Arch: same keeps amd64 back too
  d('liblag', '2.0-1', { multiArch: 'same' }),
  d('liblag', '1.0-1', { multiArch: 'same', arch: 'i386' }),
  d('data-all', '2.0-1', { arch: 'all' }),
  d('goes-native', '2.0-1'),
  d('goes-native', '2.0-1', { arch: 'i386' }),
  d('goes-all', '2.0-1', { arch: 'all' }),
  d('tool32', '2.0-1', { arch: 'i386' }),
  d('app', '2.0-1', { depends: 'libapp (= 2.0-1)' }),
  d('libapp', '2.0-1'),
  d('needs-new', '2.0-1', { depends: 'brand-new' }),
  d('brand-new', '1.0-1'),
  d('breaker', '2.0-1', { fields: { Breaks: 'victim (<< 2.0)' } }),
  d('victim', '2.0-1'),
  d('breaker2', '2.0-1', { fields: { Breaks: 'heldvictim (<< 2.0)' } }),
  d('heldvictim', '2.0-1'),
  d('recommender', '2.0-1', { fields: { Recommends: 'brand-new' } }),
  d('bpo-pkg', '1.0-1'),
  d('exp-pkg', '1.0-1'),
  d('pinned-up', '1.0-1'),
  d('pinned-hold', '2.0-1'),
  d('neverme', '2.0-1'),
  d('epochy', '1:1.0-1'),
  d('tilde', '1.0-1'),
  d('binnmu', '1.0-1+b1', { source: 'binnmu-src (1.0-1)' }),
  d('secpkg', '1.0-1'),
  d('removed', '2.0-1'),
  d('halfdone', '2.0-1'),
  d('originpin', '2.0-1'),
  d('globpin-a', '2.0-1'),
  d('globpin-b', '2.0-1'),
  d('globpin32', '2.0-1', { arch: 'i386' }),
];
const securityDebs: DebSpec[] = [d('secpkg', '1.0-1+deb12u1')];
const backportsDebs: DebSpec[] = [
  d('bpo-pkg', '2.0-1~bpo12+1'),
  d('bpo-installed', '3.0-1~bpo12+1'),
  d('pinned-up', '2.0-1~bpo12+1'),
];
const experimentalDebs: DebSpec[] = [d('exp-pkg', '9.0-1'), d('secpkg', '9.0-1')];

const statusOverrides: Record<string, string> = {
  app: 'hold ok installed',
  heldvictim: 'hold ok installed',
  removed: 'deinstall ok config-files',
  halfdone: 'install ok unpacked',
};

const preferences = `# explicit pins, as an administrator writes them
Package: pinned-up
Pin: release a=backports
Pin-Priority: 500

Package: pinned-hold
Pin: version 1.0*
Pin-Priority: 1001

Explanation: never from stable
Package: neverme
Pin: release a=stable
Pin-Priority: -1

# below the installed version's 100: stays
Package: originpin
Pin: origin archive.aptgate.invalid
Pin-Priority: 50

# a glob without an architecture pins the native architecture only (globpin32 is i386)
Package: globpin*
Pin: version 1.0*
Pin-Priority: 1001

Package: /^globpin-b$/
Pin: release a=stable
Pin-Priority: 990
`;

/** The status of a machine that installed exactly the packages of a published suite. */
async function statusFrom(repo: FixtureRepo, suite: string, archs: string[], extra: string): Promise<string> {
  let text = '';
  const seen = new Set<string>();
  for (const arch of archs) {
    const packages = await execOk('xz', ['-dc', repo.path(`dists/${suite}/main/binary-${arch}/Packages.xz`)]);
    text +=
      statusFromPackages(packages, (p) => {
        const key = `${p['package']}:${p['architecture']}`;
        if (seen.has(key)) return undefined;
        seen.add(key);
        return statusOverrides[p['package']!] ?? 'install ok installed';
      }) + '\n';
  }
  return `${text}${extra}`;
}

function entry(r: OutdatedResult, name: string, arch?: string) {
  return r.entries.find((e) => e.package === name && (arch === undefined || e.instance === `${name}:${arch}`));
}

describe('issue 3: apt corner cases, compared with apt', () => {
  let dir: string;
  let key: TestKey;
  let env: CompareEnv;
  let r: OutdatedResult;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-corners-'));
    key = await loadTestKey(dir, 'archive');
    const repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
    const archs = ['amd64', 'i386'];
    await repo.publish('installed', installedDebs, { architectures: archs });
    await repo.publish('stable', stableDebs, {
      architectures: archs,
      codename: 'bookworm',
      origin: 'Aptgate',
      label: 'Aptgate',
    });
    await repo.publish('stable-security', securityDebs, {
      architectures: archs,
      codename: 'bookworm-security',
      origin: 'Aptgate',
      label: 'Aptgate-Security',
    });
    await repo.publish('backports', backportsDebs, {
      architectures: archs,
      codename: 'bookworm-backports',
      notAutomatic: true,
      butAutomaticUpgrades: true,
    });
    await repo.publish('experimental', experimentalDebs, { architectures: archs, notAutomatic: true });
    const uri = 'http://archive.aptgate.invalid/debian';
    const suites: ListsSuite[] = ['stable', 'stable-security', 'backports', 'experimental'].map((suite) => ({
      distsDir: repo.path(`dists/${suite}`),
      uri,
      suite,
    }));
    env = await compareEnv(path.join(dir, 'apt'), suites, { architecture: 'amd64', architectures: archs });
    const local =
      'Package: localnewer\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0-1\nDescription: built here\n';
    await env.setStatus(await statusFrom(repo, 'installed', archs, local));
    await env.setPreferences(preferences);
    r = await ours(env, { architecture: 'amd64', foreignArchs: ['i386'] });
  });
  after(async () => {
    await disposeTestKey(key);
    await rm(dir, { recursive: true, force: true });
  });

  it('lists exactly what `apt list --upgradable` lists (names, architectures, candidate versions)', async () => {
    const apt = await aptUpgradable(env);
    assert.deepEqual(setDiff(apt, upgradableSet(r)), { onlyApt: [], onlyAptgate: [] });
    assert.ok(apt.size >= 15, `apt lists ${apt.size}`);
  });

  it("the table prints `apt list --upgradable`'s lines, in its order; a package leaving or joining Architecture: all shows the installed architecture", async () => {
    const out = await runAptOk(['list', '--upgradable'], { apt: env.apt, command: 'apt' });
    const aptLines = out.stdout.split('\n').filter((l) => l.includes(' [upgradable from: '));
    const table = formatOutdated(r).split('\n');
    const lines = table.slice(0, -2);
    assert.equal(
      table.at(-2),
      table.find((l) => /^\d+ of \d+ installed packages upgradable/.test(l)),
      'the count is the last line',
    );
    // each line is apt's, with aptgate's notes after it in brackets
    assert.deepEqual(
      lines.map((l) => l.replace(/ {2}\[[^\]]*\]$/, '')),
      aptLines,
    );
    assert.ok(aptLines.includes('goes-native/stable 2.0-1 all [upgradable from: 1.0-1]'), aptLines.join('\n'));
    assert.ok(
      lines.includes('goes-native/stable 2.0-1 all [upgradable from: 1.0-1]'),
      'no notes: upgraded, not security',
    );
    // an Architecture: all version is in binary-amd64 and binary-i386: apt names the suite for each
    assert.ok(lines.includes('goes-all/stable,stable 2.0-1 amd64 [upgradable from: 1.0-1]'));
    assert.ok(lines.includes('secpkg/stable-security 1.0-1+deb12u1 amd64 [upgradable from: 1.0-1]  [security]'));
    assert.ok(lines.includes('libapp/stable 2.0-1 amd64 [upgradable from: 1.0-1]  [kept back: blocked (app:amd64)]'));
    const g = entry(r, 'goes-native')!;
    assert.deepEqual(
      [g.instance, g.installedArchitecture, g.candidateArchitecture, g.architecture],
      ['goes-native:amd64', 'all', 'amd64', 'amd64'],
    );
    const a = entry(r, 'goes-all')!;
    assert.deepEqual(
      [a.instance, a.installedArchitecture, a.candidateArchitecture],
      ['goes-all:amd64', 'amd64', 'all'],
    );
  });

  it('does what `apt-get -s upgrade` does, and says why the rest is kept back', async () => {
    const sim = await aptSimulate(env, 'upgrade');
    assert.deepEqual(setDiff(sim.upgraded, upgradeSet(r)), { onlyApt: [], onlyAptgate: [] });
    assert.equal(entry(r, 'app')?.action, 'held');
    assert.deepEqual(entry(r, 'libapp')?.keptBack, { reason: 'blocked', because: 'app:amd64' });
    assert.equal(entry(r, 'needs-new')?.keptBack?.reason, 'new-packages');
    assert.equal(entry(r, 'breaker2')?.keptBack?.reason, 'removals');
    assert.equal(entry(r, 'recommender')?.keptBack?.reason, 'new-recommends');
    assert.equal(entry(r, 'liblag', 'amd64')?.keptBack?.reason, 'multiarch');
    for (const n of [
      'breaker',
      'victim',
      'data-all',
      'goes-native',
      'goes-all',
      'epochy',
      'tilde',
      'binnmu',
      'secpkg',
      'halfdone',
    ])
      assert.equal(entry(r, n)?.action, 'upgrade', n);
  });

  it('architectures: Multi-Arch: same per architecture, Architecture: all on the native one, a foreign-only package', () => {
    assert.equal(entry(r, 'libmulti', 'amd64')?.candidateVersion, '2.0-1');
    assert.equal(entry(r, 'libmulti', 'i386')?.architecture, 'i386');
    assert.equal(entry(r, 'data-all')?.instance, 'data-all:amd64');
    assert.equal(entry(r, 'data-all')?.architecture, 'all');
    assert.equal(entry(r, 'tool32')?.instance, 'tool32:i386');
    assert.equal(entry(r, 'liblag', 'i386'), undefined);
  });

  it('priorities: backports only once installed from there, experimental never, pins as written', () => {
    assert.equal(entry(r, 'bpo-pkg'), undefined);
    assert.equal(entry(r, 'bpo-installed')?.candidateVersion, '3.0-1~bpo12+1');
    assert.equal(entry(r, 'bpo-installed')?.priority, 100);
    assert.equal(entry(r, 'exp-pkg'), undefined);
    assert.equal(entry(r, 'secpkg')?.candidateVersion, '1.0-1+deb12u1');
    assert.equal(entry(r, 'pinned-up')?.candidateVersion, '2.0-1~bpo12+1');
    assert.equal(entry(r, 'pinned-hold'), undefined);
    assert.equal(entry(r, 'neverme'), undefined);
    assert.equal(entry(r, 'originpin'), undefined);
    assert.equal(entry(r, 'globpin-a'), undefined);
    assert.equal(
      entry(r, 'globpin-b'),
      undefined,
      'the installed 1.0 pinned at 1001 by the glob outranks 2.0 at 990 by the regex',
    );
    assert.equal(entry(r, 'globpin32')?.candidateVersion, '2.0-1');
  });

  it('versions: epoch bump, ~ before release, binNMU with its source version; never a lower version, never a removed package', () => {
    assert.equal(entry(r, 'epochy')?.candidateVersion, '1:1.0-1');
    assert.equal(entry(r, 'tilde')?.candidateVersion, '1.0-1');
    const b = entry(r, 'binnmu')!;
    assert.equal(b.source, 'binnmu-src');
    assert.equal(b.sourceVersion, '1.0-1');
    assert.equal(entry(r, 'localnewer'), undefined);
    assert.equal(entry(r, 'removed'), undefined);
    assert.equal(entry(r, 'halfdone')?.candidateVersion, '2.0-1');
  });

  it('security: from the suite whose Label/Codename says security, origins named', () => {
    const s = entry(r, 'secpkg')!;
    assert.equal(s.security, true);
    assert.deepEqual(
      s.origins.map((o) => [o.suite, o.label, o.codename]),
      [['stable-security', 'Aptgate-Security', 'bookworm-security']],
    );
    assert.equal(entry(r, 'epochy')?.security, false);
  });
});

describe('issue 3: phased updates decided as apt decides them for a machine', () => {
  let dir: string;
  let key: TestKey;
  let env: CompareEnv;
  const names = Array.from({ length: 16 }, (_, i) => `phased${i}`);
  const machineId = '4c2a6b0e9f1d4e3a8b7c6d5e4f3a2b1c';

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-phased-'));
    key = await loadTestKey(dir, 'archive');
    const repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
    await repo.publish(
      'installed',
      names.map((n) => d(n, '1.0-1')),
    );
    await repo.publish(
      'jammy-updates',
      names.map((n, i) => d(n, '1.1-1', { fields: { 'Phased-Update-Percentage': String((i * 7) % 100) } })),
      { origin: 'Ubuntu', label: 'Ubuntu', codename: 'jammy' },
    );
    env = await compareEnv(path.join(dir, 'apt'), [
      {
        distsDir: repo.path('dists/jammy-updates'),
        uri: 'http://archive.ubuntu.invalid/ubuntu',
        suite: 'jammy-updates',
      },
    ]);
    await env.setStatus(await statusFrom(repo, 'installed', ['amd64'], ''));
  });
  after(async () => {
    await disposeTestKey(key);
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps back the same phased versions as apt-get upgrade with that machine id, lists them all', async () => {
    // apt does not phase inside a chroot; tell it this is none (ischroot answers "no")
    const sim = await aptSimulate(env, 'upgrade', { 'APT::Machine-ID': machineId, 'Dir::Bin::ischroot': '/bin/false' });
    const r = await ours(env, { machineId });
    assert.deepEqual(setDiff(sim.upgraded, upgradeSet(r)), { onlyApt: [], onlyAptgate: [] });
    const deferred = r.entries.filter((e) => e.action === 'phased').length;
    assert.ok(deferred > 0 && deferred < names.length, `${deferred} of ${names.length} deferred: both outcomes occur`);
    assert.equal(r.entries.length, names.length);
    // without a machine id (or in a chroot) apt includes every phased update
    const all = await aptSimulate(env, 'upgrade', {
      'APT::Machine-ID': '',
      'Dir::Etc::machine-id': '/nonexistent',
      'Dir::Bin::ischroot': '/bin/false',
    });
    assert.equal(all.upgraded.size, names.length);
    assert.equal(upgradeSet(await ours(env)).size, names.length);
  });
});
