// Issue 3: outdated computed by the server from the package index the proxy fed, compared with
// the real apt reading the lists it fetched through the same proxy; profiles stored once per
// distinct installed set; cached results; a new snapshot recomputes only the affected profiles.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseStatus } from '../src/index/status.js';
import { aptEnv, runAptOk, type AptEnv } from './helpers/apt.js';
import { aptUpgradable, setDiff, statusFromPackages } from './helpers/compare.js';
import { execOk } from './helpers/exec.js';
import { upgradableSet } from './helpers/outdated.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';

const v1 = ['alpha', 'beta', 'gamma'].map((name) => ({ name, version: '1.0-1' }));

let world: World;

/** A status with these packages installed at these versions, as dpkg writes it (from the repo's Packages). */
async function status(pkgs: Array<[string, string]>): Promise<string> {
  const want = new Map(pkgs);
  const packages = await execOk('xz', ['-dc', world.repo.path('dists/stable/main/binary-amd64/Packages.xz')]);
  return statusFromPackages(packages, (p) =>
    want.get(p['package']!) === p['version'] ? 'install ok installed' : undefined,
  );
}

describe('issue 3: the server computes outdated from the package index the proxy fed', () => {
  let server: TestServer;
  let apt: AptEnv;

  before(async () => {
    world = await makeWorld({ debs: [...v1, { name: 'alpha', version: '2.0-1' }, { name: 'beta', version: '2.0-1' }] });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    apt = await aptEnv(path.join(world.dir, 'apt'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    await runAptOk(['update', '--error-on=any'], { apt });
    await server.proxy.indexer.idle();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('answers like apt for the same machine, from the stored package index; one profile per distinct set', async () => {
    const text = await status([
      ['alpha', '1.0-1'],
      ['beta', '1.0-1'],
      ['gamma', '1.0-1'],
    ]);
    await apt.setSources([{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }]);
    await writeFile(apt.statusFile, text);
    const viewId = server.outdated.defineView({
      sources: [{ backend: 'fixture', suite: 'stable', components: ['main'] }],
      arch: 'amd64',
      foreignArchs: [],
    });
    const p1 = server.profiles.store(parseStatus(text));
    // the same set reported again (another machine, another order) is the same profile
    const p2 = server.profiles.store(parseStatus(text).reverse());
    assert.equal(p2.id, p1.id);
    const a = server.outdated.get(p1.id, viewId);
    assert.equal(a.cached, false);
    assert.deepEqual(setDiff(await aptUpgradable({ apt }), upgradableSet(a.result)), { onlyApt: [], onlyAptgate: [] });
    assert.deepEqual(
      a.result.entries.map((e) => `${e.package} ${e.candidateVersion}`),
      ['alpha 2.0-1', 'beta 2.0-1'],
    );
    assert.equal(a.result.entries[0]!.origins[0]!.backend, 'fixture');
    const again = server.outdated.get(p1.id, viewId);
    assert.equal(again.cached, true);
    assert.deepEqual(again.result, a.result);
  });

  it('a new upstream snapshot recomputes only the profiles holding a package that changed', async () => {
    const viewId = server.outdated.defineView({
      sources: [{ backend: 'fixture', suite: 'stable', components: ['main'] }],
      arch: 'amd64',
      foreignArchs: [],
    });
    const withAlpha = server.profiles.store(
      parseStatus(
        await status([
          ['alpha', '1.0-1'],
          ['beta', '1.0-1'],
          ['gamma', '1.0-1'],
        ]),
      ),
    );
    const gammaOnly = server.profiles.store(parseStatus(await status([['gamma', '1.0-1']])));
    server.outdated.get(withAlpha.id, viewId);
    assert.equal(server.outdated.get(gammaOnly.id, viewId).result.entries.length, 0);
    const before = { ...server.outdated.stats };

    // upstream publishes alpha 3.0; apt update through the proxy makes the new snapshot
    await world.repo.publish('stable', [
      ...v1,
      { name: 'alpha', version: '3.0-1' },
      { name: 'beta', version: '2.0-1' },
    ]);
    await runAptOk(['update', '--error-on=any'], { apt });
    await server.proxy.indexer.idle();
    // the refresh is queued on the next turn of the event loop after the link, then runs in slices
    await new Promise((r) => setImmediate(r));
    await server.outdated.idle();
    assert.equal(server.outdated.stats.computed - before.computed, 1, 'only the profile with alpha is computed again');
    assert.equal(server.outdated.stats.carried - before.carried, 1, 'the gamma-only profile is carried over');

    const a = server.outdated.get(withAlpha.id, viewId);
    assert.equal(a.cached, true);
    assert.deepEqual(
      a.result.entries.map((e) => `${e.package} ${e.candidateVersion}`),
      ['alpha 3.0-1', 'beta 2.0-1'],
    );
    await writeFile(
      apt.statusFile,
      await status([
        ['alpha', '1.0-1'],
        ['beta', '1.0-1'],
        ['gamma', '1.0-1'],
      ]),
    );
    assert.deepEqual(setDiff(await aptUpgradable({ apt }), upgradableSet(a.result)), { onlyApt: [], onlyAptgate: [] });
    assert.equal(server.outdated.get(gammaOnly.id, viewId).cached, true);
  });
});
