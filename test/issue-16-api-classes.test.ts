// Issue 16: classes, their members, rules, stages and maintenance windows through the HTTP API,
// over a real server on 127.0.0.1 with machines enrolled through /RPC2: every route's answer (the
// JSON of `aptgate classes … --json`), the console's window form and remove button, the role
// matrix (a viewer changes nothing, refusals audited), bad input (USAGE or NOT_FOUND, nothing
// changed), and the command line against the server printing what it prints on the server host.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError } from './helpers/api.js';
import { startApiFleet, type ApiFleet } from './helpers/api-fleet.js';
import type { Enrolled } from './helpers/reports.js';

interface ClassJson {
  name: string;
  description: string;
  priority: number;
  stage: string | null;
  gate: boolean;
  memberCount: number;
  rules: Array<{ field: string; pattern: string }>;
  windows: Array<{ id: number; window: string }>;
  schedules: unknown[];
}

describe('issue 16: classes through the API', () => {
  let f: ApiFleet;
  let web1: Enrolled;
  let web2: Enrolled;
  let lab1: Enrolled;
  /** everything the classes routes can change, to compare before and after a refusal */
  const snapshot = async () => JSON.stringify((await f.admin.call('GET', '/classes')).body);
  const hosts = (c: { members: Array<{ hostname: string }> }) => c.members.map((m) => m.hostname).sort();

  before(async () => {
    f = await startApiFleet('aptgate-i16-classes-');
    web1 = await f.enrol('web-1');
    web2 = await f.enrol('web-2');
    lab1 = await f.enrol('lab-1');
  });
  after(async () => {
    await f?.close();
  });

  it('create, rules, members, windows, stage: each route answers the JSON of the command', async () => {
    const c = await f.operator.call('POST', '/classes', { name: 'web', priority: 10, description: 'web servers' });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.deepEqual(Object.keys(c.body).sort(), [
      'createdAt',
      'description',
      'gate',
      'id',
      'name',
      'priority',
      'stage',
    ]);
    assert.deepEqual(
      [c.body.name, c.body.priority, c.body.description, c.body.stage],
      ['web', 10, 'web servers', null],
    );
    const r = await f.operator.call('POST', '/classes/web/rules', { field: 'hostname', pattern: 'web-*' });
    assert.deepEqual([r.status, r.body], [200, { class: 'web', field: 'hostname', pattern: 'web-*' }]);
    const lab = await f.operator.call('POST', '/classes', { name: 'lab', stage: 'test', gate: true });
    assert.deepEqual([lab.body.stage, lab.body.gate], ['test', true]);
    const m = await f.operator.call('POST', '/classes/lab/members', { machines: ['lab-1', String(web1.machine)] });
    assert.deepEqual(m.body, {
      class: 'lab',
      added: [
        { id: lab1.machine, hostname: 'lab-1' },
        { id: web1.machine, hostname: 'web-1' },
      ],
    });
    // the console's window form: POST /classes/NAME/windows {window}
    const w = await f.operator.call('POST', '/classes/web/windows', { window: 'Sat 02:00-06:00' });
    assert.deepEqual([w.status, w.body.class, w.body.window], [200, 'web', 'sat 02:00-06:00']);
    const w2 = await f.operator.call('POST', '/classes/web/windows', { window: 'mon-fri 22:00-04:00' });
    assert.equal(w2.body.window, 'mon,tue,wed,thu,fri 22:00-04:00');

    const list = await f.viewer.call('GET', '/classes');
    assert.equal(list.status, 200);
    const web = (list.body.classes as ClassJson[]).find((x) => x.name === 'web')!;
    // the list counts the members (a class may hold 20,000 machines), classes.show pages them
    assert.equal(web.memberCount, 2);
    assert.equal('members' in web, false);
    assert.deepEqual(web.rules, [{ field: 'hostname', pattern: 'web-*' }]);
    assert.deepEqual(web.windows, [
      { id: w.body.id, window: 'sat 02:00-06:00' },
      { id: w2.body.id, window: 'mon,tue,wed,thu,fri 22:00-04:00' },
    ]);
    const one = await f.viewer.call('GET', '/classes/web');
    assert.deepEqual(one.body, {
      ...web,
      members: [
        { id: web1.machine, hostname: 'web-1' },
        { id: web2.machine, hostname: 'web-2' },
      ],
      page: 1,
      limit: 100,
    });
    assert.deepEqual(hosts(one.body), ['web-1', 'web-2']);
    // pages of members, in id order
    const p2 = await f.viewer.call('GET', '/classes/web?limit=1&page=2');
    assert.deepEqual(
      [p2.body.members, p2.body.memberCount, p2.body.page, p2.body.limit],
      [[{ id: web2.machine, hostname: 'web-2' }], 2, 2, 1],
    );
    assert.deepEqual((await f.viewer.call('GET', '/classes/web?limit=1&page=3')).body.members, []);
    // each machine of the list names its classes in precedence order (the console's Classes column)
    const rows = (await f.viewer.call('GET', '/machines?limit=50')).body.machines as Array<{
      hostname: string;
      classes: string[];
    }>;
    assert.deepEqual(
      rows.map((x) => [x.hostname, x.classes]),
      [
        ['lab-1', ['lab']],
        ['web-1', ['web', 'lab']],
        ['web-2', ['web']],
      ],
    );
    assert.deepEqual((await f.viewer.call('GET', '/classes/web/rules')).body, { class: 'web', rules: web.rules });
    assert.deepEqual((await f.viewer.call('GET', '/classes/web/windows')).body, { class: 'web', windows: web.windows });

    const b = await f.operator.call('PUT', '/classes/web/stage', { stage: 'production' });
    assert.deepEqual(b.body, { class: 'web', stage: 'production', gate: false, members: 2 });
    const u = await f.operator.call('DELETE', '/classes/web/stage');
    assert.deepEqual(u.body, { class: 'web', stage: null, gate: false, members: 2 });

    // removing: an explicit member goes, a rule-matched one stays and says so
    const rm = await f.operator.call('DELETE', '/classes/lab/members?machines=web-1');
    assert.deepEqual(rm.body, {
      class: 'lab',
      removed: [{ id: web1.machine, hostname: 'web-1', removed: true, stillByRule: false }],
    });
    await f.operator.call('POST', '/classes/web/members', { machines: ['web-1'] });
    const both = await f.operator.call('DELETE', '/classes/web/members?machines=web-1&machines=lab-1');
    assert.deepEqual(
      both.body.removed.map((x: { hostname: string; removed: boolean; stillByRule: boolean }) => [
        x.hostname,
        x.removed,
        x.stillByRule,
      ]),
      [
        ['web-1', true, true],
        ['lab-1', false, false],
      ],
    );
    const rr = await f.operator.call('DELETE', '/classes/web/rules?field=hostname&pattern=web-*');
    assert.deepEqual(rr.body, { class: 'web', field: 'hostname', pattern: 'web-*' });
    assert.deepEqual((await f.viewer.call('GET', '/classes/web')).body.members, []);
    // the console's remove button: DELETE /windows/ID
    assert.deepEqual((await f.operator.call('DELETE', `/windows/${w2.body.id}`)).body, { removed: w2.body.id });
    assert.deepEqual(
      (await f.viewer.call('GET', '/classes/web/windows')).body.windows.map((x: { id: number }) => x.id),
      [w.body.id],
    );
    assert.equal(f.audited('classes.add-window')[0], 'oscar ok');
  });

  it('bad input: USAGE or NOT_FOUND, and no class, rule, member or window changes', async () => {
    const was = await snapshot();
    const bad: Array<[string, string, unknown, number, string]> = [
      ['POST', '/classes', { name: 'Web Servers' }, 400, 'USAGE'],
      ['POST', '/classes', { name: 'web' }, 400, 'USAGE'],
      ['POST', '/classes', { name: 'x', description: 'two\nlines' }, 400, 'USAGE'],
      ['POST', '/classes', { name: 'x', gate: true }, 400, 'USAGE'],
      ['POST', '/classes', { name: 'x', stage: 'nope' }, 400, 'USAGE'],
      ['POST', '/classes', { name: 'x', priority: 1.5 }, 400, 'USAGE'],
      ['POST', '/classes', { name: 'x', members: ['web-1'] }, 400, 'USAGE'],
      ['POST', '/classes', {}, 400, 'USAGE'],
      ['DELETE', '/classes/nope', undefined, 404, 'NOT_FOUND'],
      ['GET', '/classes/nope', undefined, 404, 'NOT_FOUND'],
      ['PUT', '/classes/web/stage', { stage: 'nope' }, 400, 'USAGE'],
      ['PUT', '/classes/nope/stage', { stage: 'test' }, 404, 'NOT_FOUND'],
      ['POST', '/classes/web/rules', { field: 'kernel', pattern: '6.*' }, 400, 'USAGE'],
      ['POST', '/classes/web/rules', { field: 'hostname', pattern: 'a b' }, 400, 'USAGE'],
      ['POST', '/classes/nope/rules', { field: 'hostname', pattern: 'x-*' }, 404, 'NOT_FOUND'],
      ['DELETE', '/classes/web/rules?field=hostname&pattern=db-*', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/classes/web/rules?field=hostname', undefined, 400, 'USAGE'],
      // all or nothing: web-2 is not added because nope is unknown
      ['GET', '/classes/web?limit=0', undefined, 400, 'USAGE'],
      ['GET', '/classes/web?limit=1001', undefined, 400, 'USAGE'],
      ['GET', '/classes/web?page=0', undefined, 400, 'USAGE'],
      ['GET', '/classes/web?page=x', undefined, 400, 'USAGE'],
      ['POST', '/classes/web/members', { machines: ['web-2', 'nope'] }, 404, 'NOT_FOUND'],
      ['POST', '/classes/web/members', { machines: [] }, 400, 'USAGE'],
      ['POST', '/classes/nope/members', { machines: ['web-2'] }, 404, 'NOT_FOUND'],
      ['DELETE', '/classes/lab/members?machines=nope', undefined, 404, 'NOT_FOUND'],
      ['POST', '/classes/web/windows', { window: 'weekdays 22:00' }, 400, 'USAGE'],
      ['POST', '/classes/web/windows', { window: 'mon-fri 25:00-04:00' }, 400, 'USAGE'],
      ['POST', '/classes/web/windows', { window: 'mon-fri 22:00-22:00' }, 400, 'USAGE'],
      ['POST', '/classes/web/windows', { window: 'xyz 01:00-02:00' }, 400, 'USAGE'],
      ['POST', '/classes/web/windows', {}, 400, 'USAGE'],
      ['POST', '/classes/nope/windows', { window: 'daily 01:00-05:00' }, 404, 'NOT_FOUND'],
      ['DELETE', '/windows/99999', undefined, 404, 'NOT_FOUND'],
      ['DELETE', '/windows/abc', undefined, 400, 'USAGE'],
    ];
    for (const [method, p, body, status, code] of bad) {
      const a = await f.operator.call(method, p, body);
      assert.equal(a.status, status, `${method} ${p} ${JSON.stringify(body)}: ${JSON.stringify(a.body)}`);
      assertError(a, status, code);
    }
    assert.equal(await snapshot(), was, 'nothing changed');
    assert.ok(f.audited('classes.add-members').includes('oscar NOT_FOUND'));
    assert.ok(f.audited('classes.add-window').includes('oscar USAGE'));
  });

  it('roles: a viewer reads every class route but changes nothing; each refusal is audited', async () => {
    const win = ((await f.viewer.call('GET', '/classes/web/windows')).body.windows as Array<{ id: number }>)[0]!.id;
    for (const p of ['/classes', '/classes/web', '/classes/web/rules', '/classes/web/windows'])
      assert.equal((await f.viewer.call('GET', p)).status, 200, p);
    const was = await snapshot();
    const changes: Array<[string, string, string, unknown]> = [
      ['classes.create', 'POST', '/classes', { name: 'evil' }],
      ['classes.delete', 'DELETE', '/classes/web', undefined],
      ['classes.bind', 'PUT', '/classes/web/stage', { stage: 'test', gate: true }],
      ['classes.unbind', 'DELETE', '/classes/lab/stage', undefined],
      ['classes.add-members', 'POST', '/classes/lab/members', { machines: ['web-2'] }],
      ['classes.remove-members', 'DELETE', '/classes/lab/members?machines=lab-1', undefined],
      ['classes.add-rule', 'POST', '/classes/web/rules', { field: 'hostname', pattern: '*' }],
      ['classes.remove-rule', 'DELETE', '/classes/web/rules?field=hostname&pattern=web-*', undefined],
      ['classes.add-window', 'POST', '/classes/web/windows', { window: 'daily 00:00-24:00' }],
      ['classes.remove-window', 'DELETE', `/windows/${win}`, undefined],
    ];
    for (const [action, method, p, body] of changes) {
      assertError(await f.viewer.call(method, p, body), 403, 'FORBIDDEN');
      assert.equal(f.audited(action)[0], 'vera FORBIDDEN', action);
    }
    assert.equal(await snapshot(), was, 'nothing changed');
    // an operator may; an admin too
    assert.equal((await f.admin.call('POST', '/classes', { name: 'db' })).status, 200);
    assert.equal((await f.operator.call('DELETE', '/classes/db')).body.deleted, 'db');
  });

  it('the command line against the server (--server, APTGATE_TOKEN) prints what it prints on the server host', async () => {
    for (const args of [
      ['classes', 'list'],
      ['classes', 'list', '--json'],
      ['classes', 'show', 'lab'],
      ['classes', 'show', 'lab', '--json'],
      ['classes', 'show', 'lab', '--limit', '1', '--page', '2'],
    ]) {
      const here = await f.local(args);
      assert.equal(here.code, 0, here.stderr);
      const there = await f.remote(args);
      assert.equal(there.code, 0, there.stderr);
      assert.equal(there.stdout, here.stdout, args.join(' '));
    }
    assert.match((await f.local(['classes', 'list'])).stdout, /^lab\s+0\s+1\s/m);
    // the same change, once through each edge: the same output but for the window's id
    const steps: Array<[string[], string[]]> = [
      [
        ['classes', 'create', 'ops-a', '--priority', '5', '--stage', 'test', '--gate'],
        ['classes', 'create', 'ops-b', '--priority', '5', '--stage', 'test', '--gate'],
      ],
      [
        ['classes', 'add', 'ops-a', 'web-2'],
        ['classes', 'add', 'ops-b', 'web-2'],
      ],
      [
        ['classes', 'rule-add', 'ops-a', 'codename', 'bookworm'],
        ['classes', 'rule-add', 'ops-b', 'codename', 'bookworm'],
      ],
      [
        ['classes', 'remove', 'ops-a', 'web-2'],
        ['classes', 'remove', 'ops-b', 'web-2'],
      ],
      [
        ['classes', 'window-add', 'ops-a', 'daily 01:00-05:00'],
        ['classes', 'window-add', 'ops-b', 'daily 01:00-05:00'],
      ],
      [
        ['classes', 'unbind', 'ops-a'],
        ['classes', 'unbind', 'ops-b'],
      ],
      [
        ['classes', 'bind', 'ops-a', 'production'],
        ['classes', 'bind', 'ops-b', 'production'],
      ],
      [
        ['classes', 'rule-remove', 'ops-a', 'codename', 'bookworm'],
        ['classes', 'rule-remove', 'ops-b', 'codename', 'bookworm'],
      ],
    ];
    for (const [a, b] of steps) {
      const here = await f.local(a);
      assert.equal(here.code, 0, `${a.join(' ')}: ${here.stderr}`);
      const there = await f.remote(b);
      assert.equal(there.code, 0, `${b.join(' ')} --server: ${there.stderr}`);
      assert.equal(
        there.stdout.replaceAll('ops-b', 'ops-?').replace(/window \d+/, 'window N'),
        here.stdout.replaceAll('ops-a', 'ops-?').replace(/window \d+/, 'window N'),
        a.join(' '),
      );
    }
    const windowId = ((await f.viewer.call('GET', '/classes/ops-b/windows')).body.windows as Array<{ id: number }>)[0]!
      .id;
    assert.equal(
      (await f.remote(['classes', 'window-remove', String(windowId)])).stdout,
      `window ${windowId} removed\n`,
    );
    assert.equal((await f.remote(['classes', 'delete', 'ops-b'])).stdout, 'class ops-b deleted\n');
    assert.ok(f.audited('classes.delete').includes('oscar ok'));
    // errors: the same message and exit status on both edges
    for (const args of [
      ['classes', 'window-add', 'lab', 'weekdays 22:00'],
      ['classes', 'window-add', 'nope', 'daily 01:00-05:00'],
      ['classes', 'rule-add', 'lab', 'kernel', '6.*'],
      ['classes', 'add', 'lab', 'no-such-host'],
      ['classes', 'window-remove', '99999'],
      ['classes', 'create', 'Bad Name'],
    ]) {
      const here = await f.local(args);
      const there = await f.remote(args);
      assert.notEqual(here.code, 0, args.join(' '));
      assert.deepEqual([there.code, there.stderr], [here.code, here.stderr], args.join(' '));
    }
  });
});
