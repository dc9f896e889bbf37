// The gate's catch-up: a first stage that missed a snapshot takes the newest indexed one at the
// server's start (and on each tick), without undoing anything. The real case here: a stage added
// at the head of the ladder of a server that already indexed its suites, restarted on the same
// state. Real apt through a real server, then the same state under the new ladder.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { settled, upstreamSeenBy } from './helpers/settle.js';
import { makeWorld, type World } from './helpers/world.js';

describe('gate: a first stage catches up with snapshots it missed', () => {
  let world: World;
  let server: TestServer | undefined;
  let observer: AptEnv;
  const config = (stages: string[]) =>
    testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
      c.gate.stages = stages;
    });

  before(async () => {
    world = await makeWorld({ debs: [{ name: 'demo', version: '1.0-1', arch: 'all' }] });
    await world.repo.publish('stable-security', [{ name: 'sec', version: '1.0-1', arch: 'all' }]);
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('a stage added at the head of the ladder takes the newest indexed snapshot of every suite at start', async () => {
    server = await startServer(config(['test', 'production']));
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable', 'stable-security'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeenBy(server, observer, 'fixture', ['stable', 'stable-security']);
    // upstream moves on: the first stage follows
    await world.repo.publish('stable', [
      { name: 'demo', version: '1.0-1', arch: 'all' },
      { name: 'demo', version: '2.0-1', arch: 'all' },
    ]);
    await upstreamSeenBy(server, observer, 'fixture', ['stable', 'stable-security']);
    const stages = server.services.state.stages;
    const before = new Map(['test', 'production'].map((s) => [s, stages.currentAll(s).map((g) => g.id)]));
    const newest = server.services.state.snapshots.newest('fixture', 'stable')!;
    assert.equal(stages.current('test', 'fixture', 'stable')?.baseSnapshot, newest.id);
    assert.notEqual(stages.current('production', 'fixture', 'stable')?.baseSnapshot, newest.id);
    assert.deepEqual(await server.gate.catchUp(), [], 'nothing is behind: nothing made');
    await server.close();
    server = undefined;

    server = await startServer(config(['canary', 'test', 'production']));
    await server.gate.idle();
    const canary = server.services.state.stages.currentAll('canary');
    assert.deepEqual(canary.map((g) => [g.suite, g.kind, g.baseSnapshot]).sort(), [
      ['stable', 'initial', newest.id],
      ['stable-security', 'initial', server.services.state.snapshots.newest('fixture', 'stable-security')!.id],
    ]);
    // the stages behind it keep what they had: no promotion happens by itself
    for (const [s, ids] of before)
      assert.deepEqual(
        server.services.state.stages.currentAll(s).map((g) => g.id),
        ids,
        s,
      );
    assert.deepEqual(await server.gate.catchUp(), []);
    // the canary stage is served, signed, with the newest content
    await settled(server);
    const text = await (
      await fetch(`${server.url}/stage/canary/fixture/dists/stable/main/binary-amd64/Packages`)
    ).text();
    assert.match(text, /^Package: demo\nVersion: 2\.0-1$/m);
  });
});
