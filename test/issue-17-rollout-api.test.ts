// Issue 17: rollouts in waves over real HTTP. A fixture upstream gives the stages their content
// (an observer's apt-get update through the server), ten machines enrolled through /RPC2 with a
// token of the class web (bound to production), then with a viewer's and an operator's API
// tokens: start (waves by rank: 2, 3, 5 machines), list and show, pause, resume and abort, each
// audited; a viewer refused and audited; bad input refused with a clear message and nothing
// changed; promote with a rollout (a bad class changes nothing, a good one starts it in the same
// operation); the command line prints the same here and through the API.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HistoryJson } from '../src/gate/queries.js';
import type { RolloutDetailJson, RolloutJson } from '../src/gate/rollout-queries.js';
import {
  addTestUsers,
  assertError,
  bearer,
  login,
  PASSWORD,
  type ApiClient,
  type SessionClient,
} from './helpers/api.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import { launchBrowser, logIn, unexpectedErrors } from './helpers/browser.js';
import type { DebSpec } from './helpers/debs.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { enrolOverHttp } from './helpers/reports.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { upstreamSeenBy } from './helpers/settle.js';
import { makeWorld, type World } from './helpers/world.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));
const deb = (name: string, version: string): DebSpec => ({ name, version, arch: 'all' });

let world: World;
let server: TestServer;
let observer: AptEnv;
let admin: SessionClient;
let viewer: ApiClient;
let operator: ApiClient;
let viewerToken: string;
let operatorToken: string;
const hosts: string[] = [];

const upstreamSeen = () => upstreamSeenBy(server, observer, 'fixture', ['stable']);

async function cli(args: string[], token?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const where =
    token === undefined ? ['--db', server.config.db, '--cache-dir', server.config.cacheDir] : ['--server', server.url];
  const r = await exec(process.execPath, [CLI, ...args, ...where], {
    env: token === undefined ? env : { ...env, APTGATE_TOKEN: token },
    timeoutMs: 60_000,
  });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
/** The same command here and through the API (a viewer's token): the same output and exit status. */
async function same(args: string[]): Promise<string> {
  const [local, remote] = [await cli(args), await cli(args, viewerToken)];
  assert.equal(remote.code, local.code, `${args.join(' ')}: ${local.stderr} / ${remote.stderr}`);
  assert.equal(remote.stdout, local.stdout, args.join(' '));
  assert.equal(remote.stderr, local.stderr, args.join(' '));
  return local.stdout;
}
async function apiToken(client: ApiClient, role: string): Promise<string> {
  const t = await client.call('POST', '/api-tokens', { role, expires: '1d', name: `rollouts ${role}` });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body.token as string;
}
async function audits(action: string, n = 1) {
  const r = await admin.call('GET', `/audit?action=${action}&limit=${n}`);
  assert.equal(r.status, 200);
  return r.body.entries as Array<{ actor: string; actorKind: string; result: string; args: unknown; detail: unknown }>;
}
const history = async (stage: string): Promise<HistoryJson> =>
  (await viewer.call('GET', `/stages/${stage}/history`)).body as HistoryJson;
const rollouts = async (): Promise<RolloutJson[]> => (await viewer.call('GET', '/rollouts')).body.rollouts;
const show = async (id: number): Promise<RolloutDetailJson> => {
  const r = await viewer.call('GET', `/rollouts/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as RolloutDetailJson;
};
const perWave = (r: RolloutDetailJson) =>
  r.waves.map((_, w) => r.machines.filter((m) => m.wave === w + 1).map((m) => m.status));

describe('issue 17: rollouts in waves over the API and the command line', () => {
  before(async () => {
    world = await makeWorld({ debs: [deb('demo', '1.0-1'), deb('other', '1.0-1')] });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    await addTestUsers(server.services);
    admin = await login(server.url, 'alice', PASSWORD);
    operatorToken = await apiToken(await login(server.url, 'oscar', PASSWORD), 'operator');
    viewerToken = await apiToken(await login(server.url, 'vera', PASSWORD), 'viewer');
    operator = bearer(server.url, operatorToken);
    viewer = bearer(server.url, viewerToken);
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeen();
    const ladder = server.config.gate.stages;
    const classes = server.services.fleet.classes;
    classes.create('web');
    classes.bindStage('web', 'production', false, ladder);
    classes.create('qa');
    classes.bindStage('qa', 'test', true, ladder);
    classes.create('loose');
    const { token } = server.services.fleet.enrolment.createToken({ class: 'web', autoApprove: true });
    for (let i = 1; i <= 10; i++) {
      const h = `web-${String(i).padStart(2, '0')}`;
      hosts.push(h);
      await enrolOverHttp(server.url, token, h);
    }
    // upstream moves on: test follows it, production waits for a promotion
    await world.repo.publish('stable', [
      deb('demo', '1.0-1'),
      deb('other', '1.0-1'),
      deb('demo', '2.0-1'),
      deb('other', '2.0-1'),
    ]);
    await upstreamSeen();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('promote with a rollout to a class that cannot take it changes nothing; nothing new to roll out is USAGE', async () => {
    const before = await history('production');
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ class: 'nope' }, 404, 'NOT_FOUND', /no class nope/],
      [{ class: 'qa' }, 400, 'USAGE', /class qa follows stage test, not production/],
      [{ class: 'loose' }, 400, 'USAGE', /class loose follows no stage/],
      [{ class: 'web', waves: '50%,20%' }, 400, 'USAGE', /waves: each share is more than the one before/],
      [{ class: 'web', halt: 'x' }, 400, 'USAGE', /halt: "x" is a number of machines/],
      [{ class: 'web', soak: 'forever' }, 400, 'USAGE', /soak: expected a duration/],
    ];
    for (const [rollout, status, code, message] of cases) {
      const a = await operator.call('POST', '/stages/test/promote', { force: true, reason: 'try', rollout });
      assertError(a, status, code);
      assert.match(a.body.error.message, message, JSON.stringify(rollout));
    }
    assertError(await operator.call('POST', '/stages/test/promote', { rollout: { klass: 'web' } }), 400, 'USAGE');
    assert.deepEqual(await history('production'), before, 'no generation made');
    assert.deepEqual(await rollouts(), []);
    // the command line says the same here and remotely
    const here = await cli(['promote', 'test', '--force', '--reason', 'try', '--rollout', 'qa']);
    const there = await cli(['promote', 'test', '--force', '--reason', 'try', '--rollout', 'qa'], operatorToken);
    assert.deepEqual([there.code, there.stderr], [here.code, here.stderr]);
    assert.match(here.stderr, /USAGE: rollout: class qa follows stage test, not production/);
    const stray = await cli(['promote', 'test', '--waves', '20%,100%']);
    assert.match(stray.stderr, /USAGE: --waves, --soak, --halt and --jobs go with --rollout CLASS/);
    // production still has only its initial content: nothing to roll out
    const nothing = await operator.call('POST', '/rollouts', { stage: 'production', class: 'web' });
    assertError(nothing, 400, 'USAGE');
    assert.match(nothing.body.error.message, /nothing new in production for class web/);
    assert.deepEqual(await history('production'), before);
  });

  it('start: waves by rank, the first open with an upgrade job per machine; list, show, and the CLI the same here and remotely', async () => {
    const p = await operator.call('POST', '/stages/test/promote', { only: ['demo'], force: true, reason: 'demo 2' });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const gen = p.body.generations[0].id as number;
    const initial = (await history('production')).generations.find((g) => g.kind === 'initial')!.id;

    const viewerTry = await viewer.call('POST', '/rollouts', { stage: 'production', class: 'web' });
    assertError(viewerTry, 403, 'FORBIDDEN');
    assert.match(viewerTry.body.error.message, /rollouts\.start needs the operator role \(vera is viewer\)/);
    const [refused] = await audits('rollouts.start');
    assert.deepEqual(
      [refused!.actor, refused!.actorKind, refused!.result, refused!.args],
      ['vera', 'token', 'FORBIDDEN', { stage: 'production', class: 'web' }],
    );
    assert.deepEqual(await rollouts(), []);

    const started = await operator.call('POST', '/rollouts', {
      stage: 'production',
      class: 'web',
      waves: '20%,50%,100%',
      soak: '2h',
      halt: '10%',
      reason: 'demo 2 to the web servers',
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const r = started.body as RolloutDetailJson;
    assert.deepEqual(
      [r.stage, r.class, r.waves, r.soakMs, r.halt, r.jobs, r.state, r.wave, r.actor, r.reason, r.stateReason],
      [
        'production',
        'web',
        [20, 50, 100],
        7_200_000,
        '10%',
        'upgrade',
        'running',
        1,
        'oscar',
        'demo 2 to the web servers',
        null,
      ],
    );
    assert.deepEqual(r.pins, [{ backend: 'fixture', suite: 'stable', from: initial, to: gen }]);
    assert.deepEqual(perWave(r), [
      ['pending', 'pending'],
      ['not open', 'not open', 'not open'],
      ['not open', 'not open', 'not open', 'not open', 'not open'],
    ]);
    assert.deepEqual(r.outcome, { machines: 2, succeeded: 0, failed: 0, pending: 2 });
    assert.deepEqual(new Set(r.machines.map((m) => m.hostname)), new Set(hosts));
    assert.equal(Date.parse(r.soakEnds!) - Date.parse(r.waveOpened[0]!), 7_200_000);
    assert.match(r.events[0]!.detail!, /^10 machines in 3 waves/);
    // wave 1's machines each got an upgrade job, origin "rollout N wave 1"
    for (const m of r.machines.filter((x) => x.wave === 1)) {
      const j = await viewer.call('GET', `/jobs/${m.job}`);
      assert.deepEqual([j.body.kind, j.body.origin], ['upgrade', `rollout ${r.id} wave 1`]);
    }
    const [ok] = await audits('rollouts.start');
    assert.deepEqual(
      [ok!.actor, ok!.result, ok!.detail],
      ['oscar', 'ok', { rollout: r.id, stage: 'production', class: 'web', state: 'running' }],
    );

    const list = await rollouts();
    assert.deepEqual(
      list.map((x) => [x.id, x.stage, x.class, x.state, x.wave]),
      [[r.id, 'production', 'web', 'running', 1]],
    );
    assert.deepEqual((await viewer.call('GET', '/rollouts?stage=test')).body, { rollouts: [] });
    assert.deepEqual(await show(r.id), r);
    // the command line: the same JSON and the same text here and through the API
    assert.deepEqual(JSON.parse(await same(['rollout', 'status', '--json'])), { rollouts: list });
    assert.deepEqual(JSON.parse(await same(['rollout', 'status', String(r.id), '--json'])), r);
    const text = await same(['rollout', 'status', String(r.id)]);
    assert.match(text, new RegExp(`^rollout ${r.id}: production to class web: RUNNING, WAVE 1 OF 3$`, 'm'));
    assert.match(text, /^ {2}waves 20%,50%,100%; soak 2h; halt when 10% of the open wave failed; jobs: upgrade$/m);
    assert.match(text, /^ {2}wave 1 \(open since .*\): 2 machines, 0 succeeded, 0 failed, 2 pending; soak ends /m);
    assert.match(text, new RegExp(`fixture/stable generation ${initial} → ${gen}`));
    assert.match(text, /^ {4}1 +\d+ +web-\d\d +pending +\d+ +upgrade job \d+ is queued$/m);
    assert.match(
      await same(['rollout', 'status']),
      new RegExp(`^${r.id} +production +web +20%,50%,100% +running, wave 1 of 3 `, 'm'),
    );
  });

  it('bad input: 400 or 404 with a clear message, and nothing changed', async () => {
    const [r] = await rollouts();
    const before = { list: await rollouts(), one: await show(r!.id) };
    const starts: Array<[Record<string, unknown>, number, string, RegExp?]> = [
      [{ stage: 'production', class: 'nope' }, 404, 'NOT_FOUND', /no class nope/],
      [{ stage: 'staging', class: 'web' }, 404, 'NOT_FOUND', /no stage staging/],
      [{ stage: 'test', class: 'web' }, 400, 'USAGE', /class web follows stage production, not test/],
      [
        { stage: 'production', class: 'web', waves: '50%,20%' },
        400,
        'USAGE',
        /waves: each share is more than the one before \(50%,20%\)/,
      ],
      [{ stage: 'production', class: 'web', waves: '20%,50%' }, 400, 'USAGE', /waves: the last wave is 100%/],
      [
        { stage: 'production', class: 'web', halt: 'x' },
        400,
        'USAGE',
        /halt: "x" is a number of machines \(e\.g\. 1\) or a share/,
      ],
      [
        { stage: 'production', class: 'web', soak: 'forever' },
        400,
        'USAGE',
        /soak: expected a duration such as 30s, 10m, 6h or 7d, got "forever"/,
      ],
      [
        { stage: 'production', class: 'web', reason: 'two\nlines' },
        400,
        'USAGE',
        /reason: at most 500 printable characters on one line/,
      ],
      [{ stage: 'production', class: 'web', reason: 'x'.repeat(2000) }, 400, 'USAGE'],
      [{ stage: 'production', class: 'web', reason: 'x'.repeat(600) }, 400, 'USAGE', /reason: at most 500/],
      [{ stage: 'production', class: 'web', jobs: 'reboot' }, 400, 'USAGE'],
      [{ stage: 'production', class: 'web', bogus: 1 }, 400, 'USAGE'],
      [{ stage: 'production' }, 400, 'USAGE'],
      [
        { stage: 'production', class: 'web' },
        400,
        'USAGE',
        new RegExp(
          `rollout ${r!.id} of production to web is running: wait for it, or abort it \\(aptgate rollout abort ${r!.id}\\)`,
        ),
      ],
    ];
    for (const [body, status, code, message] of starts) {
      const a = await operator.call('POST', '/rollouts', body);
      assertError(a, status, code);
      if (message) assert.match(a.body.error.message, message, JSON.stringify(body).slice(0, 80));
    }
    assertError(await viewer.call('GET', '/rollouts/abc'), 400, 'USAGE');
    assertError(await viewer.call('GET', '/rollouts/0'), 400, 'USAGE');
    const missing = await viewer.call('GET', '/rollouts/999');
    assertError(missing, 404, 'NOT_FOUND');
    assert.match(missing.body.error.message, /no rollout 999/);
    assertError(await operator.call('POST', '/rollouts/abc/pause', {}), 400, 'USAGE');
    assertError(await operator.call('POST', '/rollouts/999/abort', {}), 404, 'NOT_FOUND');
    assertError(await viewer.call('GET', '/rollouts?stage=staging'), 404, 'NOT_FOUND');
    assertError(await viewer.call('GET', '/rollouts?limit=0'), 400, 'USAGE');
    const notPaused = await operator.call('POST', `/rollouts/${r!.id}/resume`, {});
    assertError(notPaused, 400, 'USAGE');
    assert.match(
      notPaused.body.error.message,
      new RegExp(`rollout ${r!.id} is running: only a paused or halted one resumes`),
    );
    assertError(await operator.call('POST', `/rollouts/${r!.id}/pause`, { reason: 'a\u0007b' }), 400, 'USAGE');
    assert.deepEqual({ list: await rollouts(), one: await show(r!.id) }, before);
    assert.equal((await audits('rollouts.start'))[0]!.result, 'USAGE');
    // the command line: the same refusals here and remotely
    for (const args of [
      ['rollout', 'status', 'abc'],
      ['rollout', 'status', '999'],
      ['rollout', 'start', 'production', '--class', 'web', '--halt', 'x'],
      ['rollout', 'start', 'production', '--class', 'web', '--jobs', 'reboot'],
    ]) {
      const [here, there] = [await cli(args), await cli(args, operatorToken)];
      assert.notEqual(here.code, 0, args.join(' '));
      assert.deepEqual([there.code, there.stderr], [here.code, here.stderr], args.join(' '));
    }
    assert.deepEqual({ list: await rollouts(), one: await show(r!.id) }, before);
  });

  it('pause, resume, abort: each audited; abort sends the class back; promote --rollout then starts the next from there', async () => {
    const [r0] = await rollouts();
    const id = r0!.id;
    const paused = await operator.call('POST', `/rollouts/${id}/pause`, { reason: 'lunch' });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.deepEqual([paused.body.state, paused.body.stateReason, paused.body.soakEnds], ['paused', 'lunch', null]);
    assert.deepEqual(await server.services.rollouts.tick(), [], 'a paused rollout does not move');
    const resumed = await cli(['rollout', 'resume', String(id), '--reason', 'back'], operatorToken);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`^rollout ${id}: production to class web: RUNNING, WAVE 1 OF 3$`, 'm'));
    const aborted = await operator.call('POST', `/rollouts/${id}/abort`, { reason: 'demo 2 breaks nginx' });
    assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
    const a = aborted.body as RolloutDetailJson;
    assert.deepEqual([a.state, a.stateReason], ['aborted', 'demo 2 breaks nginx']);
    assert.ok(a.machines.every((m) => m.status === 'not open'));
    assert.deepEqual(
      a.events.map((e) => [e.what, e.actor, e.detail]),
      [
        ['started', 'oscar', a.events[0]!.detail],
        ['paused', 'oscar', 'lunch'],
        ['resumed', 'oscar', 'back'],
        ['aborted', 'oscar', 'demo 2 breaks nginx'],
      ],
    );
    // the jobs not delivered are taken back
    const jobs = (await viewer.call('GET', `/jobs?limit=100`)).body.jobs as Array<{ origin: string; state: string }>;
    assert.deepEqual(
      jobs.filter((j) => j.origin === `rollout ${id} wave 1`).map((j) => j.state),
      ['cancelled', 'cancelled'],
    );
    assert.deepEqual(
      (await audits('rollouts.pause'))
        .concat(await audits('rollouts.resume'), await audits('rollouts.abort'))
        .map((e) => [e.actor, e.actorKind, e.result, e.detail]),
      [
        ['oscar', 'token', 'ok', { rollout: id, stage: 'production', class: 'web', state: 'paused' }],
        ['oscar', 'token', 'ok', { rollout: id, stage: 'production', class: 'web', state: 'running' }],
        ['oscar', 'token', 'ok', { rollout: id, stage: 'production', class: 'web', state: 'aborted' }],
      ],
    );
    const again = await operator.call('POST', `/rollouts/${id}/abort`, {});
    assertError(again, 400, 'USAGE');
    assert.match(again.body.error.message, new RegExp(`rollout ${id} is aborted already`));

    // promote the rest with a rollout to web: one operation; its `from` is the content before the aborted one
    const out = await cli(
      [
        'promote',
        'test',
        '--force',
        '--reason',
        'other 2',
        '--rollout',
        'web',
        '--waves',
        '50%,100%',
        '--soak',
        '0s',
        '--jobs',
        'none',
        '--json',
      ],
      operatorToken,
    );
    assert.equal(out.code, 0, out.stderr);
    const p = JSON.parse(out.stdout);
    const gen = p.generations[0].id as number;
    assert.deepEqual(
      [
        p.rollout.stage,
        p.rollout.class,
        p.rollout.waves,
        p.rollout.soakMs,
        p.rollout.state,
        p.rollout.actor,
        p.rollout.reason,
        p.rollout.jobs,
      ],
      ['production', 'web', [50, 100], 0, 'running', 'oscar', 'other 2', 'none'],
    );
    // no job of its own: the open wave waits for the class's schedules (or jobs by hand)
    assert.deepEqual(
      new Set(
        p.rollout.machines
          .filter((m: { wave: number }) => m.wave === 1)
          .map((m: { job: null; reason: string }) => `${m.job} ${m.reason}`),
      ),
      new Set(['null no upgrade since its wave opened']),
    );
    assert.deepEqual(p.rollout.pins, [{ backend: 'fixture', suite: 'stable', from: a.pins[0]!.from, to: gen }]);
    assert.deepEqual(
      perWave(p.rollout).map((w) => w.length),
      [5, 5],
    );
    const [pa] = await audits('gate.promote');
    assert.deepEqual(
      [pa!.result, pa!.detail],
      ['ok', { stage: 'production', generations: [{ id: gen, stage: 'production' }], rollout: p.rollout.id }],
    );
    assert.deepEqual(
      (await rollouts()).map((x) => [x.id, x.state]),
      [
        [p.rollout.id, 'running'],
        [id, 'aborted'],
      ],
    );
    // an aborted rollout does not run again
    assertError(await operator.call('POST', `/rollouts/${id}/resume`, {}), 400, 'USAGE');
    await same(['rollout', 'status']);
    await same(['rollout', 'status', String(p.rollout.id)]);
  });

  it('the console: the rollouts linked from the gate page, one rollout with its machines; a viewer has no button, an operator pauses', async () => {
    const [r] = await rollouts();
    const browser = await launchBrowser(path.join(world.dir, 'chromium'));
    try {
      const v = await browser.newPage();
      await logIn(v.page, server.url, 'vera', PASSWORD, '#/gate');
      await v.page.getByRole('link', { name: 'Rollouts in waves' }).click();
      await v.page.getByRole('heading', { name: 'Rollouts' }).waitFor();
      assert.equal(await v.page.locator('#rollouts-q').count(), 1);
      assert.equal(await v.page.locator('.data-table tbody tr').count(), 2);
      await v.page.getByRole('link', { name: `rollout ${r!.id}` }).click();
      await v.page.getByRole('heading', { name: `Rollout ${r!.id}: production to web` }).waitFor();
      assert.equal(await v.page.locator('.data-table tbody tr').count(), 10, 'every machine of the class');
      assert.match(
        await v.page.locator('dl.facts').innerText(),
        /running, wave 1 of 2[\s\S]*wave 1: 5 machines, 0 succeeded/,
      );
      assert.equal(
        await v.page.getByRole('button', { name: /Pause|Resume|Abort/ }).count(),
        0,
        'a viewer sees no action',
      );

      const o = await browser.newPage();
      await logIn(o.page, server.url, 'oscar', PASSWORD, `#/rollouts/${r!.id}`);
      await o.page.getByRole('heading', { name: `Rollout ${r!.id}: production to web` }).waitFor();
      await o.page.getByRole('button', { name: 'Pause' }).click();
      await o.page.getByRole('dialog').getByLabel('Reason').fill('from the console');
      await o.page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
      await o.page.getByText(`Rollout ${r!.id} is paused.`).waitFor();
      await o.page.getByRole('button', { name: 'Resume' }).waitFor();
      const [a] = await audits('rollouts.pause');
      assert.deepEqual([a!.actor, a!.actorKind, a!.args], ['oscar', 'user', { id: r!.id, reason: 'from the console' }]);
      assert.deepEqual((await show(r!.id)).stateReason, 'from the console');
      assert.deepEqual([unexpectedErrors(v.log, server.url), unexpectedErrors(o.log, server.url)], [[], []]);
    } finally {
      await browser.close();
    }
  });
});
