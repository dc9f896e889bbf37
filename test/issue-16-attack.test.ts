// Issue 16, attacked: what a hostile network user, a low-privilege account, a same-site page and a
// hostile server (for the remote command line) tried against the API, and what stops each now.
// Real servers on 127.0.0.1, real HTTP, the real CLI as a child process (docs/security.md,
// "API and console", tells each attack).
import assert from 'node:assert/strict';
import { chownSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { saveLogin, savedLogin } from '../src/cli/credentials.js';
import { exitStatuses } from '../src/term/exit-status.js';
import { addTestUsers, assertError, bearer, login, PASSWORD, type SessionClient } from './helpers/api.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

interface Entry {
  actor: string;
  action: string;
  result: string;
  args: unknown;
}

describe('issue 16 attacked: the API', () => {
  let dir: string;
  let server: TestServer;
  let admin: SessionClient;
  let operator: SessionClient;
  let viewer: SessionClient;

  /** The newest audit entries of an action, as the admin reads them. */
  const entries = async (action: string): Promise<Entry[]> => {
    const a = await admin.call('GET', `/audit?action=${action}&limit=1000`);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return a.body.entries as Entry[];
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-attack-'));
    server = await startServer(testConfig(dir, {}));
    await addTestUsers(server.services);
    admin = await login(server.url, 'alice', PASSWORD);
    operator = await login(server.url, 'oscar', PASSWORD);
    viewer = await login(server.url, 'vera', PASSWORD);
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a duration beyond any date is USAGE and creates nothing (it made a token no list could show: INTERNAL for everyone)', async () => {
    assertError(await operator.call('POST', '/tokens', { expires: '999999999999d' }), 400, 'USAGE');
    assertError(await operator.call('POST', '/tokens', { expires: `1${'0'.repeat(400)}d` }), 400, 'USAGE');
    const list = await viewer.call('GET', '/tokens');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual(list.body.tokens, []);
    // the longest that makes sense still works
    assert.equal((await operator.call('POST', '/tokens', { expires: '36500d' })).status, 200);
    assert.equal((await viewer.call('GET', '/tokens')).body.tokens.length, 1);
  });

  it('an API token cannot make a token that outlives it (a stolen token would never expire)', async () => {
    const made = await viewer.call('POST', '/api-tokens', { role: 'viewer', expires: '1d', name: 'short' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const script = bearer(server.url, made.body.token as string);
    assertError(await script.call('POST', '/api-tokens', { role: 'viewer', expires: '365d' }), 400, 'USAGE');
    assertError(await script.call('POST', '/api-tokens', { role: 'viewer', expires: '25h' }), 400, 'USAGE');
    const child = await script.call('POST', '/api-tokens', { role: 'viewer', expires: '23h', name: 'child' });
    assert.equal(child.status, 200, JSON.stringify(child.body));
    assert.ok(Date.parse(child.body.expiresAt) <= Date.parse(made.body.expiresAt));
    const tries = (await entries('api-tokens.create')).filter((e) => e.actor === 'vera').map((e) => e.result);
    assert.deepEqual(tries, ['ok', 'USAGE', 'USAGE', 'ok']);
    // the session's own tokens keep their year
    assert.equal((await viewer.call('POST', '/api-tokens', { role: 'viewer', expires: '365d' })).status, 200);
  });

  it('a megabyte of nested JSON is refused before it is parsed, also from someone not logged in', async () => {
    // JSON.parse of it held the event loop ~250 ms, before the route knew who sent it
    const deep = '['.repeat(500_000) + ']'.repeat(500_000);
    const anonymousLogin = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"user":"alice","password":${deep}}`,
    });
    const body = (await anonymousLogin.json()) as { error: { code: string; message: string } };
    assert.equal(anonymousLogin.status, 400);
    assert.equal(body.error.code, 'USAGE');
    assert.match(body.error.message, /nests deeper than 32 levels/);
    const change = await admin.call('POST', '/api-tokens', `{"role":"viewer","expires":"1d","name":${deep}}`);
    assertError(change, 400, 'USAGE');
    assert.match(change.body.error.message, /nests deeper/);
    // what operations take still parses: a flat megabyte is refused by the schema, not by this
    const wide = `{${Array.from({ length: 90_000 }, (_, i) => `"k${i}":0`).join(',')}}`;
    const flat = await admin.call('POST', '/api-tokens', wide);
    assertError(flat, 400, 'USAGE');
    assert.doesNotMatch(flat.body.error.message, /nests deeper/);
    // its audit entry keeps the size of the refused input, not the input
    const entry = (await entries('api-tokens.create')).find((e) => e.actor === 'alice');
    assert.deepEqual(Object.keys(entry?.args as object).sort(), ['bytes', 'truncated']);
  });

  it('a viewer sending a malformed change is refused for the role, not for the input, and it is in the audit log', async () => {
    const bad = await viewer.call('POST', '/users', {
      name: 'mallory',
      role: 'admin',
      password: 'mallory-secret-1',
      x: 1,
    });
    assertError(bad, 403, 'FORBIDDEN');
    // the input errors of an admin's operation tell a viewer nothing either
    assertError(await viewer.call('PUT', '/users/vera/role', { role: 'root' }), 403, 'FORBIDDEN');
    assertError(await viewer.call('DELETE', '/api-tokens/not-a-number'), 400, 'USAGE');
    const refused = (await entries('users')).filter((e) => e.actor === 'vera');
    assert.deepEqual(
      refused.map((e) => `${e.action} ${e.result}`),
      ['users.role FORBIDDEN', 'users.add FORBIDDEN'],
    );
    // the password of a refused call is no more in the log than that of an allowed one
    assert.deepEqual(refused[1]!.args, { name: 'mallory', role: 'admin' });
    const revoke = (await entries('api-tokens.revoke')).find((e) => e.actor === 'vera');
    assert.equal(revoke?.result, 'USAGE', 'a change refused for its input is recorded with its error');
  });

  it('an allowed change with bad input is recorded with its error, a body that is no object included', async () => {
    assertError(
      await admin.call('POST', '/users', { name: 'eve', role: 'root', password: 'eve-password-1' }),
      400,
      'USAGE',
    );
    // text/plain is parsed as a string: it is neither spread into fields nor taken
    const plain = await admin.call('POST', '/users', 'a'.repeat(10_000), { 'content-type': 'text/plain' });
    assertError(plain, 400, 'USAGE');
    assertError(await operator.call('POST', '/machines/m1/approve', { now: true }), 400, 'USAGE');
    // a megabyte of text/plain to a route without a body: refused without listing its million "keys"
    // (Object.keys of the string held the event loop ~0.5 s)
    const text = await operator.call('POST', '/jobs/1/cancel', 'a'.repeat(1_000_000), {
      'content-type': 'text/plain',
    });
    assertError(text, 400, 'USAGE');
    assert.match(text.body.error.message, /takes no body/);
    const adds = (await entries('users.add')).filter((e) => e.actor === 'alice');
    assert.deepEqual(
      adds.map((e) => [e.result, e.args]),
      [
        ['USAGE', {}],
        ['USAGE', { name: 'eve', role: 'root' }],
      ],
    );
    const approve = (await entries('machines.approve')).find((e) => e.actor === 'oscar');
    assert.equal(approve?.result, 'USAGE');
    const cancel = (await entries('jobs.cancel')).find((e) => e.actor === 'oscar');
    assert.deepEqual([cancel?.result, cancel?.args], ['USAGE', { id: 1 }]);
    assert.equal((await admin.call('GET', '/users')).body.users.length, 3, 'nobody was added');
  });

  it("a session's change without its CSRF token is refused and recorded in that user's name, without secrets", async () => {
    const forged = await admin.call(
      'PUT',
      '/users/vera/password',
      { password: 'taken-over-password' },
      { 'x-aptgate-csrf': 'forged' },
    );
    assertError(forged, 403, 'CSRF_REFUSED');
    const missing = await admin.call(
      'POST',
      '/users',
      { name: 'mallory', role: 'admin', password: 'mallory-secret-1' },
      {
        'x-aptgate-csrf': '',
      },
    );
    assertError(missing, 403, 'CSRF_REFUSED');
    // a page sending it again and again does not fill the log in alice's name: once a minute
    for (let i = 0; i < 20; i++)
      assertError(
        await admin.call('PUT', '/users/vera/password', { password: 'taken-over-password' }, { 'x-aptgate-csrf': 'x' }),
        403,
        'CSRF_REFUSED',
      );
    assert.equal((await entries('users.passwd')).filter((e) => e.result === 'CSRF_REFUSED').length, 1);
    const passwd = (await entries('users.passwd')).find((e) => e.result === 'CSRF_REFUSED');
    assert.equal(passwd?.actor, 'alice');
    assert.deepEqual(passwd?.args, { name: 'vera' });
    const add = (await entries('users.add')).find((e) => e.result === 'CSRF_REFUSED');
    assert.deepEqual(add?.args, { name: 'mallory', role: 'admin' });
    const text = JSON.stringify(await entries('users'));
    assert.ok(!text.includes('taken-over-password') && !text.includes('mallory-secret-1'), text);
    // the password did not change
    await login(server.url, 'vera', PASSWORD);
  });

  it("a viewer's audit query of a rare action over a large log leaves the event loop to other requests", async () => {
    // a large log (years of logins, or a flood before the fix above): 400,000 entries
    const add = server.db.prepare(
      `INSERT INTO audit (at, actor_kind, actor, token_id, address, action, args, result, detail)
       VALUES (?, 'user', 'oscar', NULL, '192.0.2.7', 'jobs.create', '{"kind":"update"}', 'ok', NULL)`,
    );
    const at = server.services.now();
    server.db.transaction(() => {
      for (let i = 0; i < 400_000; i++) add.run(at);
    })();
    // the moment the server starts reading the table (the store is the audit log's own)
    const store = (server.services.audit as unknown as { store: { query: (...a: unknown[]) => unknown } }).store;
    const read = store.query.bind(store);
    let started!: () => void;
    const reading = new Promise<void>((r) => (started = r));
    store.query = (...a: unknown[]) => {
      started();
      return read(...a);
    };
    try {
      const order: string[] = [];
      const audit = viewer.call('GET', '/audit?action=classes.create').then((a) => {
        order.push('audit');
        return a;
      });
      await reading;
      const session = await viewer.call('GET', '/session');
      order.push('session');
      const a = await audit;
      assert.equal(a.status, 200);
      assert.deepEqual(a.body.entries, []);
      assert.equal(session.status, 200);
      // the scan goes on in slices: a request that came after it began is answered before it ends
      assert.deepEqual(order, ['session', 'audit']);
      // the slices give the same answer as one query
      const all = await admin.call('GET', '/audit?limit=1000&user=vera');
      assert.ok(all.body.entries.length >= 3, "vera's entries lie below the 400,000 others");
      assert.deepEqual(
        all.body.entries.map((e: { id: number }) => e.id),
        server.services.audit.query({ limit: 1000, user: 'vera' }).map((e) => e.id),
      );
    } finally {
      store.query = read;
    }
  });

  it("logins at once leave libuv's thread pool to the proxy's file reads (scrypt ran four at a time)", async () => {
    // valid logins cost no allowance, so one account could keep every thread of the pool busy
    const limiter = (server.services.access as unknown as { limiter: { buckets: Map<string, { tokens: number }> } })
      .limiter;
    const order: string[] = [];
    const start = limiter.buckets.get('addr:127.0.0.1')?.tokens ?? 20;
    const logins = ['alice', 'oscar', 'vera'].flatMap((user) =>
      Array.from({ length: 3 }, () =>
        fetch(`${server.url}/api/v1/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ user, password: PASSWORD }),
        }).then((r) => {
          order.push(`login ${r.status}`);
        }),
      ),
    );
    // until the server has taken all 9 (each takes its allowance just before its password check)
    const deadline = Date.now() + 20_000;
    while ((limiter.buckets.get('addr:127.0.0.1')?.tokens ?? 20) > start - 8.5 && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
    // a file read needs a thread of the same pool (this process is the server)
    await readFile(path.join(projectRoot, 'package.json'));
    order.push('file');
    await Promise.all(logins);
    assert.deepEqual(
      order.filter((o) => o.startsWith('login')),
      Array<string>(9).fill('login 200'),
    );
    assert.ok(order.indexOf('file') <= 1, `the file was read after ${order.indexOf('file')} logins`);
  });

  it("an account's API tokens are bounded: 100 active, and of revoked ones the 100 newest kept", async () => {
    const create = () => operator.call('POST', '/api-tokens', { role: 'viewer', expires: '1h' });
    const mine = async () =>
      (await operator.call('GET', '/api-tokens')).body.tokens as Array<{ id: number; state: string }>;
    const before = (await mine()).filter((t) => t.state === 'active').length;
    for (let i = before; i < 100; i++) assert.equal((await create()).status, 200);
    assertError(await create(), 400, 'USAGE');
    // revoking makes room; revoked ones beyond the newest 100 are forgotten
    for (let i = 0; i < 150; i++) {
      const [newest] = await mine();
      assert.equal((await operator.call('DELETE', `/api-tokens/${newest!.id}`)).status, 200);
      assert.equal((await create()).status, 200);
    }
    const list = await mine();
    assert.equal(list.filter((t) => t.state === 'active').length, 100);
    assert.equal(list.filter((t) => t.state === 'revoked').length, 100);
  });

  it("an account's sessions are bounded: the 51st login ends the oldest session", async () => {
    await server.services.access.addUser('sam', 'viewer', PASSWORD);
    const sessions: SessionClient[] = [];
    for (let i = 0; i < 51; i++) sessions.push(await login(server.url, 'sam', PASSWORD));
    assertError(await sessions[0]!.call('GET', '/session'), 401, 'UNAUTHENTICATED');
    for (const s of sessions.slice(1)) assert.equal((await s.call('GET', '/session')).status, 200);
    const rows = server.db.prepare(
      'SELECT count(*) AS n FROM session WHERE user_id = (SELECT id FROM user WHERE name = ?)',
    );
    assert.equal((rows.get('sam') as { n: number }).n, 50);
  });

  it('the remote command line refuses "." and ".." as a name (the URL resolves them: another route, another class)', async () => {
    assert.equal((await operator.call('POST', '/classes', { name: 'stage' })).status, 200);
    const made = await admin.call('POST', '/api-tokens', { role: 'operator', expires: '1h' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const env = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_'))),
      APTGATE_TOKEN: made.body.token as string,
      APTGATE_CREDENTIALS: path.join(dir, 'no-credentials.json'),
    };
    for (const name of ['.', '..']) {
      const r = await exec(process.execPath, [CLI, 'classes', 'unbind', name, '--server', server.url], {
        env,
        cwd: dir,
        timeoutMs: 60_000,
      });
      assert.equal(r.code, exitStatuses.aptgate.usage, r.stderr.toString());
      assert.match(r.stderr.toString(), /^aptgate: USAGE: classes\.unbind: /);
    }
    // DELETE /classes/./stage was DELETE /classes/stage: the class "stage" is still there
    assert.equal((await viewer.call('GET', '/classes/stage')).status, 200);
  });

  it("held: a removed user's session and token open nothing, also once a user of that name is added again", async () => {
    await server.services.access.addUser('rita', 'operator', PASSWORD);
    const rita = await login(server.url, 'rita', PASSWORD);
    const made = await rita.call('POST', '/api-tokens', { role: 'operator', expires: '1d' });
    assert.equal(made.status, 200);
    const script = bearer(server.url, made.body.token as string);
    assert.equal((await admin.call('DELETE', '/users/rita')).status, 200);
    await server.services.access.addUser('rita', 'admin', PASSWORD);
    assertError(await rita.call('GET', '/users'), 401, 'UNAUTHENTICATED');
    assertError(await script.call('GET', '/audit'), 401, 'UNAUTHENTICATED');
  });

  it('a flood of refused logins leaves one audit entry per address and name while the limit lasts, not one each', async () => {
    const attempt = (user: string) =>
      fetch(`${server.url}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user, password: 'not the password' }),
      }).then(async (r) => ({ status: r.status, code: ((await r.json()) as { error: { code: string } }).error.code }));
    const results: string[] = [];
    for (let i = 0; i < 55; i++) results.push((await attempt(i < 30 ? 'oscar' : `nobody${i}`)).code);
    // oscar: 5 failures, then his account's limit; other names: the address's 20 failures, then its limit
    const expected = [
      ...Array<string>(5).fill('UNAUTHENTICATED'),
      ...Array<string>(25).fill('LOGIN_LIMITED'),
      ...Array<string>(15).fill('UNAUTHENTICATED'),
      ...Array<string>(10).fill('LOGIN_LIMITED'),
    ];
    assert.deepEqual(results, expected);
    const logins = (await entries('session.login')).filter((e) => e.result !== 'ok');
    // every failure that checked a password is recorded; of the 35 refused unchecked, the first
    assert.equal(logins.filter((e) => e.result === 'UNAUTHENTICATED').length, 20);
    assert.deepEqual(
      logins.filter((e) => e.result === 'LOGIN_LIMITED').map((e) => e.actor),
      ['oscar'],
    );
  });
  it('held: cross-site forms, method and path tricks, prototype keys reach no operation', async () => {
    const raw = (method: string, p: string, headers: Record<string, string>, body?: string) =>
      fetch(`${server.url}${p}`, { method, headers, ...(body === undefined ? {} : { body }), redirect: 'manual' });
    // login CSRF: a form can send text/plain or urlencoded, never application/json
    for (const [type, body] of [
      ['text/plain', JSON.stringify({ user: 'vera', password: PASSWORD })],
      ['application/x-www-form-urlencoded', `user=vera&password=${encodeURIComponent(PASSWORD)}`],
      [
        'multipart/form-data; boundary=x',
        `--x\r\nContent-Disposition: form-data; name="user"\r\n\r\nvera\r\n--x--\r\n`,
      ],
    ]) {
      const r = await raw('POST', '/api/v1/session', { 'content-type': type! }, body);
      assert.equal(r.status, 400, type);
      assert.deepEqual(r.headers.getSetCookie(), [], `${type}: no session`);
    }
    // a same-site form post with the cookie but without the header changes nothing
    const form = await raw('POST', '/api/v1/users', { cookie: admin.cookie, 'content-type': 'text/plain' }, '{}');
    assert.equal(form.status, 403);
    // method override, other methods, trailing slash, case, dot segments: no way around a route's role
    const tricks: Array<[string, string, Record<string, string>]> = [
      ['GET', '/api/v1/users/oscar?_method=DELETE', { 'x-http-method-override': 'DELETE' }],
      ['POST', '/api/v1/users/oscar', { 'x-http-method-override': 'DELETE', 'x-aptgate-csrf': viewer.csrf }],
      ['PATCH', '/api/v1/users/oscar/role', { 'x-aptgate-csrf': viewer.csrf }],
      ['DELETE', '/api/v1/users/oscar/', { 'x-aptgate-csrf': viewer.csrf }],
      ['DELETE', '/API/V1/users/oscar', { 'x-aptgate-csrf': viewer.csrf }],
      ['DELETE', '/api/v1/machines/../users/oscar', { 'x-aptgate-csrf': viewer.csrf }],
      ['DELETE', '/api/v1/users/oscar%2F..%2F..%2Fusers%2Foscar', { 'x-aptgate-csrf': viewer.csrf }],
    ];
    for (const [method, p, h] of tricks) {
      const r = await raw(method, p, { cookie: viewer.cookie, ...h });
      assert.notEqual(r.status, 200, `${method} ${p}`);
    }
    assert.ok((await admin.call('GET', '/users')).body.users.some((u: { name: string }) => u.name === 'oscar'));
    // prototype keys in a body or a query string are refused, never merged
    for (const body of [
      '{"__proto__":{"role":"admin"},"role":"viewer","expires":"1d"}',
      '{"constructor":{"prototype":{"x":1}},"role":"viewer","expires":"1d"}',
    ])
      assert.equal((await viewer.call('POST', '/api-tokens', body)).status, 400);
    assertError(await viewer.call('GET', '/audit?__proto__=x'), 400, 'USAGE');
    assert.equal(({} as Record<string, unknown>).role, undefined);
  });
});

describe('issue 16 attacked: the listener of the API', () => {
  const TLS = path.join(projectRoot, 'test/fixtures/tls');
  const dirs: string[] = [];
  const servers: TestServer[] = [];
  const tlsServer = async (tweak: (c: TestServer['config']) => void) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-attack-tls-'));
    dirs.push(dir);
    const s = await startServer(
      testConfig(dir, {}, (c) => {
        c.tls = { cert: path.join(TLS, 'cert.pem'), key: path.join(TLS, 'key.pem') };
        tweak(c);
      }),
    );
    servers.push(s);
    return s;
  };
  // the test's own requests trust the fixture's self-signed certificate
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const post = (url: string, body: unknown) =>
    undiciFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      dispatcher,
    });

  after(async () => {
    for (const s of servers) await s.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await dispatcher.close();
  });

  it('held: over TLS the session cookie is Secure, HttpOnly, SameSite=Strict and for /api/v1 only', async () => {
    const s = await tlsServer(() => {});
    await addTestUsers(s.services);
    const r = await post(`${s.url}/api/v1/session`, { user: 'vera', password: PASSWORD });
    assert.equal(r.status, 200);
    const cookie = r.headers.getSetCookie().find((c) => c.startsWith('aptgate_session='));
    assert.ok(cookie);
    for (const flag of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/api/v1'])
      assert.ok(cookie.includes(flag), cookie);
  });

  it('held: admin.listen refuses clients outside server.allow before any route', async () => {
    const s = await tlsServer((c) => {
      c.admin.listen = { host: '127.0.0.1', port: 0 };
      c.allow = ['10.0.0.0/8'];
    });
    await s.admin!.listen({ host: '127.0.0.1', port: 0 });
    const adminUrl = `https://127.0.0.1:${(s.admin!.server.address() as AddressInfo).port}`;
    const r = await post(`${adminUrl}/api/v1/session`, { user: 'vera', password: PASSWORD });
    assert.equal(r.status, 403);
    assert.match(await r.text(), /CLIENT_NOT_ALLOWED/);
    assert.deepEqual(r.headers.getSetCookie(), []);
  });
});

// ---- the remote command line against a hostile server ----

type Handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;

async function hostile(handler: Handler): Promise<{ url: string; server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, seen };
}

describe('issue 16 attacked: the remote command line and its credentials', () => {
  let dir: string;
  const servers: Server[] = [];
  const env = () => ({
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_'))),
    APTGATE_TOKEN: 'agt_api_' + 'T'.repeat(32),
    APTGATE_CREDENTIALS: path.join(dir, 'credentials.json'),
  });
  const cli = async (args: string[]) => {
    const r = await exec(process.execPath, [CLI, ...args], { env: env(), cwd: dir, timeoutMs: 60_000 });
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-attack-cli-'));
  });
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("no escape sequence of a server's answer reaches the terminal", async () => {
    const evil = 'admin\u001b]0;owned\u0007\u001b[2J\u009b31m';
    const h = await hostile((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          id: 3,
          name: 'vera',
          role: evil,
          createdAt: '2026-12-01T00:00:00Z',
          updatedAt: '2026-12-01T00:00:00Z',
        }),
      );
    });
    servers.push(h.server);
    const r = await cli(['users', 'role', 'vera', 'admin', '--server', h.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!/[\u001b\u0007\u009b]/.test(r.stdout), JSON.stringify(r.stdout));
    assert.equal(r.stdout, 'user vera changed (admin\\u001b]0;owned\\u0007\\u001b[2J\\u009b31m)\n');
  });

  it('an answer without end is cut off (REMOTE_FAILED), not read until memory runs out', async () => {
    let sent = 0;
    const h = await hostile((_req, res) => {
      res.setHeader('content-type', 'application/json');
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const more = () => {
        while (!res.destroyed && sent < 1024 ** 3) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      res.write('{"users":[');
      more();
    });
    servers.push(h.server);
    const r = await cli(['users', 'list', '--server', h.url]);
    assert.equal(r.code, exitStatuses.aptgate.failure, r.stderr);
    assert.match(r.stderr, /^aptgate: REMOTE_FAILED: .*answered more than 64 MiB/);
    assert.ok(sent < 512 * 1024 * 1024, `the server could send ${sent} bytes`);
  });

  it('a redirect is not followed: the token goes to no other server', async () => {
    const other = await hostile((_req, res) => res.end('{}'));
    const h = await hostile((_req, res) => {
      res.statusCode = 307;
      res.setHeader('location', `${other.url}/api/v1/users`);
      res.end();
    });
    servers.push(other.server, h.server);
    const r = await cli(['users', 'list', '--server', h.url]);
    assert.equal(r.code, exitStatuses.aptgate.failure, r.stderr);
    assert.match(r.stderr, /REMOTE_FAILED/);
    assert.deepEqual(other.seen, []);
  });

  it('saving a login never writes through a link left at the temporary name', async () => {
    const home = path.join(dir, 'shared');
    await mkdir(home, { recursive: true });
    const file = path.join(home, 'credentials.json');
    const victim = path.join(dir, 'victim');
    await writeFile(victim, 'precious\n');
    // the name the old code wrote to, guessable from the pid
    await symlink(victim, `${file}.${process.pid}.tmp`);
    const login = {
      token: 'agt_api_' + 'S'.repeat(32),
      tokenId: 1,
      user: 'alice',
      role: 'admin',
      expiresAt: '2027-01-01T00:00:00Z',
    };
    saveLogin('https://aptgate.example', login, file);
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
    assert.deepEqual(savedLogin('https://aptgate.example', file), login);
  });

  it("a credentials file of another user is refused, not used (it would hand over their token or their server's)", async () => {
    const file = path.join(dir, 'foreign.json');
    const login = {
      token: 'agt_api_' + 'F'.repeat(32),
      tokenId: 2,
      user: 'mallory',
      role: 'admin',
      expiresAt: '2027-01-01T00:00:00Z',
    };
    await writeFile(file, JSON.stringify({ servers: { 'https://aptgate.example': login } }), { mode: 0o600 });
    // the tests run as root (as the CI does): the file is given to nobody
    assert.equal(process.getuid?.(), 0, 'this test runs as root');
    chownSync(file, 65534, 65534);
    assert.throws(() => savedLogin('https://aptgate.example', file), /belongs to another user/);
  });
});
