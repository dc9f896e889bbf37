// Issue 17, answers: exposures of a real fleet (machines enrolled with real tokens, installed sets
// reported through Fleet.report, bookworm-security indexed twice, the release gate following it)
// to advisory records imported from fixture files (the tracker's JSON and the DSA list, parsed by
// the real worker into the real store). Per machine: every fix status; per CVE: the machines
// exposed and the fix in the stage ladder, before and after a promotion; the command line prints
// the same here and with --server; a viewer may ask; bad input is USAGE or NOT_FOUND and changes nothing.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig, validate } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import type { AdvisoryRecord } from '../src/index/advisories/types.js';
import { bySource, fixStatus, installedSources, isExposed, issuesOf } from '../src/index/exposures.js';
import type { OutdatedEntry } from '../src/index/outdated.js';
import { parseStatus } from '../src/index/status.js';
import { addTestUsers, anonymous, assertError, bearer, login, PASSWORD, type SessionClient } from './helpers/api.js';
import { enrolMachine, runCli, type TestMachine } from './helpers/fleet-api.js';
import {
  importFixture,
  indexSnapshot,
  NEW_SSL,
  OLD_SSL,
  PROD_PACKAGES,
  report,
  ssl,
  UP_PACKAGES,
  XML,
} from './helpers/exposures-fleet.js';
import { fixturesDir } from './helpers/paths.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('issue 17: exposures per machine and per CVE', () => {
  let dir: string;
  let server: TestServer;
  let viewer: SessionClient;
  let viewerToken: string;
  let up: TestMachine, prod: TestMachine, tst: TestMachine, safe: TestMachine, lab: TestMachine, fresh: TestMachine;

  const local = (...args: string[]) => runCli([...args, '--db', server.config.db], { APTGATE_SERVER: undefined });
  const remote = (...args: string[]) =>
    runCli([...args, '--server', server.url], { APTGATE_TOKEN: viewerToken, APTGATE_SERVER: undefined });
  const statusOf = (body: { exposures: { list: Array<{ cve: string; status: string }> } }) =>
    Object.fromEntries(body.exposures.list.map((e) => [e.cve, e.status]));

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i17-exposures-'));
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
    const t = await viewer.call('POST', '/api-tokens', { role: 'viewer', expires: '1d', name: 'cli' });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    viewerToken = t.body.token as string;

    // every stage takes the first snapshot; the second (openssl fixed) goes to test only
    const t0 = Date.now() - 60_000;
    const first = indexSnapshot(s, 1, OLD_SSL, t0);
    assert.deepEqual(
      (await s.gate.onSnapshotIndexed(first)).map((g) => g.stage),
      ['test', 'production'],
    );
    const second = indexSnapshot(s, 3, NEW_SSL, t0 + 1000);
    assert.deepEqual(
      (await s.gate.onSnapshotIndexed(second)).map((g) => g.stage),
      ['test'],
    );

    assert.equal(
      await importFixture(
        s,
        'debian-tracker',
        'debian-tracker',
        path.join(fixturesDir, 'advisories', 'exposures-tracker.json'),
      ),
      7,
    );
    assert.ok((await importFixture(s, 'dsa', 'dsa', path.join(fixturesDir, 'advisories', 'dsa-list.txt'))) > 0);

    up = enrolMachine(s, 'up-1');
    prod = enrolMachine(s, 'prod-1');
    tst = enrolMachine(s, 'test-1');
    safe = enrolMachine(s, 'safe-1');
    lab = enrolMachine(s, 'lab-1');
    fresh = enrolMachine(s, 'fresh-1');
    await report(s, up, UP_PACKAGES, 'direct');
    await report(s, prod, PROD_PACKAGES, 'production');
    await report(s, tst, ssl(OLD_SSL), 'test');
    await report(s, safe, [...ssl(NEW_SSL), XML], 'direct');
    await report(s, lab, ssl(OLD_SSL), 'foreign');
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('per machine: each fix status, from the records of both feeds merged', async () => {
    const r = await viewer.call('GET', `/machines/${up.id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const x = r.body.exposures;
    assert.deepEqual([x.known, x.release, x.total], [true, 'bookworm', 6]);
    assert.deepEqual(statusOf(r.body), {
      'CVE-2099-1004': 'not-available',
      'CVE-2024-9143': 'upgradable',
      'CVE-2024-5535': 'upgradable',
      'CVE-2099-1002': 'held',
      'CVE-2099-1005': 'kept-back',
      'CVE-2099-1003': 'not-fixed',
    });
    // most urgent first; the tracker's urgency and the DSA's name merged for the same CVE
    assert.deepEqual(
      x.list.map((e: { cve: string }) => e.cve),
      ['CVE-2099-1004', 'CVE-2024-9143', 'CVE-2099-1002', 'CVE-2099-1005', 'CVE-2099-1003', 'CVE-2024-5535'],
    );
    const e9143 = x.list.find((e: { cve: string }) => e.cve === 'CVE-2024-9143');
    assert.deepEqual(e9143, {
      cve: 'CVE-2024-9143',
      urgency: 'high',
      source: 'openssl',
      installed: OLD_SSL,
      fixed: NEW_SSL,
      status: 'upgradable',
      candidate: NEW_SSL,
      packages: ['libssl3', 'openssl'],
      advisories: ['DSA-5800-1'],
    });
    assert.equal(x.list.find((e: { cve: string }) => e.cve === 'CVE-2099-1003').fixed, null);
    assert.deepEqual(
      [
        x.statuses.upgradable,
        x.statuses.held,
        x.statuses['kept-back'],
        x.statuses['not-fixed'],
        x.statuses['not-available'],
      ],
      [2, 1, 1, 1, 1],
    );

    const p = await viewer.call('GET', `/machines/${prod.id}`);
    assert.deepEqual(statusOf(p.body), {
      'CVE-2024-9143': 'waiting-at-gate',
      'CVE-2024-5535': 'waiting-at-gate',
      'CVE-2099-1002': 'upgradable',
    });
    const t = await viewer.call('GET', `/machines/${tst.id}`);
    assert.deepEqual(statusOf(t.body), { 'CVE-2024-9143': 'upgradable', 'CVE-2024-5535': 'upgradable' });
    const sf = await viewer.call('GET', `/machines/${safe.id}`);
    assert.deepEqual(statusOf(sf.body), { 'CVE-2099-1003': 'not-fixed' }, 'openssl 3.0.15 is fixed: not exposed');
    const l = await viewer.call('GET', `/machines/${lab.id}`);
    assert.deepEqual(statusOf(l.body), { 'CVE-2024-9143': 'unknown', 'CVE-2024-5535': 'unknown' });
    const f = await viewer.call('GET', `/machines/${fresh.id}`);
    assert.deepEqual([f.body.exposures.known, f.body.exposures.reason], [false, 'no report yet']);

    const human = await local('machines', 'show', 'up-1');
    assert.match(human, /^exposures: 6 \(2 upgradable, 1 kept-back, 1 held, 1 not-fixed, 1 not-available\)$/m);
    assert.match(human, /^ {2}CVE-2099-1005\s+medium\s+foo\s+1\.0-1\s+2\.0-1\s+kept-back$/m);
    assert.equal(await remote('machines', 'show', 'up-1'), human);
  });

  it('GET /cves?machine=: the machine’s issues with installed version and status; the CLI prints the same here and remotely', async () => {
    const r = await viewer.call('GET', '/cves?machine=prod-1');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.machine, {
      id: prod.id,
      hostname: 'prod-1',
      known: true,
      reason: null,
      release: 'bookworm',
    });
    assert.deepEqual(
      r.body.cves.map((c: { cve: string; installed: string; status: string }) => [c.cve, c.installed, c.status]),
      [
        ['CVE-2024-9143', OLD_SSL, 'waiting-at-gate'],
        ['CVE-2099-1002', '7.88.1-10+deb12u5', 'upgradable'],
        ['CVE-2024-5535', OLD_SSL, 'waiting-at-gate'],
      ],
    );
    const json = await local('cves', '--machine', 'prod-1', '--json');
    assert.deepEqual(JSON.parse(json), { ...r.body, limit: null });
    assert.equal(await remote('cves', '--machine', 'prod-1', '--json'), json);
    const human = await local('cves', '--machine', 'prod-1');
    assert.match(human, /^prod-1 \(machine \d+, bookworm\): 3 exposures$/m);
    assert.match(
      human,
      /^CVE-2024-9143\s+high\s+openssl\s+3\.0\.11-1~deb12u2\s+3\.0\.15-1~deb12u1\s+waiting-at-gate$/m,
    );
    assert.equal(await remote('cves', '--machine', 'prod-1'), human);
  });

  it('GET /cves: per CVE and source over the fleet, filtered by urgency and CVE, a page at a time', async () => {
    const r = await viewer.call('GET', '/cves');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.machine, null);
    const row = r.body.cves.find((c: { cve: string }) => c.cve === 'CVE-2024-9143');
    assert.deepEqual([row.source, row.release, row.fixed, row.urgency], ['openssl', 'bookworm', NEW_SSL, 'high']);
    assert.deepEqual(
      [row.machines, row.statuses.upgradable, row.statuses['waiting-at-gate'], row.statuses.unknown, row.installed],
      [4, 2, 1, 1, null],
    );
    assert.equal(r.body.total, 6);
    assert.equal(
      r.body.machinesExposed,
      5,
      'every reported machine but none unexposed (safe-1 has the open libxml2 issue)',
    );
    const high = await viewer.call('GET', '/cves?urgency=high');
    assert.deepEqual(
      high.body.cves.map((c: { cve: string }) => c.cve),
      ['CVE-2024-9143'],
    );
    const one = await viewer.call('GET', '/cves?cve=CVE-2099-1003');
    assert.deepEqual([one.body.total, one.body.cves[0].machines], [1, 2]);
    const p2 = await viewer.call('GET', '/cves?limit=4&page=2');
    assert.deepEqual(
      p2.body.cves.map((c: { cve: string }) => c.cve),
      r.body.cves.slice(4).map((c: { cve: string }) => c.cve),
    );
    const json = await local('cves', '--json');
    assert.deepEqual(JSON.parse(json), { ...r.body, limit: null });
    assert.equal(await remote('cves', '--json'), json);
    assert.equal(await remote('cves', '--urgency', 'high'), await local('cves', '--urgency', 'high'));
  });

  it('GET /cves/:cve: the machines exposed and the fix in the stage ladder; after a promotion, every stage has it', async () => {
    const r = await viewer.call('GET', '/cves/CVE-2024-9143');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.urgency, 'high');
    assert.match(r.body.summary, /elliptic curve/);
    assert.deepEqual(
      r.body.records.map((x: { feed: string; advisory: string | null }) => [x.feed, x.advisory]),
      [
        ['debian-tracker', null],
        ['dsa', 'DSA-5800-1'],
      ],
    );
    assert.deepEqual(
      r.body.machines.map((m: { hostname: string; status: string }) => [m.hostname, m.status]),
      [
        ['lab-1', 'unknown'],
        ['prod-1', 'waiting-at-gate'],
        ['test-1', 'upgradable'],
        ['up-1', 'upgradable'],
      ],
    );
    assert.equal(r.body.total, 4);
    assert.deepEqual(r.body.stages.length, 1);
    const st = r.body.stages[0];
    assert.equal(st.standing, 'fixed in test, pending promotion to production');
    assert.deepEqual(
      st.stages.map((x: { stage: string; fixed: boolean; suites: Array<{ version: string }> }) => [
        x.stage,
        x.fixed,
        x.suites.map((y) => y.version),
      ]),
      [
        ['test', true, [NEW_SSL]],
        ['production', false, [OLD_SSL]],
      ],
    );
    const page = await viewer.call('GET', '/cves/CVE-2024-9143?limit=2&page=2');
    assert.deepEqual(
      page.body.machines.map((m: { hostname: string }) => m.hostname),
      ['test-1', 'up-1'],
    );
    const human = await local('cves', '--cve', 'CVE-2024-9143');
    assert.match(
      human,
      /^gate \(openssl 3\.0\.15-1~deb12u1, bookworm\): fixed in test, pending promotion to production$/m,
    );
    assert.match(human, /^machines exposed: 4 \(2 upgradable, 1 waiting-at-gate, 1 unknown\)$/m);
    assert.equal(await remote('cves', '--cve', 'CVE-2024-9143'), human);
    assert.equal(
      await remote('cves', '--cve', 'CVE-2024-9143', '--json'),
      await local('cves', '--cve', 'CVE-2024-9143', '--json'),
    );

    // promoted (forced: no test machine vouches): production has the fix, prod-1 can upgrade
    await server.services.gate.promote('test', { force: true, reason: 'openssl security fix', actor: 'test' });
    const after = await viewer.call('GET', '/cves/CVE-2024-9143');
    assert.equal(after.body.stages[0].standing, 'fixed in every stage (test, production)');
    assert.equal(after.body.machines.find((m: { hostname: string }) => m.hostname === 'prod-1').status, 'upgradable');
    const p = await viewer.call('GET', `/machines/${prod.id}`);
    assert.equal(statusOf(p.body)['CVE-2024-9143'], 'upgradable');
  });

  it('bad input: an unknown machine or CVE is NOT_FOUND, a bad CVE id or urgency USAGE; a viewer may ask, nobody unauthenticated; nothing changes', async () => {
    const audits = server.services.audit.query({ limit: 1000 }).length;
    const machines = (await viewer.call('GET', '/machines')).body;
    assertError(await viewer.call('GET', '/cves?machine=nope'), 404, 'NOT_FOUND');
    assertError(await viewer.call('GET', '/cves/CVE-2099-9999'), 404, 'NOT_FOUND');
    assertError(await viewer.call('GET', '/cves/not-a-cve'), 400, 'USAGE');
    assertError(await viewer.call('GET', `/cves?cve=${encodeURIComponent('CVE-1; DROP')}`), 400, 'USAGE');
    assertError(await viewer.call('GET', '/cves?urgency=extreme'), 400, 'USAGE');
    assertError(await anonymous(server.url).call('GET', '/cves'), 401, 'UNAUTHENTICATED');
    assert.equal((await bearer(server.url, viewerToken).call('GET', '/cves')).status, 200);
    for (const args of [
      ['cves', '--urgency', 'extreme'],
      ['cves', '--cve', 'CVE-12'],
      ['cves', '--machine', 'nope'],
    ]) {
      const code = args[1] === '--machine' ? 'NOT_FOUND' : 'USAGE';
      await assert.rejects(local(...args), (e: unknown) => isAptgateError(e, code), args.join(' '));
      await assert.rejects(remote(...args), (e: unknown) => isAptgateError(e, code), args.join(' '));
    }
    assert.equal(server.services.audit.query({ limit: 1000 }).length, audits);
    assert.deepEqual((await viewer.call('GET', '/machines')).body, machines);
  });
});

describe('issue 17: exposures, the pure part', () => {
  const rec = (o: Partial<AdvisoryRecord>): AdvisoryRecord => ({
    origin: 'debian-tracker',
    advisory: null,
    cve: 'CVE-2099-0001',
    source: 'openssl',
    release: 'bookworm',
    pro: false,
    fixedVersion: null,
    status: 'open',
    urgency: 'unknown',
    published: null,
    summary: null,
    ...o,
  });
  const entry = (o: Partial<OutdatedEntry>): OutdatedEntry =>
    ({ package: 'openssl', source: 'openssl', sourceVersion: NEW_SSL, action: 'upgrade', ...o }) as OutdatedEntry;

  it('the feeds merged per CVE: a fixed version wins over open, the highest fixed version and urgency; not-affected says nothing', () => {
    const issues = issuesOf([
      rec({ urgency: 'low' }),
      rec({ origin: 'dsa', advisory: 'DSA-1-1', status: 'fixed', fixedVersion: '3.0.14-1' }),
      rec({ origin: 'dla', advisory: 'DLA-2-1', status: 'fixed', fixedVersion: NEW_SSL, urgency: 'high' }),
      rec({ cve: 'CVE-2099-0002', status: 'not-affected' }),
      rec({ cve: null, advisory: 'DSA-3-1', status: 'fixed', fixedVersion: '9' }),
    ]);
    assert.deepEqual(issues, [
      {
        cve: 'CVE-2099-0001',
        source: 'openssl',
        fixed: NEW_SSL,
        urgency: 'high',
        advisories: ['DLA-2-1', 'DSA-1-1'],
      },
    ]);
    assert.equal(isExposed(issues[0]!, OLD_SSL), true);
    assert.equal(isExposed(issues[0]!, NEW_SSL), false);
    assert.equal(isExposed({ ...issues[0]!, fixed: null }, '99'), true, 'open: every version');
  });

  it('the lowest installed source version counts; every binary of the source is listed', () => {
    const s = installedSources(
      parseStatus(
        `Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${NEW_SSL}\n\n` +
          `Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: ${OLD_SSL}\n\n` +
          'Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nSource: openssl\nVersion: 1.0\n\n',
      ),
    );
    assert.deepEqual([...s.values()], [{ source: 'openssl', version: OLD_SSL, packages: ['libssl3', 'openssl'] }]);
  });

  it('where the fix stands: the worst binary wins; upstream only behind the gate; unknown when the server cannot tell', () => {
    const [issue] = issuesOf([rec({ status: 'fixed', fixedVersion: NEW_SSL })]);
    const of = (entries: OutdatedEntry[] | null, upstream?: OutdatedEntry[] | null) =>
      fixStatus(issue!, {
        entries: entries && bySource(entries),
        ...(upstream === undefined ? {} : { upstream: upstream && bySource(upstream) }),
      }).status;
    assert.equal(of([entry({}), entry({ package: 'libssl3', action: 'phased' })]), 'upgradable');
    assert.equal(of([entry({}), entry({ package: 'libssl3', action: 'kept-back' })]), 'kept-back');
    assert.equal(of([entry({ action: 'kept-back' }), entry({ package: 'libssl3', action: 'held' })]), 'held');
    assert.equal(of([entry({ sourceVersion: '3.0.14-1' })]), 'not-available', 'a candidate short of the fix');
    assert.equal(of([], [entry({})]), 'waiting-at-gate');
    assert.equal(of([], null), 'unknown', 'upstream of the stage not indexed yet');
    assert.equal(of(null), 'unknown');
    assert.equal(fixStatus({ ...issue!, fixed: null }, { entries: null }).status, 'not-fixed');
  });
});
