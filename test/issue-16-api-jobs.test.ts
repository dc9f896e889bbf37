// Issue 16: jobs and schedules through the HTTP API, over a real server on 127.0.0.1 with
// machines enrolled through /RPC2: queueing for machines and classes (the console's body), the
// list's filters and pages, a job's transcript as its agent sent it, cancelling; schedules; the
// role matrix (a viewer changes nothing, refusals audited); bad input (USAGE or NOT_FOUND,
// nothing changed); and the command line against the server (--server, APTGATE_TOKEN) printing
// what it prints on the server host.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertError, type ApiClient } from './helpers/api.js';
import { startApiFleet, type ApiFleet } from './helpers/api-fleet.js';
import type { Enrolled } from './helpers/reports.js';

interface Job {
  id: number;
  machine: { id: number; hostname: string };
  kind: string;
  state: string;
  origin: string;
  params: Record<string, unknown>;
  policy: Record<string, unknown>;
  deadline: string | null;
  notBefore: string | null;
  transcript?: string | null;
}

describe('issue 16: jobs and schedules through the API', () => {
  let f: ApiFleet;
  let web1: Enrolled;
  let web2: Enrolled;
  let db1: Enrolled;
  const jobCount = () => f.server.services.fleet.jobs.list({ limit: 1_000_000 }).length;
  const scheduleCount = () => f.server.services.fleet.schedules.list().length;

  before(async () => {
    f = await startApiFleet('aptgate-i16-jobs-');
    web1 = await f.enrol('web-1');
    web2 = await f.enrol('web-2');
    db1 = await f.enrol('db-1', false); // waiting for approval: its jobs wait too
    const c = await f.operator.call('POST', '/classes', { name: 'web' });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(
      (await f.operator.call('POST', '/classes/web/rules', { field: 'hostname', pattern: 'web-*' })).status,
      200,
    );
  });
  after(async () => {
    await f?.close();
  });

  it('POST /jobs (the console body): one job per machine of a class, machine ids and host names; origin api:USER', async () => {
    const r = await f.operator.call('POST', '/jobs', {
      kind: 'upgrade',
      to: ['web'],
      securityOnly: true,
      allowReboot: true,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.kind, 'upgrade');
    assert.deepEqual(
      r.body.jobs
        .map((j: { machine: { hostname: string }; pending: boolean }) => `${j.machine.hostname} ${j.pending}`)
        .sort(),
      ['web-1 false', 'web-2 false'],
    );
    // the machine page's action bar: the machine's id as text
    const one = await f.operator.call('POST', '/jobs', {
      kind: 'install',
      to: [String(db1.machine), 'web-1'],
      packages: ['htop'],
    });
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.deepEqual(
      one.body.jobs.map((j: { machine: { id: number }; pending: boolean }) => [j.machine.id, j.pending]).sort(),
      [
        [web1.machine, false],
        [db1.machine, true],
      ].sort(),
    );
    const shown = await f.viewer.call('GET', `/jobs/${r.body.jobs[0].id}`);
    assert.equal(shown.status, 200);
    const j = shown.body as Job;
    assert.equal(j.origin, 'api:oscar');
    assert.equal(j.state, 'queued');
    assert.deepEqual(j.params, { securityOnly: true });
    assert.equal(j.policy['allowReboot'], true);
    assert.equal(j.transcript, null);
    // the options of the CLI: a deadline and a not-before date, parsed on the server as the CLI parses them
    const later = await f.admin.call('POST', '/jobs', {
      kind: 'update',
      to: ['web-2'],
      notBefore: '2999-01-01T00:00Z',
      deadline: '2d',
      lockTimeout: 60,
      jobTimeout: '30m',
    });
    assert.equal(later.status, 200, JSON.stringify(later.body));
    const lj = (await f.viewer.call('GET', `/jobs/${later.body.jobs[0].id}`)).body as Job;
    assert.equal(lj.notBefore, '2999-01-01T00:00:00.000Z');
    assert.equal(Date.parse(lj.deadline!), Date.parse('2999-01-01T00:00Z') + 2 * 86_400_000);
    assert.deepEqual([lj.policy['lockTimeout'], lj.policy['timeout']], [60, 1800]);
    assert.equal(lj.origin, 'api:alice');
  });

  it('GET /jobs/ID: the transcript the agent sent through /RPC2; GET /jobs filters by machine and state', async () => {
    const q = await f.operator.call('POST', '/jobs', { kind: 'refresh', to: ['web-2'] });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    const id = q.body.jobs[0].id as number;
    // web-2's older jobs: the not-before one waits, the upgrade is the next one it is given
    for (;;) {
      const next = await f.agentCall<{ jobs: Array<{ id: number }> }>(web2, 'agent.fetchJob', {});
      assert.equal(next.jobs.length, 1, 'web-2 is given its jobs one at a time');
      const jid = next.jobs[0]!.id;
      await f.agentCall(web2, 'agent.jobStarted', { id: jid });
      const transcript = jid === id ? '$ aptgate-agent refresh\nreport sent: 2 packages\n' : 'done\n';
      await f.agentCall(web2, 'agent.jobFinished', {
        id: jid,
        exitCode: jid === id ? 0 : 100,
        durationMs: 1500,
        failure: jid === id ? '' : 'network',
        summary: jid === id ? 'refreshed' : 'could not fetch',
        transcript,
      });
      if (jid === id) break;
    }
    const shown = await f.viewer.call('GET', `/jobs/${id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.state, 'succeeded');
    assert.equal(shown.body.summary, 'refreshed');
    assert.equal(shown.body.transcript, '$ aptgate-agent refresh\nreport sent: 2 packages\n');
    assert.equal(shown.headers.get('content-type'), 'application/json; charset=utf-8');

    const mine = await f.viewer.call('GET', '/jobs?machine=web-2');
    assert.equal(mine.status, 200);
    assert.ok(mine.body.jobs.every((j: Job) => j.machine.hostname === 'web-2'));
    assert.ok(
      mine.body.jobs.every((j: Job) => !('transcript' in j)),
      'a list has no transcripts',
    );
    const byId = await f.viewer.call('GET', `/jobs?machine=${web2.machine}&state=succeeded`);
    assert.deepEqual(
      byId.body.jobs.map((j: Job) => j.id),
      [id],
    );
    const failed = await f.viewer.call('GET', '/jobs?state=failed');
    assert.deepEqual(
      failed.body.jobs.map((j: Job) => `${j.machine.hostname} ${j.state}`),
      ['web-2 failed'],
    );
  });

  it('GET /jobs pages: limit, then before= the last id, until nothing is left; bounds refused', async () => {
    const all = (await f.viewer.call('GET', '/jobs?limit=1000')).body.jobs.map((j: Job) => j.id) as number[];
    assert.ok(all.length >= 6, `${all.length} jobs`);
    assert.deepEqual(
      all,
      [...all].sort((a, b) => b - a),
      'newest first',
    );
    const pages: number[] = [];
    let before: number | undefined;
    for (let n = 0; n < 10; n++) {
      const page = await f.viewer.call('GET', `/jobs?limit=2${before === undefined ? '' : `&before=${before}`}`);
      assert.equal(page.status, 200);
      const ids = page.body.jobs.map((j: Job) => j.id) as number[];
      assert.ok(ids.length <= 2);
      if (!ids.length) break;
      pages.push(...ids);
      before = ids.at(-1);
    }
    assert.deepEqual(pages, all);
    assert.equal((await f.viewer.call('GET', '/jobs')).body.jobs.length, Math.min(100, all.length), 'default limit');
    assertError(await f.viewer.call('GET', '/jobs?limit=0'), 400, 'USAGE');
    assertError(await f.viewer.call('GET', '/jobs?limit=1001'), 400, 'USAGE');
    assertError(await f.viewer.call('GET', '/jobs?before=x'), 400, 'USAGE');
    assertError(await f.viewer.call('GET', '/jobs?state=done'), 400, 'USAGE');
    assertError(await f.viewer.call('GET', '/jobs?machine=no-such-host'), 404, 'NOT_FOUND');
    assertError(await f.viewer.call('GET', '/jobs?colour=red'), 400, 'USAGE');
    assertError(await f.viewer.call('GET', '/jobs/abc'), 400, 'USAGE');
    assertError(await f.viewer.call('GET', '/jobs/99999'), 404, 'NOT_FOUND');
  });

  it('POST /jobs refuses bad input with USAGE or NOT_FOUND and queues nothing', async () => {
    const n = jobCount();
    const bad: Array<[Record<string, unknown>, number, string]> = [
      [{ kind: 'frobnicate', to: ['web'] }, 400, 'USAGE'],
      [{ kind: 'update', to: [] }, 400, 'USAGE'],
      [{ kind: 'update' }, 400, 'USAGE'],
      [{ to: ['web'] }, 400, 'USAGE'],
      [{ kind: 'update', to: [{ id: 1 }] }, 400, 'USAGE'],
      [{ kind: 'update', to: ['web'], colour: 'red' }, 400, 'USAGE'],
      [{ kind: 'update', to: ['no-such-host'] }, 404, 'NOT_FOUND'],
      [{ kind: 'update', to: ['web-1', 'no-such-host'] }, 404, 'NOT_FOUND'],
      [{ kind: 'upgrade', to: ['web'], packages: ['htop'] }, 400, 'USAGE'],
      [{ kind: 'install', to: ['web'], packages: ['Bad Name'] }, 400, 'USAGE'],
      [{ kind: 'install', to: ['web'] }, 400, 'USAGE'],
      [{ kind: 'update', to: ['web'], securityOnly: true }, 400, 'USAGE'],
      [{ kind: 'update', to: ['web'], notBefore: 'tomorrow' }, 400, 'USAGE'],
      [{ kind: 'update', to: ['web'], deadline: 'soon' }, 400, 'USAGE'],
      [{ kind: 'update', to: ['web'], jobTimeout: '1s' }, 400, 'USAGE'],
      [{ kind: 'update', to: ['web'], lockTimeout: -1 }, 400, 'USAGE'],
      [{ kind: 'release-upgrade', to: ['web'], codename: 'Trixie!' }, 400, 'USAGE'],
      // the server is sent the text of a .sources file, never a path to read
      [{ kind: 'add-source', to: ['web'], sourceName: 'x', sourceFile: '/etc/passwd' }, 400, 'USAGE'],
      [{ kind: 'add-source', to: ['web'], sourceName: 'x', sourceContent: 'root:x:0:0' }, 400, 'USAGE'],
    ];
    for (const [body, status, code] of bad) assertError(await f.operator.call('POST', '/jobs', body), status, code);
    assertError(await f.operator.call('POST', '/jobs', '{"kind": "update", "to": ['), 400, 'BAD_REQUEST');
    assert.equal(jobCount(), n, 'nothing queued');
    // each refusal is in the audit log with its code
    assert.ok(f.audited('jobs.create').includes('oscar NOT_FOUND'));
    assert.ok(f.audited('jobs.create').includes('oscar USAGE'));
    // a good add-source: the text travels, its length is what the audit keeps
    const content = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n';
    const ok = await f.operator.call('POST', '/jobs', {
      kind: 'add-source',
      to: ['web-1'],
      sourceName: 'extra',
      sourceContent: content,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual((await f.viewer.call('GET', `/jobs/${ok.body.jobs[0].id}`)).body.params, {
      name: 'extra',
      content,
    });
    const [e] = f.server.services.audit.query({ action: 'jobs.create', limit: 1 });
    assert.equal((e!.args as Record<string, unknown>)['sourceContent'], `[${content.length} characters]`);
    assert.deepEqual(e!.detail, { jobs: [ok.body.jobs[0].id] });
  });

  it('POST /jobs/ID/cancel: an open job is cancelled; finished or unknown ones refused', async () => {
    const q = await f.operator.call('POST', '/jobs', { kind: 'update', to: ['web-1'] });
    const id = q.body.jobs[0].id as number;
    assertError(await f.viewer.call('POST', `/jobs/${id}/cancel`), 403, 'FORBIDDEN');
    assert.equal((await f.viewer.call('GET', `/jobs/${id}`)).body.state, 'queued');
    // as the console sends it: an empty JSON object
    const c = await f.operator.call('POST', `/jobs/${id}/cancel`, {});
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.state, 'cancelled');
    assert.equal(c.body.id, id);
    assertError(await f.operator.call('POST', `/jobs/${id}/cancel`), 400, 'USAGE');
    assertError(await f.operator.call('POST', '/jobs/99999/cancel'), 404, 'NOT_FOUND');
    assertError(await f.operator.call('POST', `/jobs/${id}/cancel`, { reason: 'x' }), 400, 'USAGE');
    // a change refused for its input is an attempt too: audited with its error (docs/security.md)
    assert.deepEqual(f.audited('jobs.cancel').slice(0, 5), [
      'oscar USAGE',
      'oscar NOT_FOUND',
      'oscar USAGE',
      'oscar ok',
      'vera FORBIDDEN',
    ]);
  });

  it('schedules: the console form adds one, GET lists it with the next run, DELETE removes it; bad input changes nothing', async () => {
    const s = await f.operator.call('POST', '/schedules', {
      class: 'web',
      kind: 'upgrade',
      cron: '0 3 * * 6',
      securityOnly: true,
    });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.deepEqual(Object.keys(s.body).sort(), [
      'class',
      'cron',
      'deadlineS',
      'id',
      'kind',
      'lastFired',
      'nextAt',
      'params',
      'policy',
    ]);
    assert.equal(new Date(s.body.nextAt).getDay(), 6);
    assert.equal(new Date(s.body.nextAt).getHours(), 3);
    assert.deepEqual(s.body.params, { securityOnly: true });
    const withDeadline = await f.operator.call('POST', '/schedules', {
      class: 'web',
      kind: 'update',
      cron: '*/30 * * * *',
      deadline: '2h',
    });
    assert.equal(withDeadline.body.deadlineS, 7200);
    const list = await f.viewer.call('GET', '/schedules');
    assert.deepEqual(
      list.body.schedules.map((x: { id: number }) => x.id),
      [s.body.id, withDeadline.body.id],
    );
    // classes.list shows them too (the console's windows page reads both)
    const web = (await f.viewer.call('GET', '/classes/web')).body;
    assert.deepEqual(web.schedules, [
      { id: s.body.id, kind: 'upgrade', cron: '0 3 * * 6' },
      { id: withDeadline.body.id, kind: 'update', cron: '*/30 * * * *' },
    ]);

    const n = scheduleCount();
    const bad: Array<[Record<string, unknown>, number, string]> = [
      [{ class: 'web', kind: 'upgrade', cron: '0 2 * *' }, 400, 'USAGE'],
      [{ class: 'web', kind: 'upgrade', cron: '61 2 * * *' }, 400, 'USAGE'],
      [{ class: 'web', kind: 'frobnicate', cron: '0 2 * * *' }, 400, 'USAGE'],
      [{ class: 'nope', kind: 'update', cron: '0 2 * * *' }, 404, 'NOT_FOUND'],
      [{ class: 'web', kind: 'update', cron: '0 2 * * *', deadline: '10s' }, 400, 'USAGE'],
      [{ class: 'web', kind: 'update', cron: '0 2 * * *', packages: ['htop'] }, 400, 'USAGE'],
      [{ class: 'web', kind: 'update' }, 400, 'USAGE'],
    ];
    for (const [body, status, code] of bad)
      assertError(await f.operator.call('POST', '/schedules', body), status, code);
    assertError(
      await f.viewer.call('POST', '/schedules', { class: 'web', kind: 'update', cron: '0 2 * * *' }),
      403,
      'FORBIDDEN',
    );
    assertError(await f.viewer.call('DELETE', `/schedules/${s.body.id}`), 403, 'FORBIDDEN');
    assert.equal(scheduleCount(), n, 'nothing added or removed');
    assert.equal(f.audited('schedules.create')[0], 'vera FORBIDDEN');
    assert.equal(f.audited('schedules.remove')[0], 'vera FORBIDDEN');

    const r = await f.operator.call('DELETE', `/schedules/${withDeadline.body.id}`);
    assert.deepEqual([r.status, r.body], [200, { removed: withDeadline.body.id }]);
    assertError(await f.operator.call('DELETE', `/schedules/${withDeadline.body.id}`), 404, 'NOT_FOUND');
    assertError(await f.operator.call('DELETE', '/schedules/x'), 400, 'USAGE');
    assert.equal(scheduleCount(), n - 1);
  });

  it('roles: a viewer reads every list but queues, cancels and schedules nothing; every refusal is audited', async () => {
    const n = jobCount();
    const reads: ApiClient[] = [f.viewer, f.operator, f.admin];
    for (const who of reads)
      for (const p of ['/jobs', '/jobs?state=queued', '/schedules'])
        assert.equal((await who.call('GET', p)).status, 200, p);
    const before = f.audited('jobs.create').filter((x) => x === 'vera FORBIDDEN').length;
    assertError(await f.viewer.call('POST', '/jobs', { kind: 'update', to: ['web'] }), 403, 'FORBIDDEN');
    // the role is checked before the input: a viewer learns nothing about targets
    assertError(await f.viewer.call('POST', '/jobs', { kind: 'update', to: ['no-such-host'] }), 403, 'FORBIDDEN');
    assert.equal(f.audited('jobs.create').filter((x) => x === 'vera FORBIDDEN').length, before + 2);
    assert.equal(jobCount(), n);
  });

  it('the command line against the server (--server, APTGATE_TOKEN) prints what it prints on the server host', async () => {
    const finished = (await f.viewer.call('GET', '/jobs?state=succeeded')).body.jobs[0].id as number;
    for (const args of [
      ['jobs', 'list'],
      ['jobs', 'list', '--json'],
      ['jobs', 'list', '--machine', 'web-2', '--state', 'failed'],
      ['jobs', 'list', '--limit', '2', '--before', String(finished)],
      ['jobs', 'show', String(finished)],
      ['jobs', 'show', String(finished), '--json'],
      ['schedules', 'list'],
      ['schedules', 'list', '--json'],
    ]) {
      const here = await f.local(args);
      assert.equal(here.code, 0, `${args.join(' ')}: ${here.stderr}`);
      const there = await f.remote(args);
      assert.equal(there.code, 0, `${args.join(' ')} --server: ${there.stderr}`);
      assert.equal(there.stdout, here.stdout, args.join(' '));
    }
    assert.match(
      (await f.local(['jobs', 'show', String(finished)])).stdout,
      /^transcript:\n\$ aptgate-agent refresh$/m,
    );
    // errors: the same code and message, the same exit status
    for (const args of [
      ['jobs', 'show', '99999'],
      ['jobs', 'list', '--state', 'done'],
      ['jobs', 'add', 'frobnicate', '--to', 'web'],
      ['jobs', 'add', 'update', '--to', 'no-such-host'],
      ['schedules', 'remove', '99999'],
    ]) {
      const here = await f.local(args);
      const there = await f.remote(args);
      assert.notEqual(here.code, 0, args.join(' '));
      assert.deepEqual([there.code, there.stderr], [here.code, here.stderr], args.join(' '));
    }
    // changes: queued by the token's owner; a viewer's token is refused
    const q = await f.remote(['jobs', 'add', 'update', '--to', 'web-1', '--json']);
    assert.equal(q.code, 0, q.stderr);
    const id = (JSON.parse(q.stdout) as { jobs: Array<{ id: number }> }).jobs[0]!.id;
    assert.equal((await f.viewer.call('GET', `/jobs/${id}`)).body.origin, 'api:oscar');
    assert.equal((await f.local(['jobs', 'add', 'update', '--to', 'web-1', '--json'])).code, 0);
    assert.equal(
      (await f.viewer.call('GET', '/jobs?limit=1')).body.jobs[0].origin,
      'cli',
      'on the server host: cli, as before',
    );
    assert.match((await f.remote(['jobs', 'cancel', String(id)])).stdout, new RegExp(`^job ${id} cancelled\\n$`));
    const s = await f.remote(['schedules', 'add', '--class', 'web', '--kind', 'update', '--cron', '0 4 * * *']);
    assert.match(s.stdout, /^schedule \d+: update for class web at "0 4 \* \* \*", next \d{4}-\d\d-\d\d 04:00\n$/);
    // --source-file is read by the command where it runs; the server gets its text
    const file = path.join(f.dir, 'extra.sources');
    const content = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n';
    await writeFile(file, content);
    const src = await f.remote([
      'jobs',
      'add',
      'add-source',
      '--to',
      'web-1',
      '--source-name',
      'extra',
      '--source-file',
      file,
      '--json',
    ]);
    assert.equal(src.code, 0, src.stderr);
    const srcId = (JSON.parse(src.stdout) as { jobs: Array<{ id: number }> }).jobs[0]!.id;
    assert.deepEqual((await f.viewer.call('GET', `/jobs/${srcId}`)).body.params, { name: 'extra', content });
    const missing = path.join(f.dir, 'missing.sources');
    const args = ['jobs', 'add', 'add-source', '--to', 'web-1', '--source-name', 'x', '--source-file', missing];
    const [here, there] = [await f.local(args), await f.remote(args)];
    assert.match(here.stderr, /^aptgate: USAGE: cannot read /);
    assert.deepEqual([there.code, there.stderr], [here.code, here.stderr]);
    const vt = await f.viewer.call('POST', '/api-tokens', { role: 'viewer', expires: '1d' });
    const refused = await f.remote(['jobs', 'add', 'update', '--to', 'web-1'], vt.body.token);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /^aptgate: FORBIDDEN: jobs\.create needs the operator role/);
    assert.equal((await f.remote(['jobs', 'list', '--limit', '1'], vt.body.token)).code, 0);
  });
});
