// Issue 17: the cooldown with a security fast lane. Production takes a version by promotion only
// once it was first seen upstream `[gate] min_age` ago (the server's clock is moved, the fixture
// upstream's Release Dates are its own); an update from a security suite, or one fixing a CVE of
// `fast_lane_urgency` by the imported advisories, takes the fast lane; a forced promotion with a
// reason moves what is still cooling, and says so. Real apt, real agents, a real server.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localPrincipal } from '../src/access/principal.js';
import { defaultConfig, loadConfig, validate } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import { fixesFrom } from '../src/assembly/gate.js';
import { parseTracker } from '../src/index/advisories/debian-tracker.js';
import { AdvisoryStore } from '../src/state/advisories.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { runCli } from './helpers/fleet-api.js';
import type { DebSpec } from './helpers/debs.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';
import { settled, upstreamSeenBy } from './helpers/settle.js';

const DAY = 86_400_000;
const deb = (name: string, version: string): DebSpec => ({ name, version, arch: 'all' });

describe('issue 17: cooldown before production, a fast lane for security', () => {
  let world: World;
  let server: TestServer;
  let observer: AptEnv;
  let qa: TestAgent;
  let prod: TestAgent;
  let offset = 0;
  const stable = (demo: string, tool: string) => [deb('demo', demo), deb('tool', tool)];
  const security = (sec: string) => [deb('sec', sec)];

  const settle = () => settled(server);
  const upstreamSeen = () => upstreamSeenBy(server, observer, 'fixture', ['stable', 'stable-security']);
  async function upgradeOnQa(): Promise<void> {
    const id = qa.state.identity()!.machine;
    server.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
    server.fleet.jobs.create([id], { kind: 'upgrade', origin: 'test' });
    const r = JSON.parse(await qa.runOk(['run-once', '--json'])) as { jobs: Array<{ failure?: string }> };
    assert.deepEqual(
      r.jobs.map((j) => j.failure),
      [undefined, undefined],
    );
    await settle();
  }
  const updates = () =>
    Object.fromEntries(server.gate.status('test').updates.map((u) => [u.source, u])) as Record<
      string,
      ReturnType<TestServer['gate']['status']>['updates'][number]
    >;
  async function production(suite: string, name: string): Promise<string[]> {
    const text = await (
      await fetch(`${server.url}/stage/production/fixture/dists/${suite}/main/binary-amd64/Packages`)
    ).text();
    return [...text.matchAll(new RegExp(`^Package: ${name}\\nVersion: (\\S+)`, 'gm'))].map((m) => m[1]!);
  }

  before(async () => {
    world = await makeWorld({ debs: stable('1.0-1', '1.0-1') });
    await world.repo.publish('stable-security', security('1.0-1'), { codename: 'stable' });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
        c.gate.minAge = new Map([['production', 3 * DAY]]);
      }),
      { now: () => Date.now() + offset },
    );
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable', 'stable-security'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeen();
    server.fleet.classes.create('qa');
    server.fleet.classes.bindStage('qa', 'test', true, server.config.gate.stages);
    server.fleet.classes.create('prod');
    server.fleet.classes.bindStage('prod', 'production', false, server.config.gate.stages);
    qa = await createAgent(path.join(world.dir, 'qa-1'), server.url, { hostname: 'qa-1' });
    prod = await createAgent(path.join(world.dir, 'prod-1'), server.url, { hostname: 'prod-1' });
    // the production machine says its release (the advisories are per release)
    await writeFile(path.join(prod.root.root, 'etc/os-release'), 'ID=debian\nVERSION_CODENAME=stable\n');
    for (const [a, cls] of [
      [qa, 'qa'],
      [prod, 'prod'],
    ] as const) {
      await a.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ class: cls, autoApprove: true }).token]);
      const r = await a.root.apt(['install', '-y', 'demo', 'tool', 'sec']);
      assert.equal(r.code, 0, r.output);
      await a.runOk(['run-once']);
    }
    await settle();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('a new version waits its cooldown for production; a security suite update goes through at once', async () => {
    const published = await world.repo.publish('stable', stable('2.0-1', '1.0-1'));
    await world.repo.publish('stable-security', security('1.0-2'), { codename: 'stable' });
    await upstreamSeen();
    await upgradeOnQa();
    const u = updates();
    assert.deepEqual(Object.keys(u).sort(), ['demo', 'sec']);
    // its age counts from the signed Date of the first upstream Release that had it
    assert.equal(u['demo']!.firstSeen, published.date.toISOString());
    assert.equal(u['demo']!.eligibleAt, new Date(published.date.getTime() + 3 * DAY).toISOString());
    assert.deepEqual([u['demo']!.lane, u['demo']!.inCooldown, u['demo']!.fastLane], ['normal', true, null]);
    assert.deepEqual([u['sec']!.lane, u['sec']!.inCooldown], ['security', false]);
    assert.equal(server.gate.status('test').holds, true, server.gate.status('test').missing.join('; '));

    // a promotion moves what has cooled down (the security update) and leaves the rest
    const made = await server.gate.promote('test', { actor: 'admin' });
    assert.deepEqual(
      made.map((g) => g.suite),
      ['stable-security'],
    );
    assert.deepEqual(await production('stable-security', 'sec'), ['1.0-2']);
    assert.deepEqual(await production('stable', 'demo'), ['1.0-1']);
    assert.equal(made[0]!.forced, false);

    // a production machine: one explanation per pending update, the same in the API and the command line
    await prod.runOk(['run-once']);
    await settle();
    // the server's answer (its configuration has the cooldown), through the API as the remote command line asks
    await server.services.access.addUser('vera', 'viewer', 'a long enough password');
    const { token } = server.services.access.createApiToken(localPrincipal(), {
      user: 'vera',
      role: 'viewer',
      expiresAt: Date.now() + 3_600_000,
    });
    const remote = (...args: string[]) =>
      runCli([...args, '--server', server.url], { APTGATE_TOKEN: token, APTGATE_SERVER: undefined });
    const cli = await remote('machines', 'outdated', 'prod-1', '--why');
    assert.match(
      cli,
      new RegExp(`demo +1\\.0-1 +→ +2\\.0-1 +in its cooldown for production until ${u['demo']!.eligibleAt}`),
    );
    assert.match(cli, /sec +1\.0-1 +→ +1\.0-2 +upgradable now/);
    const json = JSON.parse(await remote('machines', 'outdated', 'prod-1', '--json')) as {
      available: { packages: Array<{ package: string; why: { status: string; until: string | null } }> };
    };
    assert.deepEqual(
      json.available.packages.map((p) => [p.package, p.why.status, p.why.until]),
      [
        ['demo', 'cooldown', u['demo']!.eligibleAt],
        ['sec', 'upgradable', null],
      ],
    );

    // nothing else may move yet: the error says until when
    await assert.rejects(
      server.gate.promote('test', { actor: 'admin' }),
      (e) =>
        isAptgateError(e, 'USAGE') &&
        e.message.includes('in their cooldown') &&
        e.message.includes(u['demo']!.eligibleAt),
    );
    await assert.rejects(
      server.gate.promote('test', { only: ['demo'], actor: 'admin' }),
      (e) => isAptgateError(e, 'USAGE') && /demo 2\.0-1: in its cooldown for production until/.test(e.message),
    );
    // later snapshots that still carry it do not move its age on
    await world.repo.publish('stable', stable('2.0-1', '1.0-1'));
    await upstreamSeen();
    assert.equal(updates()['demo']!.firstSeen, published.date.toISOString());
    // (the test stage has a new generation: the gate wants the test machine upgraded again)
    await upgradeOnQa();

    // three days on (the server's clock), it is eligible
    offset = 3 * DAY + 60_000;
    assert.equal(updates()['demo']!.inCooldown, false);
    await server.gate.promote('test', { actor: 'admin' });
    assert.deepEqual(await production('stable', 'demo'), ['2.0-1']);
  });

  it('an update fixing a CVE of the fast-lane urgency (the imported tracker) skips the cooldown; a forced promotion moves one still cooling and is recorded as forced', async () => {
    // the server's clock back to the fixture upstream's (its Release Dates follow the real clock)
    offset = 0;
    const advisories = new AdvisoryStore(server.services.db);
    advisories.setFeed('debian-tracker', 'https://127.0.0.1/unused');
    const tracker = parseTracker({
      tool: {
        'CVE-2026-10001': {
          description: 'tool: overflow',
          releases: { stable: { status: 'resolved', fixed_version: '1.1-1', urgency: 'high', repositories: {} } },
        },
        'CVE-2026-10002': {
          description: 'tool: minor',
          releases: { stable: { status: 'resolved', fixed_version: '1.1-1', urgency: 'low', repositories: {} } },
        },
      },
    });
    await advisories.replace('debian-tracker', (write) => write(tracker.records));
    // a security suite's Release says "stable-security" (Debian: bookworm-security); the tracker names the release
    for (const codename of ['stable', 'stable-security', 'stable-updates'])
      assert.deepEqual(
        fixesFrom(advisories)({ source: 'tool', from: '1.0-1', to: '1.1-1', codename }).map((f) => f.cve),
        ['CVE-2026-10001', 'CVE-2026-10002'],
        codename,
      );

    await world.repo.publish('stable', stable('3.0-1', '1.1-1'));
    await upstreamSeen();
    await upgradeOnQa();
    const u = updates();
    assert.deepEqual([u['tool']!.lane, u['tool']!.inCooldown], ['fast', false]);
    assert.equal(u['tool']!.fastLane, 'fixes CVE-2026-10001 (high)');
    assert.deepEqual(
      u['tool']!.fixes.map((f) => `${f.cve} ${f.urgency}`),
      ['CVE-2026-10001 high', 'CVE-2026-10002 low'],
    );
    assert.deepEqual([u['demo']!.lane, u['demo']!.inCooldown], ['normal', true]);

    await server.gate.promote('test', { actor: 'admin' });
    assert.deepEqual(await production('stable', 'tool'), ['1.1-1']);
    assert.deepEqual(await production('stable', 'demo'), ['2.0-1']);

    // forced, with its reason: demo 3.0-1 moves before its cooldown ended, and the generation says so
    await assert.rejects(
      server.gate.promote('test', { actor: 'admin', force: true }),
      (e) => isAptgateError(e, 'USAGE') && /--reason/.test(e.message),
    );
    const [forced] = await server.gate.promote('test', { actor: 'admin', force: true, reason: 'fix for an outage' });
    assert.equal(forced!.forced, true);
    assert.deepEqual((forced!.evidence as { cooldownOverridden?: string[] }).cooldownOverridden, ['demo 3.0-1']);
    assert.deepEqual(await production('stable', 'demo'), ['3.0-1']);

    // the production machine still has tool 1.0-1: its agent's status names what the server finds it exposed to
    await prod.runOk(['run-once']);
    await settle();
    const st = JSON.parse(await prod.runOk(['status', '--json'])) as {
      exposures: {
        known: boolean;
        total: number;
        byUrgency: Record<string, number>;
        cves: Array<{ cve: string }>;
      } | null;
      exposuresError: string | null;
    };
    assert.equal(st.exposuresError, null);
    assert.deepEqual(
      [st.exposures?.known, st.exposures?.total, st.exposures?.byUrgency, st.exposures?.cves.map((c) => c.cve)],
      [true, 2, { high: 1, low: 1 }, ['CVE-2026-10001', 'CVE-2026-10002']],
    );
    assert.match(
      await prod.runOk(['status']),
      /^security advisories: exposed to 2 CVEs \(1 high, 1 low\): CVE-2026-10001, CVE-2026-10002$/m,
    );
  });

  it('the configuration: STAGE=AGE pairs for stages that promotions fill, an urgency or off; mistakes name the setting', async () => {
    const file = path.join(world.dir, 'cooldown.conf');
    await writeFile(
      file,
      '[gate]\nmin_age = production=3d\nmin_age_security = production=2h\nfast_lane_urgency = critical\n',
    );
    const c = loadConfig({ file, env: {} });
    assert.deepEqual([...c.gate.minAge], [['production', 3 * DAY]]);
    assert.deepEqual([...c.gate.minAgeSecurity], [['production', 2 * 3_600_000]]);
    assert.equal(c.gate.fastLaneUrgency, 'critical');
    await writeFile(file, '[gate]\nfast_lane_urgency = off\n');
    assert.equal(loadConfig({ file, env: {} }).gate.fastLaneUrgency, null);
    for (const [text, want] of [
      ['min_age = production', /gate\.min_age: expected STAGE=AGE pairs/],
      ['min_age = production=soon', /gate\.min_age/],
      ['fast_lane_urgency = urgent', /gate\.fast_lane_urgency: expected low, medium, high, critical or off/],
    ] as const) {
      await writeFile(file, `[gate]\n${text}\n`);
      assert.throws(
        () => loadConfig({ file, env: {} }),
        (e) => isAptgateError(e, 'CONFIG_INVALID') && want.test(e.message) && /cooldown\.conf:2/.test(e.message),
      );
    }
    // the first stage follows upstream at once: no cooldown there
    const first = defaultConfig();
    first.gate.minAge = new Map([['test', DAY]]);
    assert.throws(
      () => validate(first),
      (e) =>
        isAptgateError(e, 'CONFIG_INVALID') &&
        /gate\.min_age: "test" is not a stage that promotions fill/.test(e.message),
    );
    assert.match(await readFile(new URL('../../config/aptgate.conf', import.meta.url), 'utf8'), /^#min_age =$/m);
  });
});
