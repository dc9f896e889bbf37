// Issue 16: machines, the overview, packages, enrolment tokens and push over /api/v1 on a real
// server with a real fleet (machines enrolled with real tokens, reports through Fleet.report,
// bookworm-security in the package index). Each state of the overview is the total of the list
// filtered by it; the list filters, sorts and pages; a viewer changes nothing (refusals audited);
// bad input is USAGE and changes nothing; the command line prints the same here and with --server.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callAllPages } from '../src/cli/call.js';
import type { CliShell } from '../src/cli/fleet-context.js';
import { defaultConfig, validate } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import { MACHINE_STATES } from '../src/fleet/queries/machine-states.js';
import { MachineStore } from '../src/state/machines.js';
import {
  addTestUsers,
  assertError,
  bearer,
  login,
  PASSWORD,
  type ApiClient,
  type SessionClient,
} from './helpers/api.js';
import { enrolMachine, indexSecuritySuite, reportMachine, runCli, type TestMachine } from './helpers/fleet-api.js';
import { startServer, type TestServer } from './helpers/server.js';

const DAY = 86_400_000;

describe('issue 16: machines, overview, packages, tokens and push over the API', () => {
  let dir: string;
  let server: TestServer;
  let viewer: SessionClient;
  let operator: SessionClient;
  let viewerScript: ApiClient;
  let viewerToken: string;
  let operatorToken: string;
  let web1: TestMachine, web2: TestMachine, lab: TestMachine, db1: TestMachine;

  const local = (...args: string[]) => runCli([...args, '--db', server.config.db], { APTGATE_SERVER: undefined });
  const remote = (token: string, ...args: string[]) =>
    runCli([...args, '--server', server.url], { APTGATE_TOKEN: token, APTGATE_SERVER: undefined });
  const hostnames = (r: { body: { machines: Array<{ hostname: string }> } }) => r.body.machines.map((m) => m.hostname);
  const auditOf = (action: string) => server.services.audit.query({ action, limit: 1 })[0]!;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-machines-'));
    const config = defaultConfig();
    config.listen = '127.0.0.1';
    config.port = 0;
    config.cacheDir = path.join(dir, 'cache');
    config.db = path.join(dir, 'aptgate.db');
    config.logLevel = 'silent';
    config.proxy.refreshIntervalMs = 0;
    validate(config);
    await mkdir(config.cacheDir, { recursive: true });
    server = await startServer(config);
    const s = server.services;
    await addTestUsers(s);
    viewer = await login(server.url, 'vera', PASSWORD);
    operator = await login(server.url, 'oscar', PASSWORD);
    const mint = async (who: SessionClient, role: string) => {
      const r = await who.call('POST', '/api-tokens', { role, expires: '1d', name: 'cli' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.token as string;
    };
    viewerToken = await mint(viewer, 'viewer');
    operatorToken = await mint(operator, 'operator');
    viewerScript = bearer(server.url, viewerToken);

    indexSecuritySuite(s);
    web1 = enrolMachine(s, 'web-1.example.org');
    web2 = enrolMachine(s, 'web-2.example.org');
    lab = enrolMachine(s, 'lab-1');
    db1 = enrolMachine(s, 'db-1', false);
    await reportMachine(s, web1, '3.0.11-1~deb12u2', { reboot: true });
    await reportMachine(s, web2, '3.0.17-1~deb12u2');
    await reportMachine(s, lab, '3.0.11-1~deb12u2', { foreign: true });
    // seen now (a signed call's mark), and a clone flagged as the server flags one
    const store = new MachineStore(server.db);
    for (const m of [web1, web2, lab]) assert.ok(store.acceptTimestamp(m.id, Date.now()));
    store.flagClone(web2.id, 'f'.repeat(32));
    const web = s.fleet.classes.create('web');
    s.fleet.classes.addRule(web.name, 'hostname', 'web-*');
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GET /machines: every machine summarized in hostname order, with the total; the CLI prints the same here and remotely', async () => {
    const r = await viewer.call('GET', '/machines');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(hostnames(r), ['db-1', 'lab-1', 'web-1.example.org', 'web-2.example.org']);
    assert.deepEqual([r.body.total, r.body.page, r.body.limit], [4, 1, null]);
    const w1 = r.body.machines.find((m: { id: number }) => m.id === web1.id);
    assert.deepEqual(
      [w1.outdated, w1.security, w1.rebootRequired, w1.status, w1.clone],
      [1, 1, true, 'approved', null],
    );
    const w2 = r.body.machines.find((m: { id: number }) => m.id === web2.id);
    assert.deepEqual([w2.outdated, w2.security, w2.clone.machineId], [0, 0, 'f'.repeat(32)]);
    const l = r.body.machines.find((m: { id: number }) => m.id === lab.id);
    assert.equal(l.outdated, null, 'its sources do not go through this server: unknown');

    const json = await local('machines', 'list', '--json');
    assert.deepEqual(JSON.parse(json), r.body);
    assert.equal(await remote(viewerToken, 'machines', 'list', '--json'), json);
    const human = await local('machines', 'list');
    assert.match(human, /^ID\s+HOSTNAME\s+STATUS/m);
    assert.equal(await remote(viewerToken, 'machines', 'list'), human);
  });

  it('each state: the overview counts the machines GET /machines?state= lists; aptgate overview --json is the same answer', async () => {
    const o = await viewer.call('GET', '/overview');
    assert.equal(o.status, 200, JSON.stringify(o.body));
    assert.deepEqual(Object.keys(o.body.machines.states), [...MACHINE_STATES]);
    const expected: Record<string, string[]> = {
      'up-to-date': ['web-2.example.org'],
      outdated: ['web-1.example.org'],
      security: ['web-1.example.org'],
      reboot: ['web-1.example.org'],
      unseen: ['db-1'],
      pending: ['db-1'],
      clone: ['web-2.example.org'],
      unknown: ['db-1', 'lab-1'],
    };
    for (const state of MACHINE_STATES) {
      const list = await viewer.call('GET', `/machines?state=${state}`);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.deepEqual(hostnames(list), expected[state], state);
      assert.equal(list.body.total, o.body.machines.states[state], `${state}: overview count = list total`);
    }
    assert.equal(o.body.machines.total, 4);
    assert.equal(o.body.machines.unseen, '7d');
    assert.deepEqual(
      o.body.gate.stages.map((s: { stage: string }) => s.stage),
      server.config.gate.stages.slice(0, -1),
    );
    assert.deepEqual(Object.keys(o.body.proxy).sort(), ['bytes', 'clients', 'hitRatio', 'hits', 'misses', 'requests']);

    const cli = JSON.parse(await local('overview', '--json'));
    assert.deepEqual(cli, o.body);
    assert.deepEqual(JSON.parse(await remote(viewerToken, 'overview', '--json')), o.body);
    const human = await local('overview');
    assert.match(human, /^machines: 4 enrolled$/m);
    assert.match(human, /^ {2}security updates pending +1 {2}\(aptgate machines list --state security\)$/m);
    assert.equal(await remote(viewerToken, 'overview'), human);
    // the CLI's --state lists the same machines
    const sec = JSON.parse(await local('machines', 'list', '--state', 'security', '--json'));
    assert.deepEqual([sec.total, sec.machines.map((m: { id: number }) => m.id)], [1, [web1.id]]);
  });

  it("a cached answer older than its view's snapshots is not counted: the overview and the list recompute it", async () => {
    const rows = server.db
      .prepare('SELECT profile_id, view_id, snapshots, outdated, security FROM outdated_cache')
      .all();
    assert.ok(rows.length > 0);
    // every cached count says "nothing outdated", but names snapshots that are no longer current
    server.db.prepare("UPDATE outdated_cache SET snapshots = 'stale', outdated = 0, security = 0").run();
    try {
      const o = await viewer.call('GET', '/overview');
      assert.equal(o.status, 200, JSON.stringify(o.body));
      assert.equal(o.body.machines.states.outdated, 1);
      assert.equal(o.body.machines.states['up-to-date'], 1);
      assert.deepEqual(hostnames(await viewer.call('GET', '/machines?state=security')), ['web-1.example.org']);
    } finally {
      const put = server.db.prepare(
        'UPDATE outdated_cache SET snapshots = @snapshots, outdated = @outdated, security = @security WHERE profile_id = @profile_id AND view_id = @view_id',
      );
      for (const r of rows) put.run(r);
    }
  });

  it('"not seen" is for longer than unseen: the same predicate for the count and the list', async () => {
    // two days ago (the sessions' clock is the server's: it is not moved)
    const seen = server.db.prepare('SELECT id, last_seen AS t FROM machine').all() as Array<{
      id: number;
      t: number | null;
    }>;
    const setSeen = server.db.prepare('UPDATE machine SET last_seen = ? WHERE id = ?');
    for (const m of seen) if (m.t !== null) setSeen.run(m.t - 2 * DAY, m.id);
    try {
      const o1 = await viewer.call('GET', '/overview?unseen=1d');
      assert.equal(o1.body.machines.states.unseen, 4);
      assert.equal(o1.body.machines.unseen, '1d');
      assert.equal((await viewer.call('GET', '/machines?state=unseen&unseen=1d')).body.total, 4);
      const o7 = await viewer.call('GET', '/overview');
      assert.equal(o7.body.machines.states.unseen, 1);
      assert.deepEqual(hostnames(await viewer.call('GET', '/machines?state=unseen&unseen=7d')), ['db-1']);
    } finally {
      for (const m of seen) setSeen.run(m.t, m.id);
    }
    assertError(await viewer.call('GET', '/overview?unseen=soon'), 400, 'USAGE');
    assertError(await viewer.call('GET', '/machines?state=unseen&unseen=-1d'), 400, 'USAGE');
  });

  it('filters, sort and pages: q, class, status, pending; nulls last either way; total on every page', async () => {
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?q=WEB')), [
      'web-1.example.org',
      'web-2.example.org',
    ]);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?class=web')), [
      'web-1.example.org',
      'web-2.example.org',
    ]);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?status=pending')), ['db-1']);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?pending=true')), ['db-1']);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?sort=outdated&dir=desc')), [
      'web-1.example.org',
      'web-2.example.org',
      'db-1',
      'lab-1',
    ]);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?sort=outdated')), [
      'web-2.example.org',
      'web-1.example.org',
      'db-1',
      'lab-1',
    ]);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?sort=hostname&dir=desc')), [
      'web-2.example.org',
      'web-1.example.org',
      'lab-1',
      'db-1',
    ]);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?sort=class')), [
      'web-1.example.org',
      'web-2.example.org',
      'db-1',
      'lab-1',
    ]);
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?sort=agentVersion&dir=desc')), [
      'db-1',
      'lab-1',
      'web-2.example.org',
      'web-1.example.org',
    ]);
    const pages = [];
    for (const page of [1, 2, 3]) {
      const r = await viewer.call('GET', `/machines?limit=3&page=${page}`);
      assert.deepEqual([r.body.total, r.body.page, r.body.limit], [4, page, 3]);
      pages.push(...hostnames(r));
    }
    assert.deepEqual(pages, ['db-1', 'lab-1', 'web-1.example.org', 'web-2.example.org']);
    assert.equal(
      await local('machines', 'list', '--limit', '3', '--page', '2', '--sort', 'lastSeen'),
      await remote(viewerToken, 'machines', 'list', '--limit', '3', '--page', '2', '--sort', 'lastSeen'),
    );
    assert.match(await local('machines', 'list', '--limit', '3'), /^page 1 of 2 \(4 machines\)$/m);

    for (const q of [
      'state=bogus',
      'sort=bogus',
      'dir=up',
      'limit=0',
      'limit=1001',
      'page=0',
      'status=gone',
      'unknown=1',
      'limit=x',
    ])
      assertError(await viewer.call('GET', `/machines?${q}`), 400, 'USAGE');
    assertError(await viewer.call('GET', '/machines?class=nope'), 404, 'NOT_FOUND');
    await assert.rejects(local('machines', 'list', '--state', 'bogus'), (e) => isAptgateError(e, 'USAGE'));
    await assert.rejects(local('machines', 'list', '--dir', 'up'), (e) => isAptgateError(e, 'USAGE'));
  });

  it('GET /machines/REF and /machines/REF/outdated: the machine, each outdated package with what apt does with it', async () => {
    const show = await viewer.call('GET', `/machines/${web1.hostname}`);
    assert.equal(show.status, 200, JSON.stringify(show.body));
    assert.equal(show.body.machine.id, web1.id);
    assert.deepEqual(show.body.classes, ['web']);
    assert.equal(show.body.report.reboot.required, true);
    const out = await viewerScript.call('GET', `/machines/${web1.id}/outdated`);
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.deepEqual(
      out.body.packages.map((e: { package: string; action: string; security: boolean; candidateVersion: string }) => [
        e.package,
        e.action,
        e.security,
        e.candidateVersion,
      ]),
      [['openssl', 'upgrade', true, '3.0.17-1~deb12u2']],
    );
    assert.deepEqual(out.body.counts.outdated, 1);
    assert.equal(
      await local('machines', 'outdated', 'web-1.example.org', '--json'),
      await remote(viewerToken, 'machines', 'outdated', 'web-1.example.org', '--json'),
    );
    const unknown = await viewer.call('GET', `/machines/${lab.id}/outdated`);
    assert.deepEqual(
      [unknown.body.known, unknown.body.reason],
      [false, 'no apt source of this machine goes through this server'],
    );
    assertError(await viewer.call('GET', '/machines/no-such-host'), 404, 'NOT_FOUND');
    assertError(await viewer.call('GET', '/machines/no-such-host/outdated'), 404, 'NOT_FOUND');
  });

  it('GET /packages/NAME: who runs what, older than a version, with a security update; per version', async () => {
    const all = await viewer.call('GET', '/packages/openssl');
    assert.equal(all.status, 200, JSON.stringify(all.body));
    assert.deepEqual(hostnames(all), ['lab-1', 'web-1.example.org', 'web-2.example.org']);
    assert.deepEqual(all.body.counts, { machines: 3, outdated: 1, security: 1 });
    assert.deepEqual(all.body.versions, [
      { version: '3.0.17-1~deb12u2', machines: 1, outdated: 0, security: 0 },
      { version: '3.0.11-1~deb12u2', machines: 2, outdated: 1, security: 1 },
    ]);
    assert.equal(all.body.limit, 100, 'a page of 100 unless asked otherwise');
    const narrowed = await viewer.call('GET', '/packages/openssl?q=web-&version=3.0.11-1~deb12u2');
    assert.deepEqual(hostnames(narrowed), ['web-1.example.org']);
    assert.equal(narrowed.body.total, 1);
    assert.deepEqual(narrowed.body.counts, all.body.counts, 'counts: of all machines, not of the list');
    assert.deepEqual(hostnames(await viewer.call('GET', '/packages/openssl?q=lab')), ['lab-1']);
    assertError(await viewer.call('GET', '/packages/openssl?limit=1001'), 400, 'USAGE');
    // the command line prints every entry, asking page after page
    const cliPages = await callAllPages(
      { configFrom: () => assert.fail('remote: no local configuration'), out: () => {} } as unknown as CliShell,
      { server: server.url },
      'packages.users',
      { name: 'openssl' },
      'machines',
      1,
      { APTGATE_TOKEN: viewerToken },
    );
    assert.deepEqual(
      (cliPages['machines'] as Array<{ hostname: string }>).map((m) => m.hostname),
      hostnames(all),
    );
    const paged = await viewer.call('GET', '/packages/openssl?limit=2&page=2');
    assert.deepEqual(hostnames(paged), ['web-2.example.org']);
    assert.deepEqual([paged.body.total, paged.body.page, paged.body.limit], [3, 2, 2]);
    assert.deepEqual(paged.body.versions, all.body.versions, 'per version: of all pages');
    assertError(await viewer.call('GET', '/packages/openssl?limit=0'), 400, 'USAGE');
    const old = await viewer.call('GET', '/packages/openssl?olderThan=3.0.15');
    assert.deepEqual(hostnames(old), ['lab-1', 'web-1.example.org']);
    assert.equal(old.body.olderThan, '3.0.15');
    assert.deepEqual(hostnames(await viewer.call('GET', '/packages/openssl?security=true')), ['web-1.example.org']);
    assert.deepEqual((await viewer.call('GET', '/packages/no-such-package')).body.counts, {
      machines: 0,
      outdated: 0,
      security: 0,
    });
    // who has security updates pending, package or not
    assert.deepEqual(hostnames(await viewer.call('GET', '/machines?state=security')), ['web-1.example.org']);
    assert.equal(
      await local('packages', 'openssl', '--older-than', '3.0.15'),
      await remote(viewerToken, 'packages', 'openssl', '--older-than', '3.0.15'),
    );
    assert.equal(
      await local('packages', 'openssl', '--security', '--json'),
      await remote(viewerToken, 'packages', 'openssl', '--security', '--json'),
    );
    assertError(await viewer.call('GET', '/packages/OpenSSL'), 400, 'USAGE');
    assertError(await viewer.call('GET', '/packages/openssl?olderThan=a%20b'), 400, 'VERSION_INVALID');
    assertError(await viewer.call('GET', '/packages/openssl?security=maybe'), 400, 'USAGE');
  });

  it('a viewer approves, refuses, removes, pushes and makes or revokes tokens nothing: FORBIDDEN, audited, unchanged', async () => {
    const tokensBefore = server.services.fleet.machines.tokens().length;
    const refusals: Array<[string, string, unknown, string]> = [
      ['POST', `/machines/${db1.id}/approve`, {}, 'machines.approve'],
      ['POST', `/machines/${db1.id}/reject`, {}, 'machines.reject'],
      ['DELETE', `/machines/${lab.id}`, undefined, 'machines.remove'],
      ['POST', '/push', { targets: ['web'] }, 'push.create'],
      ['POST', '/tokens', { autoApprove: true }, 'tokens.create'],
      ['DELETE', '/tokens/1', undefined, 'tokens.revoke'],
    ];
    for (const [method, p, body, action] of refusals) {
      for (const who of [viewer, viewerScript]) {
        assertError(await who.call(method, p, body), 403, 'FORBIDDEN');
        const e = auditOf(action);
        assert.deepEqual([e.actor, e.result], ['vera', 'FORBIDDEN'], action);
      }
    }
    await assert.rejects(remote(viewerToken, 'machines', 'approve', 'db-1'), (e) => isAptgateError(e, 'FORBIDDEN'));
    const m = server.services.fleet.machines;
    assert.equal(m.byId(db1.id)!.status, 'pending');
    assert.ok(m.byId(lab.id));
    assert.equal(m.byId(web1.id)!.pullNow, false);
    assert.equal(m.tokens().length, tokensBefore);
    assert.equal(m.tokenById(1)!.revokedAt, null);
  });

  it('enrolment tokens: created by an operator (shown once, with the enrol command), listed without it, revoked; bad input changes nothing', async () => {
    const made = await operator.call('POST', '/tokens', {
      autoApprove: true,
      expires: '7d',
      uses: 2,
      note: 'lab',
      class: 'web',
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.match(made.body.token, /^agt_[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(made.body.enrolCommand.slice(0, 3), ['aptgate-agent', 'enrol', '--server']);
    // by default the server's own host name and apt port: what agents reach
    assert.match(made.body.enrolCommand[3], new RegExp(`^http://${os.hostname()}:\\d+$`));
    assert.equal(auditOf('tokens.create').actor, 'oscar');
    assert.equal(JSON.stringify(auditOf('tokens.create')).includes(made.body.token), false, 'never the token');
    const list = await viewer.call('GET', '/tokens');
    const t = list.body.tokens.find((x: { id: number }) => x.id === made.body.id);
    assert.deepEqual([t.class, t.maxUses, t.note, t.state, 'token' in t], ['web', 2, 'lab', 'valid', false]);
    assert.equal(await local('token', 'list', '--json'), await remote(viewerToken, 'token', 'list', '--json'));

    const remoteMade = JSON.parse(
      await remote(operatorToken, 'token', 'create', '--enrol-url', 'https://apt.example.org:3142', '--json'),
    );
    assert.deepEqual(remoteMade.enrolCommand.slice(3, 4), ['https://apt.example.org:3142']);

    const count = server.services.fleet.machines.tokens().length;
    for (const body of [
      { expires: 'soon' },
      { uses: 0 },
      { enrolUrl: 'ftp://x' },
      { class: 'no-such-class' },
      { note: 'two\nlines' },
      { bogus: true },
    ]) {
      const r = await operator.call('POST', '/tokens', body);
      assert.ok(r.status === 400 || r.status === 404, JSON.stringify(r.body));
    }
    assert.equal(server.services.fleet.machines.tokens().length, count, 'nothing made');

    const revoked = await operator.call('DELETE', `/tokens/${made.body.id}`);
    assert.equal(revoked.body.state, 'revoked');
    assertError(await operator.call('DELETE', `/tokens/${made.body.id}`), 400, 'USAGE');
    assertError(await operator.call('DELETE', '/tokens/99999'), 404, 'NOT_FOUND');
    assertError(await operator.call('DELETE', '/tokens/x'), 400, 'USAGE');
  });

  it('push: the pull-now flag of the approved targets, the hosts to reach; the CLI with --no-ssh here and remotely', async () => {
    const r = await operator.call('POST', '/push', { targets: ['web', 'db-1'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.pullNow.map((m: { hostname: string }) => m.hostname),
      ['web-1.example.org', 'web-2.example.org'],
    );
    assert.deepEqual(r.body.skipped, [{ id: db1.id, hostname: 'db-1', reason: 'pending approval' }]);
    assert.equal(r.body.hosts.length, 2);
    assert.equal(server.services.fleet.machines.byId(web1.id)!.pullNow, true);
    assert.deepEqual(auditOf('push.create').args, { targets: ['web', 'db-1'] });
    assertError(await operator.call('POST', '/push', { targets: ['no-such-host'] }), 404, 'NOT_FOUND');
    assertError(await operator.call('POST', '/push', { targets: [] }), 400, 'USAGE');
    assertError(await operator.call('POST', '/push', {}), 400, 'USAGE');
    assert.equal(
      await local('push', 'web-1.example.org', '--no-ssh'),
      await remote(operatorToken, 'push', 'web-1.example.org', '--no-ssh'),
    );
  });

  it('approve, reject and remove by an operator: several machines at once, all found before any changes', async () => {
    assertError(
      await operator.call('POST', `/machines/${db1.id}/approve`, { more: ['no-such-host'] }),
      404,
      'NOT_FOUND',
    );
    assert.equal(server.services.fleet.machines.byId(db1.id)!.status, 'pending', 'nothing changed');
    const r = await operator.call('POST', `/machines/${db1.id}/approve`, {});
    assert.deepEqual(
      r.body.machines.map((m: { changed: boolean }) => m.changed),
      [true],
    );
    assert.equal(auditOf('machines.approve').actor, 'oscar');
    const again = await remote(operatorToken, 'machines', 'approve', 'db-1', 'web-1.example.org');
    assert.match(again, /^db-1 \(machine \d+\): was approved already$/m);
    const rej = await operator.call('POST', `/machines/${web1.id}/reject`, {});
    assert.deepEqual(rej.body.machines[0].reenrolment, null);
    assertError(
      await operator.call('POST', `/machines/${web1.id}/approve`, { code: 'x', more: ['db-1'] }),
      400,
      'USAGE',
    );

    assertError(await operator.call('DELETE', `/machines/${lab.id}?more=no-such-host`), 404, 'NOT_FOUND');
    assert.ok(server.services.fleet.machines.byId(lab.id), 'nothing removed');
    const gone = await operator.call('DELETE', `/machines/${lab.id}`);
    assert.deepEqual(
      gone.body.machines.map((m: { hostname: string; changed: boolean }) => [m.hostname, m.changed]),
      [['lab-1', true]],
    );
    assert.equal((await viewer.call('GET', '/machines')).body.total, 3);
    assert.equal((await viewer.call('GET', '/overview')).body.machines.total, 3);
  });
});
