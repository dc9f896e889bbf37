// Issue 17, rollouts in waves attacked: hostile input over the API, the rollout views' URLs,
// races of the state machine (a start, a tick, an abort and a promotion on one event loop, each
// awaiting in the middle), a class or a machine changed under a running rollout. Six cheap
// machines enrolled over /RPC2 (no agent); their jobs are handed out and reported through the
// fleet as the RPC would. Each test states the attack and what must hold.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RolloutDetailJson, RolloutJson } from '../src/gate/rollout-queries.js';
import { promoteWithRollout } from '../src/gate/rollout-queries.js';
import { addTestUsers, assertError, bearer, login, PASSWORD, type ApiClient } from './helpers/api.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import { enrolOverHttp } from './helpers/reports.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { upstreamSeenBy } from './helpers/settle.js';
import { makeWorld, type World } from './helpers/world.js';

const deb = (name: string, version: string): DebSpec => ({ name, version, arch: 'all' });

let world: World;
let server: TestServer;
let observer: AptEnv;
let viewer: ApiClient;
let operator: ApiClient;

const upstreamSeen = () => upstreamSeenBy(server, observer, 'fixture', ['stable']);
const svc = () => server.services.rollouts;
const rollouts = async (): Promise<RolloutJson[]> => (await viewer.call('GET', '/rollouts')).body.rollouts;
const show = async (id: number): Promise<RolloutDetailJson> => {
  const r = await viewer.call('GET', `/rollouts/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as RolloutDetailJson;
};
const jobCount = async (): Promise<number> => (await viewer.call('GET', '/jobs?limit=1000')).body.jobs.length;
const rolloutJobs = async (id: number) =>
  ((await viewer.call('GET', '/jobs?limit=1000')).body.jobs as Array<{ id: number; origin: string; state: string }>)
    .filter((j) => j.origin.startsWith(`rollout ${id} `))
    .map((j) => j.state);
const perWave = (r: RolloutDetailJson) => r.waves.map((_, w) => r.machines.filter((m) => m.wave === w + 1).length);
const start = (className: string, more: Record<string, unknown> = {}) =>
  svc().start({
    stage: 'production',
    className,
    waves: '50%,100%',
    soakMs: 0,
    halt: '1',
    jobKind: 'upgrade',
    actor: 'mallory',
    ...more,
  });
/** A job handed to its machine, started and reported, as the agent's calls would. */
function report(job: number, exitCode: number): void {
  const jobs = server.services.fleet.jobs;
  const j = jobs.byId(job)!;
  const m = server.services.fleet.machines.byId(j.machineId)!;
  const d = jobs.next(m);
  assert.equal(d?.id, job, `job ${job} is the machine's next`);
  jobs.started(m.id, job, m.credentialVersion);
  jobs.finished(
    m.id,
    job,
    { exitCode, durationMs: 1, failure: exitCode ? 'other' : null, summary: '', transcript: '' },
    m.credentialVersion,
  );
}

describe('issue 17 attack: rollouts in waves', () => {
  before(async () => {
    world = await makeWorld({ debs: [deb('demo', '1.0-1'), deb('other', '1.0-1')] });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    await addTestUsers(server.services);
    const apiToken = async (user: string, role: string) => {
      const t = await (
        await login(server.url, user, PASSWORD)
      ).call('POST', '/api-tokens', {
        role,
        expires: '1d',
        name: 'attack',
      });
      return t.body.token as string;
    };
    operator = bearer(server.url, await apiToken('oscar', 'operator'));
    viewer = bearer(server.url, await apiToken('vera', 'viewer'));
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeen();
    const ladder = server.config.gate.stages;
    const classes = server.services.fleet.classes;
    for (const [name, stage] of [
      ['web', 'production'],
      ['empty', 'production'],
      ['lone', 'production'],
      ['loose', null],
    ] as const) {
      classes.create(name);
      if (stage) classes.bindStage(name, stage, false, ladder);
    }
    const { token } = server.services.fleet.enrolment.createToken({ class: 'web', autoApprove: true });
    for (let i = 1; i <= 6; i++) await enrolOverHttp(server.url, token, `web-${i}`);
    await world.repo.publish('stable', [deb('demo', '2.0-1'), deb('other', '2.0-1')]);
    await upstreamSeen();
    const p = await operator.call('POST', '/stages/test/promote', { only: ['demo'], force: true, reason: 'demo 2' });
    assert.equal(p.status, 200, JSON.stringify(p.body));
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('held: hostile start, pause and abort input is a clear 400 or 404, and changes nothing', async () => {
    const jobs = await jobCount();
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/rollouts', { stage: 'production', class: 'web', waves: '100%,100%' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', waves: Array(21).fill('100%').join(',') }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', waves: '0%,100%' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', waves: '1e2%' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', waves: '-5%,100%' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', soak: '-1h' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', soak: '999999d' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', soak: 3600 }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', halt: '101%' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', halt: '1e3' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', halt: '-1' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', halt: '0%' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', jobs: 'reboot' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', jobs: '' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', reshuffle: 'yes' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', reason: 'a\r\nb' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', reason: '\u001b[31mred' }, 400],
      ['POST', '/rollouts', { stage: 'production', class: 'web', constructor: { prototype: { x: 1 } } }, 400],
      ['POST', '/rollouts', { stage: 'production--r1-to', class: 'web' }, 404],
      ['POST', '/rollouts', { stage: 'production', class: 'web'.repeat(100) }, 400],
      ['POST', '/rollouts', ['production', 'web'], 400],
      ['POST', '/rollouts/-1/abort', {}, 400],
      ['POST', '/rollouts/1.5/abort', {}, 400],
      ['POST', '/rollouts/1e309/abort', {}, 400],
      ['POST', '/rollouts/99999999999999999999/abort', {}, 400],
      ['POST', '/rollouts/0x1/pause', {}, 404], // Number('0x1'): rollout 1, none
      ['POST', '/rollouts/1/abort', { id: 2 }, 400],
      ['POST', '/rollouts/1/abort', {}, 404],
      ['GET', '/rollouts/1e309', undefined, 400],
      ['GET', '/rollouts?limit=1e309', undefined, 400],
      ['GET', '/rollouts?stage=__proto__', undefined, 404],
    ];
    for (const [method, url, body, status] of cases) {
      const a = await operator.call(method, url, body);
      assert.equal(
        a.status,
        status,
        `${method} ${url} ${JSON.stringify(body)?.slice(0, 80)}: ${JSON.stringify(a.body)}`,
      );
      assert.equal(typeof a.body.error?.message, 'string');
    }
    // a __proto__ key as raw JSON (a literal would set the prototype, not send the key)
    const raw = await operator.call(
      'POST',
      '/rollouts',
      '{"stage":"production","class":"web","__proto__":{"jobKind":"dist-upgrade"}}',
    );
    assert.equal(raw.status, 400, JSON.stringify(raw.body));
    assertError(await viewer.call('POST', '/rollouts', { stage: 'production', class: 'web' }), 403, 'FORBIDDEN');
    for (const what of ['pause', 'resume', 'abort'])
      assertError(await viewer.call('POST', `/rollouts/1/${what}`, {}), 403, 'FORBIDDEN');
    assert.deepEqual(await rollouts(), []);
    assert.equal(await jobCount(), jobs, 'no job made');
  });

  it('finding: a tick during a start (its machines placed over several turns) put them all in the last wave and opened it', async () => {
    // the server's schedule tick runs whenever it is due: here in the middle of the start's awaits
    const [started] = await Promise.all([start('web', { waves: '20%,50%,100%' }), svc().tick()]);
    try {
      const r = await show(started.id);
      assert.deepEqual(perWave(r), [2, 1, 3], 'waves by rank, as a start alone makes them');
      assert.deepEqual([r.state, r.wave], ['running', 1]);
      assert.deepEqual(
        r.machines.map((m) => m.status),
        ['pending', 'pending', 'not open', 'not open', 'not open', 'not open'],
      );
      assert.deepEqual(await rolloutJobs(r.id), ['queued', 'queued'], 'jobs for wave 1 only');
    } finally {
      await svc().abort(started.id, 'test', 'done with it');
    }
  });

  it('finding: an abort while the start queues its first wave left that wave jobs of an aborted rollout', async () => {
    const p = start('web');
    const id = svc().latest('production', 'web')!.id;
    const aborted = await svc().abort(id, 'oscar', 'changed my mind');
    const started = await p;
    assert.deepEqual([aborted.state, started.state, (await show(id)).state], ['aborted', 'aborted', 'aborted']);
    const states = await rolloutJobs(id);
    assert.ok(
      states.every((s) => s === 'cancelled'),
      `every job it made is taken back: ${states.join(', ')}`,
    );
  });

  it('finding: an abort while the tick judged the wave was overwritten: the aborted rollout became done (its class read the new content)', async () => {
    // a class without machines: every wave opens at once, the tick ends the rollout
    const r = await start('empty', { jobKind: '' });
    const t = svc().tick();
    await svc().abort(r.id, 'oscar', 'stop');
    await t;
    const after = await show(r.id);
    assert.equal(after.state, 'aborted');
    assert.deepEqual(
      after.events.map((e) => e.what),
      ['started', 'aborted'],
    );
    assert.equal(svc().viewOf(999_999, 'production', 'empty'), `production--r${r.id}-from`);
  });

  it('held: the views answer only what they name; ids of other stages, of no rollout, huge or encoded are 404, never 500', async () => {
    const r = await start('web');
    const id = r.id;
    const get = (p: string, init?: RequestInit) => fetch(`${server.url}/stage/${p}`, init);
    const release = 'fixture/dists/stable/InRelease';
    for (const side of ['from', 'to']) assert.equal((await get(`production--r${id}-${side}/${release}`)).status, 200);
    assert.equal((await get(`production--r${id}-to/${release}`, { method: 'HEAD' })).status, 200);
    const ranged = await get(`production--r${id}-to/${release}`, { headers: { range: 'bytes=0-9' } });
    assert.equal(ranged.status, 206);
    assert.equal((await ranged.arrayBuffer()).byteLength, 10);
    for (const p of [
      `test--r${id}-to/${release}`, // a rollout of production read as one of test
      `production--r999-to/${release}`,
      `production--r0-to/${release}`,
      `production--r1234567890-to/${release}`,
      `production--r${id}-both/${release}`,
      `production--r${id}-to--r${id}-to/${release}`,
      `production--r${id}%2Dto/${release}`,
      `production--r${id}-to/fixture/dists/stable/..%2F..%2F..%2Faptgate.db`,
      `production--r${id}-to/fixture/pool/%2E%2E/%2E%2E/aptgate.db`,
      `staging--r${id}-to/${release}`,
    ]) {
      const a = await get(p);
      assert.ok(a.status === 404 || a.status === 400, `${p}: ${a.status}`);
    }
    // demo 2.0's file: named by the -to side only
    const inRelease = await (await get(`production--r${id}-to/${release}`)).text();
    const packages = / (main\/binary-[a-z0-9]+\/Packages)$/m.exec(inRelease)![1];
    const to = await (await get(`production--r${id}-to/fixture/dists/stable/${packages}`)).text();
    const file = /^Filename: (.*demo_2\.0-1.*)$/m.exec(to)?.[1];
    assert.ok(file, to);
    assert.equal((await get(`production--r${id}-from/fixture/${file}`)).status, 404);
    assert.equal((await get(`production--r${id}-from/fixture/${file}`, { method: 'HEAD' })).status, 404);
    assert.equal((await get(`production--r${id}-to/fixture/${file}`)).status, 200);
  });

  it('finding: machines that left the class still stood in its waves (their jobs, or none, decided them) and got its jobs', async () => {
    const [r] = await rollouts();
    const before = await show(r!.id);
    const wave1 = before.machines.filter((m) => m.wave === 1);
    const wave2 = before.machines.filter((m) => m.wave === 2);
    const classes = server.services.fleet.classes;
    // one of wave 1 (its job never runs) and one of wave 2 move to a class of no stage
    for (const m of [wave1[0]!, wave2[0]!]) {
      classes.removeMember('web', m.id);
      classes.addMember('loose', m.id);
    }
    for (const m of wave1.slice(1)) report(m.job!, 0);
    await svc().tick();
    const now = await show(r!.id);
    assert.deepEqual([now.state, now.wave], ['running', 2], 'the wave of the machines still in the class opened');
    assert.ok(!now.machines.some((m) => m.id === wave2[0]!.id), 'the machine that left is not in the wave');
    assert.equal(now.outcome.machines, wave2.length - 1);
    const jobs = ((await viewer.call('GET', `/jobs?limit=1000`)).body.jobs as Array<{ origin: string }>).filter(
      (j) => j.origin === `rollout ${r!.id} wave 2`,
    );
    assert.equal(jobs.length, wave2.length - 1, 'no job for the machine that left');
  });

  it('finding: a class bound to another stage mid-rollout went on getting its jobs; now the rollout halts, saying why', async () => {
    const [r] = await rollouts();
    const ladder = server.config.gate.stages;
    server.services.fleet.classes.bindStage('web', 'test', false, ladder);
    try {
      const jobs = await jobCount();
      await svc().tick();
      const now = await show(r!.id);
      assert.equal(now.state, 'halted');
      assert.match(now.stateReason!, /class web follows stage test now, not production/);
      assert.equal(await jobCount(), jobs);
    } finally {
      server.services.fleet.classes.bindStage('web', 'production', false, ladder);
    }
  });

  it('finding: a plain start slipping into promote --rollout (during the promotion) made the promotion fail after it was made', async () => {
    const ctx = { config: server.config, gate: server.services.gate, fleet: server.services.fleet };
    const gens = () => server.services.state.stages.currentAll('production').map((g) => g.id);
    const before = gens();
    const promoted = promoteWithRollout(
      ctx,
      svc(),
      'test',
      { force: true, reason: 'other 2', actor: 'oscar' },
      { className: 'lone', waves: '100%', soakMs: 0, halt: '1', jobKind: '' },
    );
    const plain = start('lone').then(
      () => 'started',
      (e: Error) => e.message,
    );
    const [p, s] = await Promise.allSettled([promoted, plain]);
    if (p.status === 'fulfilled') {
      assert.match(
        String(s.status === 'fulfilled' ? s.value : ''),
        /a promotion is starting a rollout of production to lone/,
      );
      assert.equal(p.value.rollout.class, 'lone');
    } else {
      assert.deepEqual(gens(), before, `the promotion failed (${(p.reason as Error).message}) and made nothing`);
    }
  });

  it('finding: a rollback reached no one reading a rollout view: -to offered the withdrawn content until the tick, an aborted -from for ever', async () => {
    /** the packages a view offers: "name version" */
    const offers = async (view: string): Promise<string[]> => {
      const base = `${server.url}/stage/${view}/fixture/dists/stable`;
      const inRelease = await (await fetch(`${base}/InRelease`)).text();
      const packages = / (main\/binary-[a-z0-9]+\/Packages)$/m.exec(inRelease)![1];
      const text = await (await fetch(`${base}/${packages}`)).text();
      return [...text.matchAll(/^Filename: .*\/([^/_]+)_([^_]+)_all\.deb$/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
    };
    const lone = svc().latest('production', 'lone')!;
    const web = svc().latest('production', 'web')!;
    assert.deepEqual([lone.state, web.state], ['running', 'halted']);
    const loneTo = `production--r${lone.id}-to`;
    const webTo = `production--r${web.id}-to`;
    assert.deepEqual(await offers(loneTo), ['demo 2.0-1', 'other 2.0-1']);
    const back = await operator.call('POST', '/stages/production/rollback', { reason: 'other 2 breaks' });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    // no tick yet: the view itself follows the rollback
    assert.deepEqual(await offers(loneTo), ['demo 2.0-1', 'other 1.0-1']);
    assert.deepEqual(await offers(webTo), ['demo 2.0-1', 'other 1.0-1'], 'what web rolls out was not withdrawn');
    const further = await operator.call('POST', '/stages/production/rollback', { reason: 'demo 2 too' });
    assert.equal(further.status, 200, JSON.stringify(further.body));
    assert.deepEqual(await offers(loneTo), ['demo 1.0-1', 'other 1.0-1']);
    assert.deepEqual(await offers(webTo), ['demo 1.0-1', 'other 1.0-1']);
    // the tick aborts both (their content was withdrawn); the aborted views stay on what the stage returned to
    await svc().tick();
    assert.deepEqual([(await show(lone.id)).state, (await show(web.id)).state], ['aborted', 'aborted']);
    assert.equal(svc().viewOf(999_999, 'production', 'lone'), `production--r${lone.id}-from`);
    assert.deepEqual(await offers(`production--r${lone.id}-from`), ['demo 1.0-1', 'other 1.0-1']);
  });

  it('finding: a class made a gate class after its rollout was aborted read the content before it for ever (a gate class gets no rollout)', async () => {
    const ladder = server.config.gate.stages;
    const classes = server.services.fleet.classes;
    const running = await start('empty', { jobKind: '', waves: '100%', soakMs: 3_600_000 });
    const web = svc().latest('production', 'web')!;
    assert.equal(web.state, 'aborted');
    classes.bindStage('web', 'production', true, ladder);
    classes.bindStage('empty', 'production', true, ladder);
    try {
      const machine = (await show(web.id)).machines[0]!.id;
      assert.equal(svc().viewOf(machine, 'production', 'web'), 'production');
      await svc().tick();
      const r = await show(running.id);
      assert.deepEqual([r.state, r.stateReason], ['halted', 'class empty is a gate class of production now']);
      assert.equal(svc().viewOf(machine, 'production', 'empty'), 'production');
    } finally {
      classes.bindStage('web', 'production', false, ladder);
      classes.bindStage('empty', 'production', false, ladder);
    }
  });

  it('held: no forged evidence: upgrades from before the wave, or of a machine whose wave is not open, neither pass nor halt it', async () => {
    const jobs = server.services.fleet.jobs;
    const members = (await show(svc().latest('production', 'web')!.id)).machines.map((m) => m.id);
    // every machine of the class upgraded (and succeeded) before the rollout: none of it counts for a wave
    const early = jobs.create(members, { kind: 'upgrade', origin: 'cli' });
    for (const j of early) report(j, 0);
    const r = await start('web', { halt: '1' });
    assert.deepEqual(r.outcome, { machines: 2, succeeded: 0, failed: 0, pending: 2 });
    // a machine of wave 2 failing an upgrade of its own: wave 2 is not open, nothing halts
    const later = r.machines.find((m) => m.wave === 2)!;
    report(jobs.create([later.id], { kind: 'upgrade', origin: 'cli' })[0]!, 1);
    assert.deepEqual(await svc().tick(), []);
    const now = await show(r.id);
    assert.deepEqual(
      [now.state, now.outcome.pending, now.machines.find((m) => m.id === later.id)!.status],
      ['running', 2, 'not open'],
    );
    // one of wave 1 fails its upgrade: the halt names it, and only it
    const [a, b] = now.machines.filter((m) => m.wave === 1);
    report(a!.job!, 1);
    await svc().tick();
    const halted = await show(r.id);
    assert.equal(halted.state, 'halted');
    assert.match(
      halted.stateReason!,
      new RegExp(`^wave 1: 1 of 2 machines failed \\(${a!.hostname}: upgrade job ${a!.job} failed`),
    );
    assert.ok(!halted.stateReason!.includes(b!.hostname) && !halted.stateReason!.includes(later.hostname));
    await svc().abort(r.id, 'test', 'enough');
  });

  it('held: two starts of one class at once, and two aborts at once: one wins, the other is a clear 400', async () => {
    const body = { stage: 'production', class: 'web', waves: '50%,100%', soak: '0s', jobs: 'none' };
    const starts = await Promise.all([
      operator.call('POST', '/rollouts', body),
      operator.call('POST', '/rollouts', body),
    ]);
    assert.deepEqual(starts.map((a) => a.status).sort(), [200, 400]);
    const lost = starts.find((a) => a.status === 400)!;
    assert.match(lost.body.error.message, /is running: wait for it, or abort it/);
    const id = starts.find((a) => a.status === 200)!.body.id as number;
    const aborts = await Promise.all([
      operator.call('POST', `/rollouts/${id}/abort`, {}),
      operator.call('POST', `/rollouts/${id}/abort`, {}),
    ]);
    assert.deepEqual(aborts.map((a) => a.status).sort(), [200, 400]);
    assert.deepEqual(
      (await show(id)).events.map((e) => e.what),
      ['started', 'aborted'],
    );
  });

  it("finding: pausing and resuming over and over pushed the start (who, when, how many machines) out of the rollout's events", async () => {
    const r = await start('web', { jobKind: '' });
    for (let i = 0; i < 110; i++) {
      assert.equal((await operator.call('POST', `/rollouts/${r.id}/pause`, {})).status, 200);
      assert.equal((await operator.call('POST', `/rollouts/${r.id}/resume`, {})).status, 200);
    }
    const events = (await show(r.id)).events;
    assert.equal(events.length, 200);
    assert.deepEqual([events[0]!.what, events[0]!.actor], ['started', 'mallory']);
    assert.match(events[0]!.detail!, /machines in 2 waves/);
    assert.equal(events.at(-1)!.what, 'resumed');
    await svc().abort(r.id, 'test', 'enough');
  });

  it('finding: a class removed and made again under its name inherited its rollout (an aborted one held it on the content before)', async () => {
    const ladder = server.config.gate.stages;
    const classes = server.services.fleet.classes;
    classes.create('temp');
    classes.bindStage('temp', 'production', false, ladder);
    const old = await start('temp', { jobKind: '', waves: '100%', soakMs: 3_600_000 });
    assert.equal((await operator.call('POST', `/rollouts/${old.id}/abort`, {})).status, 200);
    assert.equal(svc().viewOf(1, 'production', 'temp'), `production--r${old.id}-from`);
    classes.remove('temp');
    // the class made again is younger than the rollout (its creation time is in ms)
    while (Date.now() <= old.createdAt) {
      // a millisecond at most
    }
    classes.create('temp');
    classes.bindStage('temp', 'production', false, ladder);
    assert.equal(svc().viewOf(1, 'production', 'temp'), 'production', 'the new class reads the stage');
    // its first rollout: from the content before the stage's last change, as any class's first
    const fresh = await operator.call('POST', '/rollouts', { stage: 'production', class: 'temp', jobs: 'none' });
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
    // a running rollout whose class is removed is aborted by the tick
    classes.remove('temp');
    const ticked = await svc().tick();
    assert.ok(
      ticked.some((t) => t.id === fresh.body.id && t.action === 'aborted'),
      JSON.stringify(ticked),
    );
    assert.equal((await show(fresh.body.id)).stateReason, 'class temp was removed');
  });
});
