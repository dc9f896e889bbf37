// Issue 16: the release gate over real HTTP, with a real gate: a fixture upstream with a suite
// and its security suite, a real agent as the test stage's test machine (its upgrade is the
// evidence), apt fetching through the server. GET /gate, /stages, /stages/STAGE/history,
// /gate/auto-promotion and /key; promotion (forced with a reason, security only, only some
// sources, all) and rollback by an operator, each audited with the generations it made (the
// console links them); a viewer refused and audited with nothing published; bad input refused
// with nothing changed; the CLI with --server and APTGATE_TOKEN prints what it prints on the
// server host.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GateStatusJson, HistoryJson } from '../src/gate/queries.js';
import {
  addTestUsers,
  assertError,
  bearer,
  login,
  PASSWORD,
  type ApiClient,
  type SessionClient,
} from './helpers/api.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { launchBrowser, submitLogin } from './helpers/browser.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';
import { settled, upstreamSeenBy } from './helpers/settle.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));
const deb = (name: string, version: string): DebSpec => ({ name, version, arch: 'all' });
const SECURITY = { label: 'Aptgate Security' };

let world: World;
let server: TestServer;
let observer: AptEnv;
let qa: TestAgent;
let operator: SessionClient;
let viewer: SessionClient;
let admin: SessionClient;
let operatorToken: string;
let viewerToken: string;

const settle = () => settled(server);
const upstreamSeen = () => upstreamSeenBy(server, observer, 'fixture', ['stable', 'stable-security']);
const stagePackages = async (stage: string, suite: string) =>
  (await fetch(`${server.url}/stage/${stage}/fixture/dists/${suite}/main/binary-amd64/Packages`)).text();
const versionsIn = (packages: string, name: string) =>
  [...packages.matchAll(new RegExp(`^Package: ${name}\\nVersion: (\\S+)`, 'gm'))].map((m) => m[1]);

async function cli(args: string[], token?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const where =
    token === undefined ? ['--db', server.config.db, '--cache-dir', server.config.cacheDir] : ['--server', server.url];
  const r = await exec(process.execPath, [CLI, ...args, ...where], {
    // on the server host the command reads the server's configuration (here: the environment)
    env: token === undefined ? { ...env, APTGATE_GATE_AUTO_PROMOTE: 'test=1h' } : { ...env, APTGATE_TOKEN: token },
    timeoutMs: 60_000,
  });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
/** The same read-only command here and through the API: the same output (and exit status). */
async function same(args: string[]): Promise<string> {
  const [local, remote] = [await cli(args), await cli(args, viewerToken)];
  assert.equal(remote.code, local.code, `${args.join(' ')}: ${local.stderr} / ${remote.stderr}`);
  assert.equal(remote.stdout, local.stdout, args.join(' '));
  assert.equal(remote.stderr, local.stderr, args.join(' '));
  return local.stdout;
}

const history = async (stage: string): Promise<HistoryJson> =>
  (await viewer.call('GET', `/stages/${stage}/history`)).body as HistoryJson;
const gateOf = async (): Promise<GateStatusJson> =>
  ((await viewer.call('GET', '/gate')).body as { stages: GateStatusJson[] }).stages[0]!;
async function lastAudit(action: string) {
  const r = await admin.call('GET', `/audit?action=${action}&limit=1`);
  assert.equal(r.status, 200);
  return r.body.entries[0];
}
async function token(client: ApiClient, role: string): Promise<string> {
  const t = await client.call('POST', '/api-tokens', { role, expires: '1d', name: `cli ${role}` });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body.token as string;
}

describe('issue 16: the release gate over the API', () => {
  before(async () => {
    world = await makeWorld({ debs: [deb('demo', '1.0-1'), deb('other', '1.0-1')] });
    await world.repo.publish('stable-security', [deb('sec', '1.0-1')], SECURITY);
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
        c.gate.autoPromote = new Map([['test', 3_600_000]]);
      }),
    );
    await addTestUsers(server.services);
    [admin, operator, viewer] = [
      await login(server.url, 'alice', PASSWORD),
      await login(server.url, 'oscar', PASSWORD),
      await login(server.url, 'vera', PASSWORD),
    ];
    operatorToken = await token(operator, 'operator');
    viewerToken = await token(viewer, 'viewer');
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable', 'stable-security'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeen();
    const ladder = server.config.gate.stages;
    server.fleet.classes.create('qa');
    server.fleet.classes.bindStage('qa', 'test', true, ladder);
    qa = await createAgent(path.join(world.dir, 'qa-1'), server.url, { hostname: 'qa-1' });
    await qa.runOk(['enrol', '--token', server.fleet.enrolment.createToken({ class: 'qa', autoApprove: true }).token]);
    const r = await qa.root.apt(['install', '-y', 'demo', 'other']);
    assert.equal(r.code, 0, r.output);
    await qa.runOk(['run-once']);
    await settle();
    // upstream moves on in both suites
    await world.repo.publish('stable', [
      deb('demo', '1.0-1'),
      deb('other', '1.0-1'),
      deb('demo', '2.0-1'),
      deb('other', '2.0-1'),
    ]);
    await world.repo.publish('stable-security', [deb('sec', '1.0-1'), deb('sec', '2.0-1')], SECURITY);
    await upstreamSeen();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('GET /gate, /stages, /stages/STAGE/history, /gate/auto-promotion: what the CLI prints with --json, here and remotely', async () => {
    const st = await gateOf();
    assert.equal(st.stage, 'test');
    assert.equal(st.next, 'production');
    assert.equal(st.holds, false);
    assert.deepEqual(
      st.updates.map((u) => [u.suite, u.source, u.from, u.to, u.security]),
      [
        ['stable', 'demo', '1.0-1', '2.0-1', false],
        ['stable', 'other', '1.0-1', '2.0-1', false],
        ['stable-security', 'sec', '1.0-1', '2.0-1', true],
      ],
    );
    assert.deepEqual(
      st.machines.map((m) => [m.hostname, m.status]),
      [['qa-1', 'waiting']],
    );
    assert.match(st.missing.join('\n'), /^qa-1: no upgrade job/m);
    assert.deepEqual(JSON.parse(await same(['gate', 'status', '--json'])), { stages: [st] });
    const one = await viewer.call('GET', '/gate?stage=production');
    assert.deepEqual(
      one.body.stages.map((s: GateStatusJson) => [s.stage, s.missing[0]]),
      [['production', 'production is the last stage']],
    );

    const stages = await viewer.call('GET', '/stages');
    assert.deepEqual(stages.body.ladder, ['test', 'production']);
    assert.deepEqual(
      stages.body.stages.map((s: { name: string; testMachines: number; autoPromoteSoakMs: number | null }) => [
        s.name,
        s.testMachines,
        s.autoPromoteSoakMs,
      ]),
      [
        ['test', 1, 3_600_000],
        ['production', 0, null],
      ],
    );
    assert.deepEqual(JSON.parse(await same(['stage', 'list', '--json'])), stages.body);
    const h = await history('production');
    assert.deepEqual(
      h.generations.map((g) => [g.suite, g.kind]),
      [
        ['stable', 'initial'],
        ['stable-security', 'initial'],
      ],
    );
    assert.deepEqual(JSON.parse(await same(['stage', 'history', 'production', '--json'])), h);
    assert.deepEqual((await viewer.call('GET', '/gate/auto-promotion')).body, {
      stages: [{ stage: 'test', next: 'production', soakMs: 3_600_000 }],
    });
    // the human forms too
    assert.match(await same(['gate', 'status']), /^test → production: gate CLOSED$/m);
    assert.match(await same(['stage', 'list']), /^test → production/m);
    await same(['stage', 'history', 'production']);
  });

  it('a viewer cannot promote or roll back: FORBIDDEN, audited, nothing published', async () => {
    const before = (await history('production')).generations.length;
    const beforePackages = await stagePackages('production', 'stable');
    assertError(await viewer.call('POST', '/stages/test/promote', { force: true, reason: 'me' }), 403, 'FORBIDDEN');
    assertError(await viewer.call('POST', '/stages/production/rollback', {}), 403, 'FORBIDDEN');
    assertError(await bearer(server.url, viewerToken).call('POST', '/stages/test/promote', {}), 403, 'FORBIDDEN');
    const refused = await cli(['promote', 'test', '--force', '--reason', 'me'], viewerToken);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /FORBIDDEN: gate\.promote needs the operator role \(vera is viewer\)/);
    const p = await lastAudit('gate.promote');
    assert.deepEqual([p.actor, p.result, p.args], ['vera', 'FORBIDDEN', { stage: 'test', force: true, reason: 'me' }]);
    const r = await lastAudit('stages.rollback');
    assert.deepEqual([r.actor, r.result, r.args], ['vera', 'FORBIDDEN', { stage: 'production' }]);
    assert.equal((await history('production')).generations.length, before);
    assert.equal(await stagePackages('production', 'stable'), beforePackages);
  });

  it('bad input: a clear USAGE, NOT_FOUND or GATE_CLOSED, and nothing changed', async () => {
    const before = await history('production');
    const closed = await operator.call('POST', '/stages/test/promote', {});
    assertError(closed, 409, 'GATE_CLOSED');
    assert.match(closed.body.error.message, /the gate of test does not hold:\n {2}- qa-1: no upgrade job/);
    assert.deepEqual(closed.body.error.details.missing, (await gateOf()).missing);
    const usage: Array<[string, unknown, RegExp?]> = [
      ['test', { force: true }, /needs --reason/],
      ['test', { force: true, reason: '   ' }, /needs --reason/],
      ['test', { force: true, reason: 'two\nlines' }, /reason: at most 500 printable characters on one line/],
      ['test', { force: true, reason: 'x'.repeat(501) }, /reason: at most 500/],
      ['test', { only: [] }, /--only needs at least one source/],
      ['test', { only: ['bash'], force: true, reason: 'no such update' }, /bash: no update of this source/],
      ['test', { to: 'test' }, /promotes to production only/],
      ['production', {}, /production is the last stage/],
      ['test', { securityOnly: 'yes' }],
      ['test', { bogus: 1 }],
      ['test', { only: 'demo', extra: true }],
    ];
    for (const [stage, body, message] of usage) {
      const a = await operator.call('POST', `/stages/${stage}/promote`, body);
      assertError(a, 400, 'USAGE');
      if (message) assert.match(a.body.error.message, message, JSON.stringify(body));
    }
    assertError(await operator.call('POST', '/stages/staging/promote', {}), 404, 'NOT_FOUND');
    assertError(await operator.call('POST', '/stages/staging/rollback', {}), 404, 'NOT_FOUND');
    assertError(await operator.call('POST', '/stages/production/rollback', { reason: 'a\u0007b' }), 400, 'USAGE');
    assertError(await viewer.call('GET', '/stages/staging/history'), 404, 'NOT_FOUND');
    assertError(await viewer.call('GET', '/gate?stage=staging'), 404, 'NOT_FOUND');
    assert.deepEqual(await history('production'), before);
    // refusals are in the audit log with their code
    assert.equal((await lastAudit('stages.rollback')).result, 'USAGE');
    // the command line gives the same refusal here and remotely (the operator's token)
    const here = await cli(['promote', 'test', '--force']);
    const there = await cli(['promote', 'test', '--force'], operatorToken);
    assert.equal(there.code, here.code);
    assert.equal(there.stderr, here.stderr);
    assert.match(here.stderr, /USAGE: a forced promotion needs --reason/);
  });

  it('a forced promotion of one source with its reason, then a rollback: each audited with the generations it made', async () => {
    const reason = 'CVE-2026-0001 is exploited';
    const p = await operator.call('POST', '/stages/test/promote', { only: ['demo'], force: true, reason });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.deepEqual(
      [p.body.stage, p.body.to, p.body.actor, p.body.forced, p.body.reason],
      ['test', 'production', 'oscar', true, reason],
    );
    assert.deepEqual(
      p.body.generations.map((g: { stage: string; suite: string; kind: string; forced: boolean }) => [
        g.stage,
        g.suite,
        g.kind,
        g.forced,
      ]),
      [['production', 'stable', 'promote', true]],
    );
    const gen = p.body.generations[0].id as number;
    assert.deepEqual(versionsIn(await stagePackages('production', 'stable'), 'demo'), ['1.0-1', '2.0-1']);
    assert.deepEqual(
      (await gateOf()).updates.map((u) => u.source),
      ['other', 'sec'],
    );
    const a = await lastAudit('gate.promote');
    assert.deepEqual(
      [a.actor, a.actorKind, a.result, a.args, a.detail],
      [
        'oscar',
        'user',
        'ok',
        { stage: 'test', only: ['demo'], force: true, reason },
        { stage: 'production', generations: [{ id: gen, stage: 'production' }] },
      ],
    );
    const g = (await history('production')).generations.find((x) => x.id === gen)!;
    assert.deepEqual(
      [g.kind, g.forced, g.actor, g.reason, g.evidence!.gateHeld, g.evidence!.updates],
      ['promote', true, 'oscar', reason, false, ['demo 1.0-1 → 2.0-1']],
    );
    assert.deepEqual(
      g.evidence!.machines.map((m) => [m.hostname, m.status]),
      [['qa-1', 'waiting']],
    );

    const r = await operator.call('POST', '/stages/production/rollback', { reason: 'demo 2.0 regresses' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.generations.map((x: { suite: string; kind: string; reason: string }) => [x.suite, x.kind, x.reason]),
      [['stable', 'rollback', 'demo 2.0 regresses']],
      'a suite with nothing earlier stays',
    );
    assert.deepEqual(versionsIn(await stagePackages('production', 'stable'), 'demo'), ['1.0-1']);
    assert.deepEqual(
      (await gateOf()).updates.map((u) => u.source),
      ['demo', 'other', 'sec'],
      'demo waits again',
    );
    const ra = await lastAudit('stages.rollback');
    assert.deepEqual(
      [ra.actor, ra.result, ra.detail],
      [
        'oscar',
        'ok',
        {
          stage: 'production',
          generations: r.body.generations.map((x: { id: number }) => ({ id: x.id, stage: 'production' })),
        },
      ],
    );
    const initial = (await history('production')).generations.find(
      (x) => x.suite === 'stable' && x.kind === 'initial',
    )!;
    const back = (await history('production')).generations.find((x) => x.id === r.body.generations[0].id)!;
    assert.equal(back.evidence!.rollbackTo, initial.id);
  });

  it('once the test machine passed: security only, then one source (with a token), then the rest; history the same remotely', async () => {
    const id = qa.state.identity()!.machine;
    server.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
    server.fleet.jobs.create([id], { kind: 'upgrade', origin: 'test' });
    const run = JSON.parse(await qa.runOk(['run-once', '--json'])) as { jobs: Array<{ failure?: string }> };
    assert.deepEqual(
      run.jobs.map((j) => j.failure),
      [undefined, undefined],
    );
    await settle();
    const open = await gateOf();
    assert.equal(open.holds, true, open.missing.join('; '));
    assert.deepEqual(
      open.machines.map((m) => [m.hostname, m.status]),
      [['qa-1', 'passed']],
    );

    const sec = await operator.call('POST', '/stages/test/promote', { securityOnly: true });
    assert.equal(sec.status, 200, JSON.stringify(sec.body));
    assert.deepEqual(
      sec.body.generations.map((g: { suite: string; forced: boolean }) => [g.suite, g.forced]),
      [['stable-security', false]],
    );
    assert.ok(versionsIn(await stagePackages('production', 'stable-security'), 'sec').includes('2.0-1'));
    assert.deepEqual(
      (await gateOf()).updates.map((u) => u.source),
      ['demo', 'other'],
    );

    // a script with the operator's token, through the command line
    const only = await cli(['promote', 'test', '--only', 'other', '--json'], operatorToken);
    assert.equal(only.code, 0, only.stderr);
    const made = JSON.parse(only.stdout);
    assert.deepEqual([made.actor, made.forced, made.generations.length], ['oscar', false, 1]);
    const ta = await lastAudit('gate.promote');
    assert.deepEqual([ta.actorKind, ta.detail.generations[0].id], ['token', made.generations[0].id]);
    assert.deepEqual(versionsIn(await stagePackages('production', 'stable'), 'other'), ['1.0-1', '2.0-1']);
    assert.deepEqual(versionsIn(await stagePackages('production', 'stable'), 'demo'), ['1.0-1']);

    // the rest from the console's gate page: a viewer has no button, the operator promotes all;
    // the audit page links the promotion to its generation in the stage's history
    const browser = await launchBrowser(path.join(world.dir, 'chromium'));
    try {
      const v = await browser.newPage();
      await submitLogin(v.page, server.url, 'vera', PASSWORD);
      await v.page.getByRole('link', { name: 'Release gate' }).first().click();
      await v.page.getByRole('heading', { name: 'test → production' }).waitFor();
      assert.equal(
        await v.page.getByRole('button', { name: /Promote|Roll back/ }).count(),
        0,
        'a viewer sees no action',
      );

      const o = await browser.newPage();
      await submitLogin(o.page, server.url, 'oscar', PASSWORD);
      await o.page.getByRole('link', { name: 'Release gate' }).first().click();
      await o.page.getByRole('heading', { name: 'test → production' }).waitFor();
      await o.page.getByRole('button', { name: 'Promote all' }).click();
      await o.page.getByRole('dialog').getByRole('button', { name: 'Promote' }).click();
      const notice = o.page.getByText(/^Promoted test → production: generation \d+ \(fixture stable\)\.$/);
      await notice.waitFor();
      const gen = Number(/generation (\d+)/.exec((await notice.textContent()) ?? '')![1]);
      const a = await lastAudit('gate.promote');
      assert.deepEqual(
        [a.actor, a.actorKind, a.args, a.detail],
        ['oscar', 'user', { stage: 'test' }, { stage: 'production', generations: [{ id: gen, stage: 'production' }] }],
      );
      await o.page.goto(`${server.url}/console/#/audit?action=gate.promote`);
      const link = o.page.getByRole('link', { name: `generation ${gen}` }).first();
      assert.equal(await link.getAttribute('href'), `#/gate/production?gen=${gen}`);
      await link.click();
      await o.page.getByRole('heading', { name: 'History of production' }).waitFor();
      assert.equal(await o.page.locator(`#gen-${gen}`).getAttribute('class'), 'marked');
      assert.match(await o.page.locator(`#gen-${gen}`).innerText(), /promote[\s\S]*oscar[\s\S]*qa-1 passed/);
      assert.deepEqual([v.log.pageErrors, o.log.pageErrors], [[], []]);
    } finally {
      await browser.close();
    }
    assert.deepEqual(versionsIn(await stagePackages('production', 'stable'), 'demo'), ['1.0-1', '2.0-1']);
    assert.deepEqual((await gateOf()).updates, []);
    assert.deepEqual(
      (await history('production')).generations.map((g) => `${g.suite} ${g.kind}${g.forced ? ' (forced)' : ''}`),
      [
        'stable initial',
        'stable-security initial',
        'stable promote (forced)',
        'stable rollback',
        'stable-security promote',
        'stable promote',
        'stable promote',
      ],
    );
    // a page of the history: the newest N, then the N before them (oldest first in each)
    const all7 = (await history('production')).generations.map((g) => g.id);
    const page1 = await viewer.call('GET', '/stages/production/history?limit=3');
    assert.deepEqual(
      page1.body.generations.map((g: { id: number }) => g.id),
      all7.slice(-3),
    );
    const page2 = await viewer.call('GET', `/stages/production/history?limit=3&before=${all7.at(-3)}`);
    assert.deepEqual(
      page2.body.generations.map((g: { id: number }) => g.id),
      all7.slice(-6, -3),
    );
    assertError(await viewer.call('GET', '/stages/production/history?limit=0'), 400, 'USAGE');
    assert.deepEqual(JSON.parse(await same(['stage', 'history', 'production', '--limit', '3', '--json'])), page1.body);
    // the history and the status, here and remotely; a promotion with nothing left is USAGE on both
    await same(['stage', 'history', 'production']);
    await same(['gate', 'status']);
    const nothing = [await cli(['promote', 'test']), await cli(['promote', 'test'], operatorToken)];
    assert.deepEqual(
      nothing.map((n) => [n.code, n.stderr]),
      [
        [nothing[0]!.code, 'aptgate: USAGE: nothing to promote from test\n'],
        [nothing[0]!.code, 'aptgate: USAGE: nothing to promote from test\n'],
      ],
    );
  });

  it("GET /key: the server's public key, armored or a binary keyring; key export writes the same file here and remotely", async () => {
    const armored = await viewer.call('GET', '/key');
    assert.equal(armored.status, 200);
    assert.equal(armored.body.format, 'armored');
    assert.ok(armored.body.key.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'));
    assert.match(armored.body.fingerprint, /^[0-9A-F]{40,64}$/);
    const binary = await viewer.call('GET', '/key?binary=true');
    assert.deepEqual([binary.body.format, binary.body.fingerprint], ['binary', armored.body.fingerprint]);
    const bytes = Buffer.from(binary.body.key, 'base64');
    assert.ok(bytes.length > 100 && bytes[0] !== '-'.charCodeAt(0));
    const here = path.join(world.dir, 'here.gpg');
    const there = path.join(world.dir, 'there.gpg');
    assert.equal((await cli(['key', 'export', '--binary', '--output', here])).code, 0);
    const r = await cli(['key', 'export', '--binary', '--output', there, '--json'], viewerToken);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      fingerprint: armored.body.fingerprint,
      format: 'binary',
      output: there,
      key: null,
    });
    assert.deepEqual(await readFile(there), await readFile(here));
    assert.deepEqual(await readFile(there), bytes);
    assert.equal(await same(['key', 'export']), armored.body.key);
    assertError(await viewer.call('GET', '/key?binary=maybe'), 400, 'USAGE');
  });
});
