// Issue 3: the outdated computation against the real apt, on the real bookworm, bookworm-updates
// and bookworm-security indexes (test/fixtures/debian-archive, copied from ../shared/data):
// the real dpkg status of a bookworm machine, and generated statuses over the same indexes.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  aptSimulate,
  aptUpgradable,
  compareEnv,
  setDiff,
  type CompareEnv,
  type ListsSuite,
} from './helpers/compare.js';
import { ours, upgradableSet, upgradeSet } from './helpers/outdated.js';
import { fixturesDir } from './helpers/paths.js';
import { generateStatus, readPackagesXz } from './helpers/statusgen.js';

const archive = path.join(fixturesDir, 'debian-archive');
const suites: ListsSuite[] = [
  {
    distsDir: path.join(archive, 'debian', 'dists', 'bookworm'),
    uri: 'http://deb.debian.org/debian',
    suite: 'bookworm',
  },
  {
    distsDir: path.join(archive, 'debian', 'dists', 'bookworm-updates'),
    uri: 'http://deb.debian.org/debian',
    suite: 'bookworm-updates',
  },
  {
    distsDir: path.join(archive, 'debian-security', 'dists', 'bookworm-security'),
    uri: 'http://deb.debian.org/debian-security',
    suite: 'bookworm-security',
  },
];

describe('issue 3: outdated on the real bookworm indexes, compared with apt', () => {
  let dir: string;
  let env: CompareEnv;
  let index: Awaited<ReturnType<typeof readPackagesXz>> | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-real-'));
    env = await compareEnv(path.join(dir, 'apt'), suites);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the real status of a bookworm machine: same upgradable list, same apt-get upgrade, security from the security suite', async () => {
    await env.setStatus(await readFile(path.join(archive, 'dpkg-status.bookworm-node'), 'utf8'));
    const apt = await aptUpgradable(env);
    const r = await ours(env);
    assert.ok(apt.size > 100, `apt sees ${apt.size} upgradable packages`);
    assert.deepEqual(setDiff(apt, upgradableSet(r)), { onlyApt: [], onlyAptgate: [] });
    const sim = await aptSimulate(env, 'upgrade');
    assert.deepEqual(setDiff(sim.upgraded, upgradeSet(r)), { onlyApt: [], onlyAptgate: [] });
    // nothing needs new packages or removals here, so dist-upgrade does the same
    assert.deepEqual(setDiff((await aptSimulate(env, 'dist-upgrade')).upgraded, upgradeSet(r)), {
      onlyApt: [],
      onlyAptgate: [],
    });
    // security: exactly the upgrades apt-get shows with a Debian-Security origin on the Inst line
    const aptSecurity = new Set(
      [...sim.stdout.matchAll(/^Inst (\S+) \[\S+\] \(\S+ ([^[]*)\[/gm)]
        .filter((m) => m[2]!.includes('Debian-Security'))
        .map((m) => m[1]!),
    );
    const ourSecurity = new Set(r.entries.filter((e) => e.security).map((e) => e.package));
    // a version newer than installed in -security but superseded by a point release also counts for us
    for (const n of aptSecurity) assert.ok(ourSecurity.has(n), `${n} is a security update for apt`);
    const openssl = r.entries.find((e) => e.package === 'libssl3');
    assert.ok(openssl?.security, 'libssl3 comes from bookworm-security');
    assert.ok(openssl.origins.some((o) => o.label === 'Debian-Security' && o.codename === 'bookworm-security'));
  });

  for (const seed of [1, 2, 3]) {
    it(`a generated status over the real indexes (seed ${seed}): upgradable list, apt-get upgrade and dist-upgrade`, async () => {
      index ??= await readPackagesXz(
        path.join(archive, 'debian', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.xz'),
      );
      const gen = generateStatus(index, 150, seed);
      await env.setStatus(gen.text);
      const apt = await aptUpgradable(env);
      const r = await ours(env);
      assert.ok(apt.size > 100, `apt sees ${apt.size} upgradable packages`);
      assert.deepEqual(setDiff(apt, upgradableSet(r)), { onlyApt: [], onlyAptgate: [] });
      // held packages are listed by apt list and marked held here
      for (const e of r.entries) assert.equal(e.held, gen.variants.get(e.package) === 'hold', e.package);
      const sim = await aptSimulate(env, 'upgrade');
      assert.deepEqual(setDiff(sim.upgraded, upgradeSet(r)), { onlyApt: [], onlyAptgate: [] });
      assert.ok(r.counts.keptBack > 0, 'some upgrades are kept back');
      // (dist-upgrade runs apt's full solver, with installs, removals and its own give-ups; it is
      // not predicted here, and takes apt half a minute on such a status)
    });
  }
});
