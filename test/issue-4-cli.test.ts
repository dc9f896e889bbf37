// Issue 4: the administrator's fleet commands (token, machines, packages, classes, jobs,
// schedules, push) against a real database; machines enrol and report through the real Fleet.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { CollectedExtras } from '../src/agent/types.js';
import { openFleet, type FleetContext } from '../src/cli/fleet-context.js';
import { buildProgram } from '../src/cli/program.js';
import { loadConfig } from '../src/config.js';
import { isAptgateError, type ErrorCode } from '../src/errors.js';
import type { MachineFacts } from '../src/fleet/enrolment.js';
import { packagesText } from '../src/index/profile-record.js';
import { parseStatus } from '../src/index/status.js';
import { openDb } from '../src/state/db.js';
import { indexSecuritySuite as indexSecurity } from './helpers/fleet-api.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

let dir: string;
let db: string;

async function cli(...args: string[]): Promise<string> {
  let text = '';
  const program = buildProgram((s) => {
    text += s;
  });
  program.exitOverride();
  await program.parseAsync(['node', 'aptgate', ...args, '--db', db]);
  return text;
}
const json = async <T = Record<string, unknown>>(...args: string[]): Promise<T> =>
  JSON.parse(await cli(...args, '--json')) as T;

async function fails(code: ErrorCode, ...args: string[]): Promise<void> {
  await assert.rejects(
    cli(...args),
    (err: unknown) => isAptgateError(err, code) || assert.fail(`expected ${code}, got ${String(err)}`),
  );
}

const openCtx = () => openFleet(loadConfig({ env: {}, overrides: { db } }));
function withCtx<T>(fn: (ctx: FleetContext) => T): T {
  const ctx = openCtx();
  try {
    return fn(ctx);
  } finally {
    ctx.close();
  }
}

let seq = 0;
const facts = (hostname: string): MachineFacts => ({
  hostname,
  machineId: (++seq).toString(16).padStart(32, 'a'),
  architecture: 'amd64',
  foreignArchitectures: [],
  distribution: 'Debian',
  codename: 'bookworm',
  kernel: '6.1.0-28-amd64',
  agentVersion: '0.1.0',
});

/** Enrols through the real Fleet with a fresh token (auto-approving unless told otherwise). */
function enrol(hostname: string, autoApprove = true): { id: number; machineId: string } {
  return withCtx((ctx) => {
    const f = facts(hostname);
    return {
      id: ctx.fleet.enrol(ctx.fleet.enrolment.createToken({ autoApprove }).token, f).machine,
      machineId: f.machineId,
    };
  });
}

const sources = (uri: string, suite: string) => `Types: deb\nURIs: ${uri}\nSuites: ${suite}\nComponents: main\n`;

/** A report through Fleet.report: openssl at `version`; sources through this server unless `foreign`. */
async function report(
  m: { id: number; machineId: string },
  version: string,
  o: { foreign?: boolean; reboot?: boolean } = {},
): Promise<void> {
  const status = (name: string, v: string) =>
    `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${v}\n\n`;
  const p = packagesText(parseStatus(status('openssl', version) + status('bash', '5.2.15-2+b7')));
  const upgradable = (name: string, installed: string, candidate: string, security: boolean) => ({
    package: name,
    architecture: 'amd64',
    installed,
    candidate,
    security,
  });
  const extras: CollectedExtras = {
    holds: ['bash:amd64'],
    preferences: [],
    dpkg: { audit: '', interrupted: false },
    sources: [
      {
        path: '/etc/apt/sources.list.d/debian.sources',
        content: o.foreign
          ? sources('http://apt.example.org/vendor', 'stable')
          : sources('http://deb.debian.org/debian-security', 'bookworm-security'),
      },
    ],
    aptUpgradable: [
      upgradable('openssl', version, '3.0.17-1~deb12u2', true),
      upgradable('bash', '5.2.15-2+b7', '5.2.15-2+b8', false),
    ],
    reboot: { required: o.reboot === true, packages: o.reboot ? ['linux-image-6.1.0-29-amd64'] : [] },
  };
  const ctx = openCtx();
  try {
    await ctx.fleet.report(m.id, {
      machineId: m.machineId,
      state: `state-${m.id}-${version}`,
      packages: { hash: p.hash, full: gzipSync(p.text) },
      extras,
    });
    await new Promise((r) => setTimeout(r, 50)); // the cross-check with the machine's apt runs after the answer
  } finally {
    ctx.close();
  }
}

/** bookworm-security with openssl 3.0.17-1~deb12u2 in the package index (real stores, no server). */
function indexSecuritySuite(): void {
  withCtx((ctx) => indexSecurity(ctx.services));
}

describe('issue 4: the fleet CLI', () => {
  let web1: { id: number; machineId: string }, web2: typeof web1, lab: typeof web1;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-cli4-'));
    db = path.join(dir, 'aptgate.db');
    openDb(db).close(); // what the server's first start does: administrative commands never create it
    web1 = enrol('web-1.example.org');
    web2 = enrol('web-2.example.org');
    lab = enrol('lab-1');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('token create/list/revoke: shown once, listed without the token, states', async () => {
    const t = await json<Record<string, unknown>>(
      'token',
      'create',
      '--expires',
      '7d',
      '--uses',
      '2',
      '--note',
      'lab machines',
      '--enrol-url',
      'http://aptgate.example:3142',
    );
    assert.deepEqual(
      Object.keys(t).sort(),
      [
        'autoApprove',
        'class',
        'createdAt',
        'enrolCommand',
        'expiresAt',
        'id',
        'maxUses',
        'note',
        'state',
        'token',
        'uses',
      ].sort(),
    );
    assert.match(t['token'] as string, /^agt_[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(t['enrolCommand'], [
      'aptgate-agent',
      'enrol',
      '--server',
      'http://aptgate.example:3142',
      '--token',
      t['token'],
    ]);
    assert.equal(t['state'], 'valid');
    assert.ok(Date.parse(t['expiresAt'] as string) > Date.now() + 6 * 86_400_000);
    const human = await cli('token', 'create', '--enrol-url', 'http://aptgate.example:3142');
    assert.match(human, /^ {2}aptgate-agent enrol --server http:\/\/aptgate\.example:3142 --token agt_\S+$/m);

    const list = await json<{ tokens: Array<Record<string, unknown>> }>('token', 'list');
    const mine = list.tokens.find((x) => x['id'] === t['id'])!;
    assert.deepEqual(
      Object.keys(mine).sort(),
      ['autoApprove', 'class', 'createdAt', 'expiresAt', 'id', 'maxUses', 'note', 'state', 'uses'].sort(),
    );
    assert.ok(!JSON.stringify(list).includes(t['token'] as string), 'token list never shows a token');
    assert.ok(!(await cli('token', 'list')).includes('agt_'));
    // the tokens made by enrol() were used once each
    assert.ok(list.tokens.some((x) => x['uses'] === 1));

    await cli('token', 'revoke', String(t['id']));
    const after = await json<{ tokens: Array<Record<string, unknown>> }>('token', 'list');
    assert.equal(after.tokens.find((x) => x['id'] === t['id'])!['state'], 'revoked');
    await fails('USAGE', 'token', 'revoke', String(t['id']));
    await fails('NOT_FOUND', 'token', 'revoke', '9999');
    await fails('NOT_FOUND', 'token', 'create', '--class', 'no-such-class');
    await fails('USAGE', 'token', 'create', '--expires', 'soon');
    // used up: one use allowed, one enrolment made
    const once = await json<{ id: number; token: string }>('token', 'create', '--uses', '1', '--auto-approve');
    withCtx((ctx) => ctx.fleet.enrol(once.token, facts('once-1')));
    const states = await json<{ tokens: Array<{ id: number; state: string }> }>('token', 'list');
    assert.equal(states.tokens.find((x) => x.id === once.id)!.state, 'used up');
  });

  it('machines: a pending machine is listed, approved by hostname; list and show JSON', async () => {
    const pending = enrol('db-1', false).id;
    const p = await json<{ machines: Array<Record<string, unknown>> }>('machines', 'list', '--pending');
    assert.deepEqual(
      p.machines.map((m) => m['hostname']),
      ['db-1'],
    );
    assert.deepEqual(
      Object.keys(p.machines[0]!).sort(),
      [
        'architecture',
        'classes',
        'clone',
        'codename',
        'disagreements',
        'hostname',
        'id',
        'lastSeen',
        'openJobs',
        'outdated',
        'parentId',
        'pullNow',
        'rebootRequired',
        'reenrolment',
        'reportedAt',
        'security',
        'status',
      ].sort(),
    );
    assert.equal(p.machines[0]!['status'], 'pending');
    assert.equal(p.machines[0]!['outdated'], null, 'no report: unknown, not 0');
    assert.match(await cli('machines', 'list'), /pending approval: aptgate machines approve/);
    assert.match(await cli('machines', 'approve', 'db-1'), /db-1 \(machine \d+\): approved/);
    assert.match(await cli('machines', 'approve', String(pending)), /was approved already/);
    assert.equal((await json<{ machines: unknown[] }>('machines', 'list', '--pending')).machines.length, 0);
    await fails('NOT_FOUND', 'machines', 'approve', 'no-such-host');

    // a clone: another machine-id used web-2's identity
    withCtx((ctx) => assert.throws(() => ctx.fleet.auth.identify(web2.id, 'f'.repeat(32))));
    assert.match(await cli('machines', 'list'), /^\d+\s+web-2\.example\.org\s+approved CLONE\?/m);

    const show = await json<Record<string, Record<string, unknown> | unknown[] | null>>(
      'machines',
      'show',
      'web-1.example.org',
    );
    assert.deepEqual(
      Object.keys(show).sort(),
      ['classes', 'exposures', 'jobs', 'machine', 'outdated', 'report'].sort(),
    );
    assert.equal((show['machine'] as Record<string, unknown>)['machineId'], web1.machineId);
    assert.equal(show['report'], null);
    assert.deepEqual(show['outdated'], { known: false, reason: 'no report yet', counts: null, packages: [] });
    assert.deepEqual(
      [
        (show['exposures'] as Record<string, unknown>)['known'],
        (show['exposures'] as Record<string, unknown>)['reason'],
      ],
      [false, 'no report yet'],
    );
    await fails('NOT_FOUND', 'machines', 'show', '9999');
  });

  it('reports: outdated and security counts, disagreements shown, unknown without a snapshot (no crash)', async () => {
    await report(web1, '3.0.11-1~deb12u2', { reboot: true });
    // no snapshot of bookworm-security yet: unknown, and the list still works
    const before = await json<{ machines: Array<Record<string, unknown>> }>('machines', 'list');
    assert.equal(before.machines.find((m) => m['id'] === web1.id)!['outdated'], null);
    assert.match(
      (await json<{ reason: string }>('machines', 'outdated', String(web1.id))).reason,
      /no snapshot of debian-security\/bookworm-security/,
    );

    indexSecuritySuite();
    await report(web2, '3.0.16-1~deb12u1');
    await report(lab, '3.0.11-1~deb12u2', { foreign: true });
    await report(web1, '3.0.11-1~deb12u2', { reboot: true });
    const list = await json<{ machines: Array<Record<string, unknown>> }>('machines', 'list');
    const w1 = list.machines.find((m) => m['id'] === web1.id)!;
    assert.equal(w1['outdated'], 1);
    assert.equal(w1['security'], 1);
    assert.equal(w1['rebootRequired'], true);
    // the machine's apt also wanted bash (not in our index): a disagreement, counted
    assert.equal(w1['disagreements'], 1);
    assert.equal(list.machines.find((m) => m['id'] === lab.id)!['outdated'], null);
    const table = await cli('machines', 'list');
    assert.match(
      table,
      /^ID\s+HOSTNAME\s+STATUS\s+ARCH\s+CODENAME\s+LAST SEEN\s+OUTDATED\s+SECURITY\s+REBOOT\s+JOBS$/m,
    );
    assert.match(
      table,
      new RegExp(
        `^${web1.id}\\s+web-1\\.example\\.org\\s+approved\\s+amd64\\s+bookworm\\s+(never|just now|\\d+[mhd] ago)\\s+1\\s+1\\s+yes\\s+0$`,
        'm',
      ),
    );
    assert.match(table, /disagree on web-1\.example\.org \(1\)/);

    const show = await json<{
      report: Record<string, unknown>;
      outdated: { known: boolean; packages: Array<Record<string, unknown>> };
    }>('machines', 'show', 'web-1.example.org');
    assert.deepEqual(show.report['holds'], ['bash:amd64']);
    assert.deepEqual(show.report['sources'], ['/etc/apt/sources.list.d/debian.sources']);
    assert.deepEqual((show.report['disagreements'] as Record<string, unknown>)['onlyApt'], ['bash 5.2.15-2+b8']);
    assert.deepEqual(show.outdated.packages, [
      {
        package: 'openssl',
        architecture: 'amd64',
        installed: '3.0.11-1~deb12u2',
        candidate: '3.0.17-1~deb12u2',
        security: true,
        action: 'upgrade',
      },
    ]);
    const human = await cli('machines', 'show', 'web-1.example.org');
    assert.match(
      human,
      /^ {2}server vs apt {2}DIFFER on 1 package: the server finds 1 outdated, the machine's apt 2; 1 the same$/m,
    );
    assert.match(human, /^ {4}only the machine's apt \(1\):\n {6}bash:amd64 5\.2\.15-2\+b7 → 5\.2\.15-2\+b8$/m);
    const c = show.report['comparison'] as {
      onlyApt: unknown[];
      onlyServer: unknown[];
      different: unknown[];
      causes: string[];
    };
    assert.deepEqual(c.onlyApt, [
      { package: 'bash', architecture: 'amd64', installed: '5.2.15-2+b7', candidate: '5.2.15-2+b8' },
    ]);
    assert.deepEqual([c.onlyServer, c.different, c.causes], [[], [], []], 'nothing the server could show the cause of');
    assert.match(human, /openssl\s+amd64\s+3\.0\.11-1~deb12u2\s+→\s+3\.0\.17-1~deb12u2\s+security/);
    const o = await json<{ format: number; known: boolean; packages: Array<Record<string, unknown>> }>(
      'machines',
      'outdated',
      'web-1.example.org',
    );
    assert.equal(o.format, 1);
    assert.equal(o.packages[0]!['candidateVersion'], '3.0.17-1~deb12u2');
  });

  it('packages NAME --older-than: who runs what, dpkg order, security; bad input coded', async () => {
    const all = await json<{ machines: Array<Record<string, unknown>>; counts: Record<string, number> }>(
      'packages',
      'openssl',
    );
    assert.deepEqual(all.machines.map((m) => m['hostname']).sort(), [
      'lab-1',
      'web-1.example.org',
      'web-2.example.org',
    ]);
    assert.deepEqual(
      Object.keys(all.machines[0]!).sort(),
      ['candidate', 'hostname', 'id', 'instance', 'outdatedKnown', 'security', 'version'].sort(),
    );
    const old = await json<{
      package: string;
      olderThan: string;
      machines: Array<Record<string, unknown>>;
      counts: Record<string, number>;
    }>('packages', 'openssl', '--older-than', '3.0.15');
    assert.deepEqual(old.machines.map((m) => m['hostname']).sort(), ['lab-1', 'web-1.example.org']);
    assert.deepEqual(old.counts, { machines: 2, outdated: 1, security: 1 });
    const w1 = old.machines.find((m) => m['hostname'] === 'web-1.example.org')!;
    assert.deepEqual(w1, {
      id: web1.id,
      hostname: 'web-1.example.org',
      instance: 'openssl:amd64',
      version: '3.0.11-1~deb12u2',
      candidate: '3.0.17-1~deb12u2',
      security: true,
      outdatedKnown: true,
    });
    assert.equal(old.machines.find((m) => m['hostname'] === 'lab-1')!['outdatedKnown'], false);
    assert.match(
      await cli('packages', 'openssl', '--older-than', '3.0.15'),
      /^2 machines run openssl older than 3\.0\.15 \(1 with a security update\)$/m,
    );
    // dpkg order, not string order: 3.0.16-1~deb12u1 < 3.0.16-1
    assert.equal(
      (await json<{ counts: Record<string, number> }>('packages', 'openssl', '--older-than', '3.0.16-1')).counts[
        'machines'
      ],
      3,
    );
    await fails('USAGE', 'packages', 'OpenSSL');
    await fails('VERSION_INVALID', 'packages', 'openssl', '--older-than', '1:');
    await fails('VERSION_INVALID', 'packages', 'openssl', '--older-than', 'a b');
  });

  it('classes: a hostname-glob rule catches machines; members, windows, errors', async () => {
    await cli('classes', 'create', 'web', '--priority', '10', '--description', 'web servers');
    await cli('classes', 'rule-add', 'web', 'hostname', 'web-*');
    await cli('classes', 'create', 'lab');
    await cli('classes', 'add', 'lab', 'lab-1');
    const w = await json<{ id: number; window: string }>('classes', 'window-add', 'web', 'mon-fri 22:00-04:00');
    await fails('USAGE', 'classes', 'window-add', 'web', 'weekdays 22:00');
    await fails('USAGE', 'classes', 'window-add', 'web', 'mon-fri 25:00-04:00');
    await fails('USAGE', 'classes', 'window-add', 'web', 'mon-fri 22:00-22:00');
    await fails('NOT_FOUND', 'classes', 'window-add', 'nope', 'daily 01:00-05:00');
    await fails('USAGE', 'classes', 'create', 'Web Servers');
    await fails('USAGE', 'classes', 'create', 'web');
    await fails('USAGE', 'classes', 'rule-add', 'web', 'kernel', '6.*');
    const list = await json<{ classes: Array<Record<string, unknown>> }>('classes', 'list');
    const web = list.classes.find((c) => c['name'] === 'web')!;
    assert.deepEqual(Object.keys(web).sort(), [
      'description',
      'gate',
      'memberCount',
      'name',
      'priority',
      'rules',
      'schedules',
      'stage',
      'windows',
    ]);
    // the list counts members; classes show lists them, a page at a time
    assert.equal(web['memberCount'], 2);
    const shown = await json<{ members: Array<{ hostname: string }>; memberCount: number }>('classes', 'show', 'web');
    assert.deepEqual(
      shown.members.map((m) => m.hostname),
      ['web-1.example.org', 'web-2.example.org'],
    );
    const page2 = await json<{ members: Array<{ hostname: string }> }>(
      'classes',
      'show',
      'web',
      '--limit',
      '1',
      '--page',
      '2',
    );
    assert.deepEqual(
      page2.members.map((m) => m.hostname),
      ['web-2.example.org'],
    );
    assert.match(
      await cli('classes', 'show', 'web', '--limit', '1'),
      /2 machines; 1-1 below \(next: --page 2\)\n\s+\d+\s+web-1\.example\.org\n$/,
    );
    await fails('USAGE', 'classes', 'show', 'web', '--limit', '1001');
    await fails('NOT_FOUND', 'classes', 'show', 'nope');
    assert.deepEqual(web['rules'], [{ field: 'hostname', pattern: 'web-*' }]);
    assert.deepEqual(web['windows'], [{ id: w.id, window: w.window }]);
    assert.deepEqual((await json<{ classes: string[] }>('machines', 'show', 'web-2.example.org')).classes, ['web']);
    assert.equal((await json<{ machines: unknown[] }>('machines', 'list', '--class', 'web')).machines.length, 2);
    assert.match(await cli('classes', 'list'), /^web\s+10\s+2\s+hostname=web-\*/m);
    // removing a rule-matched machine explicitly: it stays by rule, and the output says so
    assert.match(
      await cli('classes', 'remove', 'web', 'web-1.example.org'),
      /not an explicit member \(a rule of the class still matches it\)/,
    );
    await cli('classes', 'window-remove', String(w.id));
    await fails('NOT_FOUND', 'classes', 'window-remove', String(w.id));
    await fails('NOT_FOUND', 'classes', 'rule-remove', 'web', 'hostname', 'db-*');
  });

  it('jobs: add to a class makes one job per member; list, show, cancel', async () => {
    const added = await json<{ kind: string; jobs: Array<{ id: number; machine: { id: number; hostname: string } }> }>(
      'jobs',
      'add',
      'upgrade',
      '--to',
      'web',
      '--security-only',
      '--deadline',
      '2d',
      '--allow-reboot',
    );
    assert.equal(added.jobs.length, 2);
    assert.deepEqual(added.jobs.map((j) => j.machine.id).sort(), [web1.id, web2.id].sort());
    const one = await json<{ jobs: Array<{ id: number }> }>(
      'jobs',
      'add',
      'install',
      '--to',
      'lab-1',
      String(web1.id),
      '--packages',
      'htop',
      'curl=7.88.1-10+deb12u8',
    );
    assert.equal(one.jobs.length, 2);
    await fails('USAGE', 'jobs', 'add', 'install', '--to', 'web', '--packages', 'Bad Name');
    await fails('USAGE', 'jobs', 'add', 'upgrade', '--to', 'web', '--packages', 'htop');
    await fails('USAGE', 'jobs', 'add', 'frobnicate', '--to', 'web');
    await fails('USAGE', 'jobs', 'add', 'update', '--to', 'web', '--not-before', 'tomorrow');
    await fails('NOT_FOUND', 'jobs', 'add', 'update', '--to', 'no-such-host');

    const list = await json<{ jobs: Array<Record<string, unknown>> }>('jobs', 'list', '--machine', 'web-1.example.org');
    assert.equal(list.jobs.length, 2);
    const j = list.jobs.find((x) => x['kind'] === 'upgrade')!;
    assert.deepEqual(
      Object.keys(j).sort(),
      [
        'attempts',
        'createdAt',
        'deadline',
        'deliveredAt',
        'durationMs',
        'exitCode',
        'failure',
        'finishedAt',
        'id',
        'kind',
        'machine',
        'maxAttempts',
        'notBefore',
        'origin',
        'params',
        'policy',
        'startedAt',
        'state',
        'summary',
      ].sort(),
    );
    assert.equal(j['origin'], 'cli');
    assert.equal(j['state'], 'queued');
    assert.deepEqual(j['params'], { securityOnly: true });
    assert.equal((j['policy'] as Record<string, unknown>)['allowReboot'], true);
    assert.ok(Math.abs(Date.parse(j['deadline'] as string) - Date.now() - 2 * 86_400_000) < 60_000);

    // the machine runs it: delivered, started, finished with a transcript
    const jobId = j['id'] as number;
    withCtx((ctx) => {
      assert.equal(ctx.fleet.jobs.next(ctx.fleet.machines.byId(web1.id)!)!.id, jobId);
      ctx.fleet.jobs.started(web1.id, jobId);
      ctx.fleet.jobs.finished(web1.id, jobId, {
        exitCode: 0,
        durationMs: 4200,
        failure: null,
        summary: '1 upgraded',
        transcript: '$ apt-get upgrade\n1 upgraded, 0 newly installed\n',
      });
    });
    const shown = await json<Record<string, unknown>>('jobs', 'show', String(jobId));
    assert.equal(shown['state'], 'succeeded');
    assert.match(shown['transcript'] as string, /1 upgraded, 0 newly installed/);
    assert.match(await cli('jobs', 'show', String(jobId)), /^transcript:\n\$ apt-get upgrade$/m);
    await fails('USAGE', 'jobs', 'cancel', String(jobId));

    const other = added.jobs.find((x) => x.id !== jobId)!.id;
    assert.equal((await json<{ state: string }>('jobs', 'cancel', String(other))).state, 'cancelled');
    assert.deepEqual(
      (await json<{ jobs: Array<{ id: number }> }>('jobs', 'list', '--state', 'cancelled')).jobs.map((x) => x.id),
      [other],
    );
    await fails('USAGE', 'jobs', 'list', '--state', 'done');
    await fails('NOT_FOUND', 'jobs', 'show', '99999');
    assert.match(await cli('jobs', 'list'), /^ID\s+MACHINE\s+KIND\s+STATE/m);
  });

  it('schedules: add, list, remove; a bad cron is a USAGE error', async () => {
    const s = await json<Record<string, unknown>>(
      'schedules',
      'add',
      '--class',
      'web',
      '--kind',
      'upgrade',
      '--cron',
      '0 2 * * *',
      '--security-only',
      '--deadline',
      '1d',
    );
    assert.deepEqual(
      Object.keys(s).sort(),
      ['class', 'cron', 'deadlineS', 'id', 'kind', 'lastFired', 'nextAt', 'params', 'policy'].sort(),
    );
    assert.equal(s['deadlineS'], 86_400);
    assert.equal(new Date(s['nextAt'] as string).getHours(), 2);
    await fails('USAGE', 'schedules', 'add', '--class', 'web', '--kind', 'upgrade', '--cron', '0 2 * *');
    await fails('USAGE', 'schedules', 'add', '--class', 'web', '--kind', 'upgrade', '--cron', '61 2 * * *');
    // as a shell or a script sees it: the code on stderr, exit status 1
    const bad = await exec(
      process.execPath,
      [
        path.join(projectRoot, 'dist', 'src', 'cli', 'main.js'),
        'schedules',
        'add',
        '--class',
        'web',
        '--kind',
        'upgrade',
        '--cron',
        'every night',
        '--db',
        db,
      ],
      { timeoutMs: 60_000 },
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr.toString(), /^aptgate: USAGE: /);
    await fails('NOT_FOUND', 'schedules', 'add', '--class', 'nope', '--kind', 'update', '--cron', '0 2 * * *');
    const list = await json<{ schedules: Array<{ id: number; class: string }> }>('schedules', 'list');
    assert.deepEqual(
      list.schedules.map((x) => x.class),
      ['web'],
    );
    assert.deepEqual(
      (await json<{ classes: Array<{ name: string; schedules: unknown[] }> }>('classes', 'list')).classes.find(
        (c) => c.name === 'web',
      )!.schedules,
      [{ id: s['id'], kind: 'upgrade', cron: '0 2 * * *' }],
    );
    await cli('schedules', 'remove', String(s['id']));
    await fails('NOT_FOUND', 'schedules', 'remove', String(s['id']));
  });

  it('push: pull-now flags, ssh through an argument vector, answered/failed/unreachable', async () => {
    const bin = path.join(dir, 'fake-ssh');
    const logs = path.join(dir, 'ssh-logs');
    await rm(logs, { recursive: true, force: true });
    await writeFile(
      bin,
      `#!/bin/sh
mkdir -p '${logs}'
for a in "$@"; do printf '%s\\n' "$a"; done > '${logs}'/argv.$$
case "$*" in
  *root@web-1.example.org*) echo "approved; report: full; jobs: none"; exit 0 ;;
  *root@web-2.example.org*) echo "E: dpkg was interrupted" >&2; exit 1 ;;
  *) echo "ssh: connect to host lab-1 port 22: No route to host" >&2; exit 255 ;;
esac
`,
    );
    await chmod(bin, 0o755);
    const evil = `SetEnv=X=$(touch ${path.join(dir, 'pwned')}); echo`;
    const r = await json<{
      pullNow: Array<{ id: number }>;
      results: Array<Record<string, unknown>>;
      counts: Record<string, number>;
      ssh: boolean;
    }>(
      'push',
      'web',
      'lab-1',
      '--ssh-command',
      bin,
      '--ssh-option',
      'StrictHostKeyChecking=accept-new',
      '--ssh-option',
      evil,
      '--parallel',
      '2',
    );
    assert.deepEqual(r.counts, { answered: 1, failed: 1, unreachable: 1 });
    assert.deepEqual(r.pullNow.map((m) => m.id).sort(), [web1.id, web2.id, lab.id].sort());
    const byHost = new Map(r.results.map((x) => [x['hostname'], x]));
    assert.equal(byHost.get('web-1.example.org')!['outcome'], 'answered');
    assert.equal(byHost.get('web-1.example.org')!['lastStdout'], 'approved; report: full; jobs: none');
    assert.equal(byHost.get('web-2.example.org')!['exitCode'], 1);
    assert.equal(byHost.get('web-2.example.org')!['lastStderr'], 'E: dpkg was interrupted');
    assert.equal(byHost.get('lab-1')!['outcome'], 'unreachable');
    withCtx((ctx) => {
      for (const id of [web1.id, web2.id, lab.id]) assert.equal(ctx.fleet.machines.byId(id)!.pullNow, true);
    });

    const argvs = await Promise.all(
      (await readdir(logs)).map(async (f) => (await readFile(path.join(logs, f), 'utf8')).trimEnd().split('\n')),
    );
    assert.equal(argvs.length, 3);
    const lab1 = argvs.find((a) => a.includes('root@lab-1'))!;
    assert.deepEqual(lab1, [
      '-o',
      'StrictHostKeyChecking=accept-new',
      '-o',
      evil,
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=10',
      'root@lab-1',
      'aptgate-agent',
      'run-once',
    ]);
    assert.ok(!existsSync(path.join(dir, 'pwned')), 'no shell ever saw the options');

    const human = await cli('push', String(web2.id), '--ssh-command', bin);
    assert.match(human, /^ {2}web-2\.example\.org: failed \(exit 1: E: dpkg was interrupted\)/m);
    assert.match(human, /^0 answered, 1 failed, 0 unreachable$/m);
    // --no-ssh: only the flag
    withCtx((ctx) => ctx.fleet.setPullNow([web1.id], false));
    const flag = await json<{ ssh: boolean; results: unknown[]; pullNow: Array<{ id: number }> }>(
      'push',
      'web-1.example.org',
      '--no-ssh',
      '--ssh-command',
      path.join(dir, 'missing'),
    );
    assert.equal(flag.ssh, false);
    assert.deepEqual(flag.results, []);
    withCtx((ctx) => assert.equal(ctx.fleet.machines.byId(web1.id)!.pullNow, true));
    await fails('USAGE', 'push', 'web', '--ssh-option', '-oProxyCommand=x', '--ssh-command', bin);
    await fails('USAGE', 'push', 'web', '--parallel', '0', '--ssh-command', bin);
  });

  it('push: a run past its timeout is killed and counted as failed; hostnames that could be options are refused', async () => {
    const { push, sshArgv } = await import('../src/fleet/push.js');
    const slow = path.join(dir, 'slow-ssh');
    await writeFile(slow, '#!/bin/sh\nsleep 5\n');
    await chmod(slow, 0o755);
    const t0 = Date.now();
    const [r] = await push([{ id: 1, hostname: 'slow-1' }], {
      sshCommand: [slow],
      sshOptions: [],
      parallel: 1,
      timeoutMs: 300,
      killGraceMs: 200,
    });
    assert.equal(r!.outcome, 'failed');
    assert.equal(r!.timedOut, true);
    assert.ok(Date.now() - t0 < 10_000);
    const refused = await push(
      [
        { id: 2, hostname: '-oProxyCommand=touch' },
        { id: 3, hostname: 'a b' },
      ],
      { sshCommand: [slow], sshOptions: [], parallel: 2, timeoutMs: 1000 },
    );
    assert.deepEqual(
      refused.map((x) => [x.outcome, x.exitCode]),
      [
        ['failed', null],
        ['failed', null],
      ],
    );
    assert.throws(
      () => sshArgv({ id: 2, hostname: '-x' }, { sshCommand: ['ssh'], sshOptions: [], parallel: 1, timeoutMs: 1 }),
      (e: unknown) => isAptgateError(e, 'USAGE'),
    );
  });

  it('machines remove: by hostname, with what goes with it', async () => {
    const r = await json<{ machines: Array<{ hostname: string; changed: boolean; jobs: number }> }>(
      'machines',
      'remove',
      'lab-1',
    );
    assert.deepEqual(
      r.machines.map((m) => [m.hostname, m.changed, m.jobs]),
      [['lab-1', true, 1]],
    );
    await fails('NOT_FOUND', 'machines', 'show', 'lab-1');
  });
});
