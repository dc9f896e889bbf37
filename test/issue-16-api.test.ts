// Issue 16: the HTTP API's frame, over a real server on 127.0.0.1: login and the session cookie,
// CSRF, Bearer tokens (an agent's credential and an enrolment token open nothing), the role of
// every operation, the one error shape, schema errors, the audit trail of every change and of
// refusals, the OpenAPI document. The operations of each noun have their own tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPERATIONS } from '../src/ops/registry.js';
import { addTestUsers, anonymous, assertError, bearer, login, PASSWORD, type SessionClient } from './helpers/api.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

describe('issue 16: the operations registry', () => {
  it('names and method + path pairs are unique; every operation is in docs/api.md with its method, path and role', () => {
    const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const names = new Set<string>();
    const routes = new Set<string>();
    for (const o of OPERATIONS) {
      assert.ok(!names.has(o.name), `${o.name} twice`);
      names.add(o.name);
      const route = `${o.method} ${o.path}`;
      assert.ok(!routes.has(route), `${route} twice`);
      routes.add(route);
      const row = doc.split('\n').find((l) => l.includes(`| \`${o.name}\` |`));
      assert.ok(row, `docs/api.md has no row for ${o.name}`);
      assert.ok(row.startsWith(`| ${o.method} |`), `${o.name}: its row names ${o.method}: ${row}`);
      assert.ok(row.includes(`| ${o.role} |`), `${o.name}: its row names the role ${o.role}: ${row}`);
      const documentedPath = o.path.replace(/:([a-z]+)/gi, (_m, p: string) => p.toUpperCase());
      assert.ok(row.includes(`\`${documentedPath}`), `${o.name}: its row names ${documentedPath}: ${row}`);
    }
  });
});

describe('issue 16: the API frame', () => {
  let dir: string;
  let server: TestServer;
  let admin: SessionClient;
  let viewer: SessionClient;
  let operator: SessionClient;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-api-'));
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

  it('refuses every operation without credentials, with a cookie of no session, and with a wrong token', async () => {
    const anon = anonymous(server.url);
    for (const o of OPERATIONS) {
      const p = o.path.replace(/:([A-Za-z]+)/g, '1');
      assertError(await anon.call(o.method, p, o.method === 'GET' ? undefined : {}), 401, 'UNAUTHENTICATED');
    }
    assertError(
      await anonymous(server.url, { cookie: 'aptgate_session=' + 'x'.repeat(43) }).call('GET', '/users'),
      401,
      'UNAUTHENTICATED',
    );
    assertError(await bearer(server.url, 'agt_api_' + 'A'.repeat(32)).call('GET', '/audit'), 401, 'UNAUTHENTICATED');
    // a wrong Authorization header is not rescued by a good cookie
    assertError(await admin.call('GET', '/users', undefined, { authorization: 'Bearer nope' }), 401, 'UNAUTHENTICATED');
  });

  it('GET /session says who is logged in; DELETE /session ends it on the server', async () => {
    const s = await viewer.call('GET', '/session');
    assert.equal(s.status, 200);
    assert.equal(s.body.user, 'vera');
    assert.equal(s.body.role, 'viewer');
    assert.equal(s.body.csrf, viewer.csrf);
    const again = await login(server.url, 'vera', PASSWORD);
    assertError(await again.call('DELETE', '/session', undefined, { 'x-aptgate-csrf': 'wrong' }), 403, 'CSRF_REFUSED');
    const out = await again.call('DELETE', '/session');
    assert.equal(out.status, 200);
    assert.equal(out.body.ended, true);
    assertError(await again.call('GET', '/session'), 401, 'UNAUTHENTICATED');
  });

  it('the session cookie is HttpOnly, SameSite=Strict and sent to the API only', async () => {
    const res = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'vera', password: PASSWORD }),
    });
    const c = res.headers.getSetCookie().find((x) => x.startsWith('aptgate_session='))!;
    assert.match(c, /; HttpOnly/i);
    assert.match(c, /; SameSite=Strict/i);
    assert.match(c, /; Path=\/api\/v1/i);
    assert.match(c, /; Expires=/i);
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });

  it('a change without the CSRF token is refused and changes nothing; with it, it is done and audited', async () => {
    const body = { name: 'carol', role: 'viewer', password: PASSWORD };
    assertError(await admin.call('POST', '/users', body, { 'x-aptgate-csrf': '' }), 403, 'CSRF_REFUSED');
    assert.equal(server.services.access.user('carol'), undefined);
    const ok = await admin.call('POST', '/users', body);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.name, 'carol');
    const [e] = server.services.audit.query({ action: 'users.add', limit: 1 });
    assert.equal(e!.actor, 'alice');
    assert.equal(e!.actorKind, 'user');
    assert.equal(e!.result, 'ok');
    assert.equal(e!.address, '127.0.0.1');
    assert.deepEqual(e!.args, { name: 'carol', role: 'viewer' });
    assert.doesNotMatch(JSON.stringify(server.services.audit.query({})), /horse/);
  });

  it('roles: a viewer reads but changes nothing, an operator cannot manage users; refusals are audited', async () => {
    assert.equal((await viewer.call('GET', '/audit')).status, 200);
    assertError(await viewer.call('GET', '/users'), 403, 'FORBIDDEN');
    assertError(
      await operator.call('POST', '/users', { name: 'mallory', role: 'admin', password: PASSWORD }),
      403,
      'FORBIDDEN',
    );
    assert.equal(server.services.access.user('mallory'), undefined);
    const [e] = server.services.audit.query({ action: 'users.add', limit: 1 });
    assert.equal(e!.actor, 'oscar');
    assert.equal(e!.result, 'FORBIDDEN');
  });

  it('schema: unknown fields, wrong types and missing fields are USAGE naming the field; bodies are JSON', async () => {
    const extra = await admin.call('POST', '/users', {
      name: 'dave',
      role: 'viewer',
      password: PASSWORD,
      isAdmin: true,
    });
    assertError(extra, 400, 'USAGE');
    assert.match(extra.body.error.message, /additional properties/);
    assertError(await admin.call('POST', '/users', { name: 'dave', role: 'root', password: PASSWORD }), 400, 'USAGE');
    const missing = await admin.call('POST', '/users', { name: 'dave', role: 'viewer' });
    assertError(missing, 400, 'USAGE');
    assert.match(missing.body.error.message, /password/);
    assertError(await admin.call('GET', '/audit?limit=5000'), 400, 'USAGE');
    assertError(await admin.call('GET', '/audit?colour=red'), 400, 'USAGE');
    assertError(
      await admin.call('POST', '/users', 'name=dave', { 'content-type': 'application/x-www-form-urlencoded' }),
      400,
      'BAD_REQUEST',
    );
    assertError(await admin.call('POST', '/users', '{"name":', {}), 400, 'BAD_REQUEST');
    assertError(await admin.call('POST', '/users', { name: 'x'.repeat(2_000_000) }), 413, 'BODY_TOO_LARGE');
    assert.equal(server.services.access.user('dave'), undefined);
  });

  it('API tokens: shown once, capped by the owner, expire, revoked tokens are refused at once', async () => {
    const made = await operator.call('POST', '/api-tokens', { name: 'ci', role: 'operator', expires: '30d' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.match(made.body.token, /^agt_api_/);
    assertError(await operator.call('POST', '/api-tokens', { role: 'admin', expires: '30d' }), 403, 'FORBIDDEN');
    assertError(await operator.call('POST', '/api-tokens', { role: 'viewer', expires: '400d' }), 400, 'USAGE');
    const script = bearer(server.url, made.body.token);
    const who = await script.call('GET', '/session');
    assert.deepEqual(who.body, { user: 'oscar', role: 'operator', kind: 'token' });
    // no CSRF for a token: scripts are not browsers
    assert.equal((await script.call('GET', '/audit?limit=1')).status, 200);
    const list = await operator.call('GET', '/api-tokens');
    assert.ok(list.body.tokens.every((t: Record<string, unknown>) => !('token' in t)));
    assertError(await viewer.call('DELETE', `/api-tokens/${made.body.id}`), 403, 'FORBIDDEN');
    assert.equal((await operator.call('DELETE', `/api-tokens/${made.body.id}`)).status, 200);
    assertError(await script.call('GET', '/audit'), 401, 'UNAUTHENTICATED');
  });

  it('errors have one shape: unknown routes and ids too', async () => {
    assertError(await admin.call('GET', '/no-such-thing'), 404, 'NOT_FOUND');
    assertError(await admin.call('DELETE', '/users/nobody'), 404, 'NOT_FOUND');
    assertError(await admin.call('DELETE', '/api-tokens/abc'), 400, 'USAGE');
  });

  it('publishes an OpenAPI document naming every operation with its schemas', async () => {
    const a = await anonymous(server.url).call('GET', '/openapi.json');
    assert.equal(a.status, 200);
    assert.match(a.body.openapi, /^3\./);
    const ids = new Set<string>();
    for (const [p, methods] of Object.entries(
      a.body.paths as Record<string, Record<string, { operationId?: string }>>,
    )) {
      assert.ok(!p.startsWith('/api/v1'), p);
      for (const m of Object.values(methods)) if (m.operationId) ids.add(m.operationId);
    }
    for (const o of OPERATIONS) assert.ok(ids.has(o.name), `${o.name} in the OpenAPI document`);
    assert.ok(a.body.paths['/session']?.post, 'login is documented');
  });
});

describe('issue 16: admin.listen, a listener of the API and the console alone', () => {
  let dir: string;
  let server: TestServer;
  let adminUrl: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-admin-'));
    server = await startServer(testConfig(dir, {}, (c) => (c.admin.listen = { host: '127.0.0.1', port: 0 })));
    assert.ok(server.admin, 'a second fastify instance for admin.listen');
    await server.admin.listen({ host: '127.0.0.1', port: 0 });
    adminUrl = `http://127.0.0.1:${(server.admin.server.address() as { port: number }).port}`;
    await addTestUsers(server.services);
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the API and the console there, and neither on apt’s listener', async () => {
    const s = await login(adminUrl, 'vera', PASSWORD);
    assert.equal((await s.call('GET', '/audit')).status, 200);
    const root = await fetch(`${adminUrl}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/console/');
    assert.equal((await fetch(`${adminUrl}/console/`)).status, 200);
    // on apt's port /api/v1 is no API (the proxy answers: no such backend), and no console
    const apt = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'vera', password: PASSWORD }),
    });
    assert.notEqual(apt.status, 200);
    assert.equal(apt.headers.getSetCookie().length, 0);
    assert.notEqual((await fetch(`${server.url}/console/`)).status, 200);
  });

  it('closing the server closes the admin listener too', async () => {
    const admin = server.admin!;
    await server.close();
    assert.equal(admin.server.listening, false);
    server = undefined as unknown as TestServer;
  });
});
