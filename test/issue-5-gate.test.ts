// Issue 5: the release gate, end to end with real apt, real agents and a fixture upstream. A
// test-stage machine sees new versions first; its successful upgrade opens the gate; a
// promotion moves them to production, whose machines install them with apt verifying the
// server's signature. Also: a failed test machine keeps the gate closed (and says why), a
// forced promotion is recorded, rollback hides a version again, --only moves one source, the
// soak time of auto-promotion, and a production client cannot fetch what it was not given.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient } from '../src/agent/client.js';
import { buildProgram } from '../src/cli/program.js';
import { isAptgateError } from '../src/errors.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { execOk } from './helpers/exec.js';
import type { DebSpec } from './helpers/debs.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';
import { settled, upstreamSeenBy } from './helpers/settle.js';

const deb = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({
  name,
  version,
  arch: 'all',
  ...more,
});
const v1 = [deb('demo', '1.0-1'), deb('other', '1.0-1')];
const v2 = [deb('demo', '2.0-1'), deb('other', '2.0-1')];

let world: World;
let server: TestServer;
let observer: AptEnv;
let qa: TestAgent;
let prod: TestAgent;
let offset = 0;

const upstreamSeen = () => upstreamSeenBy(server, observer, 'fixture', ['stable']);
const settle = () => settled(server);
async function candidate(a: TestAgent, pkg: string): Promise<string> {
  const r = await a.root.apt(['policy', pkg], 'apt-cache');
  return /Candidate: (\S+)/.exec(r.output)?.[1] ?? '';
}
async function updateOk(a: TestAgent): Promise<void> {
  const r = await a.root.apt(['update', '--error-on=any']);
  assert.equal(r.code, 0, r.output);
}
async function get(pathname: string): Promise<number> {
  return (await fetch(`${server.url}${pathname}`)).status;
}
async function stagePackages(stage: string): Promise<string> {
  return (await fetch(`${server.url}/stage/${stage}/fixture/dists/stable/main/binary-amd64/Packages`)).text();
}
const versionsIn = (packages: string, name: string) =>
  [...packages.matchAll(new RegExp(`^Package: ${name}\\nVersion: (\\S+)`, 'gm'))].map((m) => m[1]);
const poolOf = (name: string, version: string) =>
  `/stage/%s/fixture/pool/main/${name[0]}/${name}/${name}_${version}_all.deb`;

/** An upgrade on the test machine, as a schedule would make it: update, then upgrade. */
async function upgradeOnQa(): Promise<{ jobs: Array<{ id: number; failure?: string }> }> {
  const id = qa.state.identity()!.machine;
  server.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
  server.fleet.jobs.create([id], { kind: 'upgrade', origin: 'test' });
  const r = JSON.parse(await qa.runOk(['run-once', '--json'])) as { jobs: Array<{ id: number; failure?: string }> };
  await settle();
  return r;
}

describe('issue 5: the release gate', () => {
  before(async () => {
    world = await makeWorld({ debs: v1 });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
        c.gate.autoPromote = new Map([['test', 3_600_000]]);
      }),
      { now: () => Date.now() + offset },
    );
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeen();
    const ladder = server.config.gate.stages;
    for (const [name, stage, gate] of [
      ['qa', 'test', true],
      ['prod', 'production', false],
    ] as const) {
      server.fleet.classes.create(name);
      server.fleet.classes.bindStage(name, stage, gate, ladder);
    }
    qa = await createAgent(path.join(world.dir, 'qa-1'), server.url, { hostname: 'qa-1' });
    prod = await createAgent(path.join(world.dir, 'prod-1'), server.url, { hostname: 'prod-1' });
    for (const [a, cls] of [
      [qa, 'qa'],
      [prod, 'prod'],
    ] as const) {
      // enrolment writes the stage's signed sources (Signed-By the server's key) and updates
      await a.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ class: cls, autoApprove: true }).token]);
      assert.ok(a.state.sourcesHash(), 'stage sources written');
      assert.match(
        await readFile(path.join(a.root.target.sourcesDir, 'aptgate.sources'), 'utf8'),
        new RegExp(`URIs: ${server.url}/stage/${cls === 'qa' ? 'test' : 'production'}/fixture\nSuites: stable`),
      );
      const r = await a.root.apt(['install', '-y', 'demo', 'other']);
      assert.equal(r.code, 0, r.output);
      await a.runOk(['run-once']);
    }
    await settle();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('upstream v2 reaches the test stage at once, production only after the test machine upgraded and a promotion', async () => {
    await world.repo.publish('stable', [...v1, ...v2]);
    await upstreamSeen();
    await updateOk(qa);
    await updateOk(prod);
    assert.equal(await candidate(qa, 'demo'), '2.0-1');
    assert.equal(await candidate(prod, 'demo'), '1.0-1');
    // a production client asking for the v2 .deb by path
    assert.equal(await get(poolOf('demo', '2.0-1').replace('%s', 'production')), 404);
    assert.equal(await get(poolOf('demo', '2.0-1').replace('%s', 'test')), 200);
    assert.equal(await get(poolOf('demo', '1.0-1').replace('%s', 'production')), 200);

    const before = server.gate.status('test');
    assert.equal(before.holds, false);
    assert.deepEqual(
      before.updates.map((u) => `${u.source} ${u.from} → ${u.to}`),
      ['demo 1.0-1 → 2.0-1', 'other 1.0-1 → 2.0-1'],
    );
    assert.match(before.missing.join('\n'), /qa-1: no upgrade job since the content was published/);
    await assert.rejects(server.gate.promote('test', { actor: 'admin' }), (e) => isAptgateError(e, 'GATE_CLOSED'));

    const run = await upgradeOnQa();
    assert.deepEqual(
      run.jobs.map((j) => j.failure),
      [undefined, undefined],
    );
    const open = server.gate.status('test');
    assert.deepEqual(
      open.machines.map((m) => [m.hostname, m.standing.status]),
      [['qa-1', 'passed']],
    );
    assert.equal(open.holds, true, open.missing.join('; '));

    // --only moves exactly one of the two updated sources
    await server.gate.promote('test', { only: ['other'], actor: 'admin' });
    const inRelease = `${server.url}/stage/production/fixture/dists/stable/InRelease`;
    const first = await fetch(inRelease);
    const firstText = await first.text();
    const firstDate = first.headers.get('last-modified')!;
    const partial = await stagePackages('production');
    assert.deepEqual([versionsIn(partial, 'demo'), versionsIn(partial, 'other')], [['1.0-1'], ['1.0-1', '2.0-1']]);
    assert.deepEqual(
      server.gate.status('test').updates.map((u) => u.source),
      ['demo'],
    );

    const [gen] = await server.gate.promote('test', { actor: 'admin' });
    // apt asks again with the date it was given: the next generation is newer, even within the same second
    const again = await fetch(inRelease, { headers: { 'If-Modified-Since': firstDate } });
    assert.equal(again.status, 200, `a 304 here keeps apt on the previous generation (${firstDate})`);
    assert.notEqual(await again.text(), firstText);
    assert.ok(Date.parse(again.headers.get('last-modified')!) > Date.parse(firstDate));
    assert.equal(gen!.stage, 'production');
    assert.equal(gen!.actor, 'admin');
    assert.deepEqual(
      (
        gen!.evidence as { gate: { machines: Array<{ hostname: string; status: string; job: number }> } }
      ).gate.machines.map((m) => [m.hostname, m.status]),
      [['qa-1', 'passed']],
    );
    await updateOk(prod);
    assert.equal(await candidate(prod, 'demo'), '2.0-1');
    const inst = await prod.root.apt(['install', '-y', 'demo']);
    assert.equal(inst.code, 0, inst.output);
    assert.equal((await prod.root.installed('demo'))?.version, '2.0-1');
  });

  it('a failed test machine keeps the gate closed with its reason; a forced promotion is recorded; rollback hides it again', async () => {
    await world.repo.publish('stable', [
      ...v1,
      ...v2,
      deb('demo', '3.0-1', { postinst: '#!/bin/sh\necho "postinst fails on purpose" >&2\nexit 1\n' }),
    ]);
    await upstreamSeen();
    const run = await upgradeOnQa();
    assert.ok(run.jobs.at(-1)!.failure, 'the upgrade failed');
    const st = server.gate.status('test');
    assert.equal(st.holds, false);
    const qaRow = st.machines.find((m) => m.hostname === 'qa-1')!;
    assert.equal(qaRow.standing.status, 'failed');
    assert.match((qaRow.standing as { reason: string }).reason, /upgrade job \d+ failed/);
    await assert.rejects(server.gate.promote('test', { actor: 'admin' }), (e) => isAptgateError(e, 'GATE_CLOSED'));
    await assert.rejects(
      server.gate.promote('test', { actor: 'admin', force: true }),
      (e) => isAptgateError(e, 'USAGE'),
      'a force needs a reason',
    );
    const [forced] = await server.gate.promote('test', {
      actor: 'admin',
      force: true,
      reason: 'upstream says the postinst failure is harmless',
    });
    assert.equal(forced!.forced, true);
    assert.equal(forced!.reason, 'upstream says the postinst failure is harmless');
    assert.ok(versionsIn(await stagePackages('production'), 'demo').includes('3.0-1'));
    assert.equal(await get(poolOf('demo', '3.0-1').replace('%s', 'production')), 200);

    const [back] = await server.gate.rollback('production', 'admin', 'postinst really fails');
    assert.equal(back!.kind, 'rollback');
    assert.ok(!versionsIn(await stagePackages('production'), 'demo').includes('3.0-1'));
    assert.equal(await get(poolOf('demo', '3.0-1').replace('%s', 'production')), 404);
    await updateOk(prod);
    assert.equal(await candidate(prod, 'demo'), '2.0-1');
    const kinds = server.gate.history('production').map((g) => `${g.kind}${g.forced ? ' (forced)' : ''}`);
    assert.deepEqual(kinds, ['initial', 'promote', 'promote', 'promote (forced)', 'rollback']);
    // rolling back again goes one step further back (to before the full v2 promotion), not forth
    await server.gate.rollback('production', 'admin');
    assert.deepEqual(versionsIn(await stagePackages('production'), 'demo'), ['1.0-1']);
  });

  it('auto-promotion moves a stage on once its gate holds and the soak time has passed', async () => {
    // the broken version is gone upstream, v4 is fine; the test machine drops its half-configured demo
    await execOk('dpkg', [...qa.root.target.dpkgOptions, '--purge', '--force-all', 'demo']);
    await world.repo.publish('stable', [...v1, ...v2, deb('demo', '4.0-1')]);
    await upstreamSeen();
    const run = await upgradeOnQa();
    assert.deepEqual(
      run.jobs.map((j) => j.failure),
      [undefined, undefined],
      JSON.stringify(run),
    );
    assert.equal(server.gate.status('test').holds, true, server.gate.status('test').missing.join('; '));
    assert.deepEqual(await server.gate.autoPromote(), [], 'not soaked yet');
    offset += 2 * 3_600_000;
    const made = await server.gate.autoPromote();
    assert.deepEqual(
      made.map((g) => [g.stage, g.kind, g.actor]),
      [['production', 'promote', 'aptgate (auto-promotion)']],
    );
    assert.ok(versionsIn(await stagePackages('production'), 'demo').includes('4.0-1'));
  });

  it('a machine sees both lists (approved in its stage, available upstream); moving its class to another stage takes effect at its next check-in', async () => {
    await world.repo.publish('stable', [...v1, ...v2, deb('demo', '4.0-1'), deb('demo', '5.0-1')], {
      validUntil: new Date(Date.now() + 86_400_000),
    });
    await upstreamSeen();
    // a held stage never expires: upstream's InRelease has a Valid-Until, the stage's none
    assert.match(await readFile(world.repo.path('dists/stable/InRelease'), 'utf8'), /^Valid-Until: /m);
    const stageRelease = await (await fetch(`${server.url}/stage/test/fixture/dists/stable/InRelease`)).text();
    assert.match(stageRelease, /^Codename: /m);
    assert.doesNotMatch(stageRelease, /Valid-Until/);

    await prod.runOk(['run-once']);
    await settle();
    const id = prod.state.identity()!;
    const client = new RpcClient({ server: server.url, timeoutS: 30 }, { identity: id, state: prod.state });
    type Part = { known: boolean; packages: Array<{ package: string; candidate: string }> };
    const lists = await client.call<{ stage: string; approved: Part; available: Part }>('agent.outdated', [
      { machineId: prod.machineId },
    ]);
    assert.equal(lists.stage, 'production');
    const demoIn = (p: Part) => p.packages.find((e) => e.package === 'demo')?.candidate;
    assert.deepEqual([lists.approved.known, lists.available.known], [true, true]);
    assert.equal(demoIn(lists.approved), '4.0-1');
    assert.equal(demoIn(lists.available), '5.0-1');

    // the same two lists from the administrator's command line
    let printed = '';
    const program = buildProgram((t) => {
      printed += t;
    });
    program.exitOverride();
    await program.parseAsync([
      'node',
      'aptgate',
      'machines',
      'outdated',
      'prod-1',
      '--json',
      '--db',
      server.config.db,
      '--cache-dir',
      server.config.cacheDir,
    ]);
    const doc = JSON.parse(printed) as {
      stage: string;
      bypass: string[];
      packages: Array<{ package: string; candidateVersion: string }>;
      available: { packages: Array<{ package: string; candidateVersion: string }> };
    };
    assert.equal(doc.stage, 'production');
    assert.deepEqual(doc.bypass, [], 'no source around the stage');
    assert.equal(doc.packages.find((e) => e.package === 'demo')?.candidateVersion, '4.0-1');
    assert.equal(doc.available.packages.find((e) => e.package === 'demo')?.candidateVersion, '5.0-1');

    server.fleet.classes.bindStage('prod', 'test', false, server.config.gate.stages);
    const raw = await prod.run(['run-once', '--json']);
    const run = JSON.parse(raw.stdout) as { sources?: string };
    assert.doesNotMatch(raw.stderr, /failed/, raw.stderr);
    assert.ok(run.sources, 'new stage sources at the next check-in');
    assert.match(
      await readFile(path.join(prod.root.target.sourcesDir, 'aptgate.sources'), 'utf8'),
      /\/stage\/test\/fixture/,
    );
    assert.equal(await candidate(prod, 'demo'), '5.0-1');
  });
});
