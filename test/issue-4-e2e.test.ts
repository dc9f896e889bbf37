// Issue 4 end to end: a real agent runs real apt-get and dpkg in a separate root, through the
// aptgate proxy, on jobs made by a class schedule; the server's outdated answer follows, the
// agent's own apt agrees, a held package is reported and left alone, a broken source is rolled
// back, and disruptive jobs wait for the class's maintenance window.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stat } from 'node:fs/promises';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { renderSources } from './helpers/apt.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';
import type { CollectedExtras } from '../src/agent/types.js';

const debs = [
  ...['alpha', 'beta', 'gamma'].map((name) => ({ name, version: '1.0-1' })),
  { name: 'alpha', version: '2.0-1' },
  { name: 'beta', version: '2.0-1' },
];

let world: World;
let server: TestServer;
let agent: TestAgent;
let clock = Date.now();

function outdatedOf(machine: number): string[] {
  const m = server.fleet.machines.byId(machine)!;
  const r = server.fleet.machines.report(machine)!;
  assert.ok(m.profileId && r.viewId, 'the machine has a profile and a view');
  return server.outdated
    .get(m.profileId, r.viewId)
    .result.entries.map((e) => `${e.package} ${e.installedVersion}->${e.candidateVersion}${e.held ? ' held' : ''}`);
}

describe('issue 4: the agent upgrades a machine through the proxy on a class schedule', () => {
  before(async () => {
    world = await makeWorld({ debs });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
      { now: () => clock },
    );
    agent = await createAgent(path.join(world.dir, 'web-1'), server.url, {
      hostname: 'web-1',
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
    });
    const root = agent.root;
    for (const args of [
      ['update', '--error-on=any'],
      ['install', '-y', 'alpha=1.0-1', 'beta=1.0-1', 'gamma'],
      ['hold', 'beta'],
    ]) {
      const r = await root.apt(args, args[0] === 'hold' ? 'apt-mark' : 'apt-get');
      assert.equal(r.code, 0, r.output);
    }
    await server.proxy.indexer.idle();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('a scheduled upgrade on a class upgrades the machine; the server then shows it up to date but for the held package', async () => {
    server.fleet.classes.create('web');
    server.fleet.classes.addRule('web', 'hostname', 'web-*');
    const schedule = server.fleet.schedules.add({ className: 'web', kind: 'upgrade', cron: '0 2 * * *' });
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    const id = agent.state.identity()!.machine;
    assert.deepEqual(
      server.fleet.classes.classesOf(server.fleet.machines.byId(id)!).map((c) => c.name),
      ['web'],
    );
    await agent.runOk(['run-once']);
    assert.deepEqual(outdatedOf(id), ['alpha 1.0-1->2.0-1', 'beta 1.0-1->2.0-1 held']);
    const extras = JSON.parse(server.fleet.machines.report(id)!.extras) as CollectedExtras;
    assert.deepEqual(extras.holds, ['beta:amd64']);
    // the machine's own apt agrees with the server
    const d = (await server.fleet.reports.crossCheck(id))!;
    assert.deepEqual([d.onlyApt, d.onlyServer], [[], []]);

    assert.deepEqual(server.fleet.schedules.tick(), [], 'not 02:00 yet');
    clock = schedule.nextAt;
    const [jobId] = server.fleet.schedules.tick();
    assert.ok(jobId);
    assert.deepEqual(server.fleet.schedules.tick(), [], 'fired once');
    const run = JSON.parse(await agent.runOk(['run-once', '--json'])) as {
      jobs: Array<{ id: number; failure?: string }>;
      reported: string;
    };
    assert.deepEqual(
      run.jobs.map((j) => [j.id, j.failure]),
      [[jobId, undefined]],
    );
    assert.equal(run.reported, 'delta', 'after the upgrade only the changed packages travel');
    const job = server.fleet.jobs.byId(jobId)!;
    assert.equal(job.state, 'succeeded', job.transcript ?? '');
    assert.match(job.transcript!, /\$ apt-get .*upgrade/);
    assert.equal((await agent.root.installed('alpha'))?.version, '2.0-1');
    assert.equal((await agent.root.installed('beta'))?.version, '1.0-1', 'the held package is not touched');
    assert.deepEqual(outdatedOf(id), ['beta 1.0-1->2.0-1 held']);
  });

  it('add-source with a broken source is rolled back and the failure is classified', async () => {
    const id = agent.state.identity()!.machine;
    const content = renderSources([
      { uri: 'http://127.0.0.1:1/nowhere', suites: ['stable'], signedBy: world.key.keyring },
    ]);
    const [jobId] = server.fleet.jobs.create([id], {
      kind: 'add-source',
      params: { name: 'broken', content },
      origin: 'test',
    });
    await agent.runOk(['run-once']);
    const job = server.fleet.jobs.byId(jobId!)!;
    assert.deepEqual([job.state, job.failure], ['failed', 'network']);
    await assert.rejects(stat(path.join(agent.root.target.sourcesDir, 'aptgate-broken.sources')));
    const extras = JSON.parse(server.fleet.machines.report(id)!.extras) as CollectedExtras;
    assert.deepEqual(
      extras.sources.map((s) => path.basename(s.path)),
      ['fixture.sources'],
    );
  });

  it('disruptive jobs wait for a maintenance window of the class; others do not', async () => {
    const id = agent.state.identity()!.machine;
    const now = new Date(clock);
    const start = (now.getHours() * 60 + now.getMinutes() + 120) % 1440;
    const hm = (x: number) => `${String(Math.floor(x / 60)).padStart(2, '0')}:${String(x % 60).padStart(2, '0')}`;
    const { parseWindow } = await import('../src/fleet/classes.js');
    const windowId = server.fleet.classes.addWindow(
      'web',
      parseWindow(`daily ${hm(start)}-${hm((start + 60) % 1440)}`),
    );
    const [install] = server.fleet.jobs.create([id], {
      kind: 'install',
      params: { packages: ['gamma'] },
      origin: 'test',
    });
    const [update] = server.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
    await agent.runOk(['run-once']);
    assert.equal(server.fleet.jobs.byId(update!)!.state, 'succeeded');
    assert.equal(server.fleet.jobs.byId(install!)!.state, 'queued', 'outside the window');
    clock += 125 * 60_000;
    await agent.runOk(['run-once']);
    assert.equal(server.fleet.jobs.byId(install!)!.state, 'succeeded');
    server.fleet.classes.removeWindow(windowId);
  });
});
