// Issue 16 (accounts and audit, the domain without HTTP): scrypt passwords, login limits per
// account and per address, session idle and absolute expiry, API tokens capped at their owner's
// current role (demoted, removed, expired, revoked), enrolment tokens that are no API tokens,
// the append-only audit log with secrets redacted, and migration 10 over a database of version 9.
// Time moves by an injected clock: no sleeps.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AccessService, isApiTokenShaped, type AccessSettings } from '../src/access/accounts.js';
import { AuditLog, REDACTED } from '../src/access/audit.js';
import { hashPassword, verifyPassword } from '../src/access/passwords.js';
import { localPrincipal, type Principal } from '../src/access/principal.js';
import { minRole, parseRole, roleAtLeast } from '../src/access/roles.js';
import { openFleet } from '../src/cli/fleet-context.js';
import { isAptgateError, type ErrorCode } from '../src/errors.js';
import { createToken } from '../src/fleet/queries/tokens.js';
import { openDb, type Db } from '../src/state/db.js';
import { migrations } from '../src/state/migrations.js';
import { testConfig } from './helpers/server.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const PW = 'correct horse battery';

async function rejects(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<Error> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    assert.ok(isAptgateError(err, code), `expected ${code}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${code}`);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-access-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
/** A fresh database, a clock at a fixed time, the service over both. */
function world(settings: Partial<AccessSettings> = {}) {
  const db = openDb(path.join(dir, `w${++n}.db`));
  const clock = { t: Date.UTC(2026, 0, 5, 9, 0, 0) };
  const now = () => clock.t;
  const access = new AccessService(db, { sessionIdleMs: HOUR, sessionMaxMs: 4 * HOUR, ...settings }, now);
  return { db, clock, now, access, audit: new AuditLog(db, now) };
}

describe('issue 16: passwords', () => {
  it('hash and verify; a wrong password fails; a hash is not the password and two hashes of one differ', async () => {
    const a = await hashPassword(PW);
    const b = await hashPassword(PW);
    assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.ok(!a.includes(PW) && !a.includes(Buffer.from(PW).toString('base64url')));
    assert.notEqual(a, b, 'salted');
    assert.equal(await verifyPassword(PW, a), true);
    assert.equal(await verifyPassword(PW, b), true);
    assert.equal(await verifyPassword(PW + ' ', a), false);
    assert.equal(await verifyPassword('correct horse battery'.toUpperCase(), a), false);
    // malformed or hostile stored forms fail, they do not throw or cost gigabytes
    for (const bad of ['', 'plain', a.replace('32768', '4194304'), a.replace('32768', '1000'), a.slice(0, -10)])
      assert.equal(await verifyPassword(PW, bad), false, bad);
  });

  it('refuses empty, short and over-long passwords (USAGE)', async () => {
    for (const pw of ['', '123456789', 'x'.repeat(1025)]) await rejects(hashPassword(pw), 'USAGE');
    assert.match(await hashPassword('1234567890'), /^scrypt\$/);
    // characters, not bytes: ten accented letters are ten
    assert.match(await hashPassword('é'.repeat(10)), /^scrypt\$/);
  });

  it('roles are ordered; a bad role is USAGE', async () => {
    assert.ok(roleAtLeast('admin', 'operator') && roleAtLeast('operator', 'operator'));
    assert.ok(!roleAtLeast('viewer', 'operator'));
    assert.equal(minRole('admin', 'viewer'), 'viewer');
    assert.equal(parseRole('operator'), 'operator');
    for (const r of ['root', 'Admin', '', 'admin ']) await rejects(() => parseRole(r), 'USAGE');
  });
});

describe('issue 16: users', () => {
  it('names are checked, duplicates refused, listings carry no hash', async () => {
    const { access } = world();
    for (const name of ['Alice', '1alice', 'a b', 'a'.repeat(33), '', 'alice/x', '../etc'])
      await rejects(access.addUser(name, 'viewer', PW), 'USAGE');
    await rejects(access.addUser('alice', 'root', PW), 'USAGE');
    await rejects(access.addUser('alice', 'viewer', 'short'), 'USAGE');
    const alice = await access.addUser('alice', 'admin', PW);
    assert.deepEqual({ name: alice.name, role: alice.role }, { name: 'alice', role: 'admin' });
    await rejects(access.addUser('alice', 'viewer', PW), 'USAGE');
    await access.addUser('_svc.bot-1', 'viewer', PW);
    const list = access.listUsers();
    assert.deepEqual(
      list.map((u) => [u.name, u.role]),
      [
        ['_svc.bot-1', 'viewer'],
        ['alice', 'admin'],
      ],
    );
    assert.ok(!JSON.stringify(list).includes('scrypt'), 'no hash in the list');
    assert.deepEqual(Object.keys(list[0]!).sort(), ['createdAt', 'id', 'name', 'role', 'updatedAt']);
  });

  it('the last admin can be neither removed nor demoted; with a second admin both work', async () => {
    const { access } = world();
    await access.addUser('alice', 'admin', PW);
    await rejects(() => access.removeUser('alice'), 'USAGE');
    await rejects(() => access.setRole('alice', 'operator'), 'USAGE');
    await rejects(() => access.removeUser('nobody'), 'NOT_FOUND');
    await access.addUser('bob', 'admin', PW);
    assert.equal(access.setRole('alice', 'operator').role, 'operator');
    await rejects(() => access.removeUser('bob'), 'USAGE');
    assert.equal(access.removeUser('alice').name, 'alice');
    assert.deepEqual(
      access.listUsers().map((u) => u.name),
      ['bob'],
    );
  });
});

describe('issue 16: logins and sessions', () => {
  it('a wrong password and an unknown user get the same answer; a right one opens a session', async () => {
    const { access } = world();
    await access.addUser('alice', 'operator', PW);
    const wrong = await rejects(access.login('alice', 'not the password', '192.0.2.1'), 'UNAUTHENTICATED');
    const unknown = await rejects(access.login('mallory', PW, '192.0.2.1'), 'UNAUTHENTICATED');
    assert.equal(wrong.message, unknown.message);
    assert.ok(!wrong.message.includes('not the password'));
    const s = await access.login('alice', PW, '192.0.2.1');
    assert.match(s.sessionToken, /^[A-Za-z0-9_-]{43}$/);
    assert.match(s.csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual({ user: s.user, role: s.role }, { user: 'alice', role: 'operator' });
    const p = access.sessionPrincipal(s.sessionToken, '192.0.2.9');
    assert.deepEqual(p, { kind: 'user', name: 'alice', role: 'operator', address: '192.0.2.9' });
    assert.equal(access.csrfOf(s.sessionToken), s.csrf);
    assert.equal(access.csrfMatches(s.sessionToken, s.csrf), true);
    assert.equal(access.csrfMatches(s.sessionToken, s.csrf.slice(1) + 'A'), false);
    assert.equal(access.csrfMatches(s.sessionToken, undefined), false);
    assert.equal(access.sessionPrincipal(s.sessionToken.slice(1) + 'A'), undefined);
    assert.equal(access.sessionPrincipal('x'), undefined);
    assert.equal(access.logout(s.sessionToken), true);
    assert.equal(access.sessionPrincipal(s.sessionToken), undefined);
    assert.equal(access.logout(s.sessionToken), false);
  });

  it('only the hash of the session token is stored; a role change applies to open sessions, a new password ends them', async () => {
    const { access, db } = world();
    await access.addUser('bob', 'admin', PW);
    await access.addUser('alice', 'operator', PW);
    const s = await access.login('alice', PW, '192.0.2.1');
    const rows = db.prepare('SELECT * FROM session').all();
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(s.sessionToken));
    access.setRole('alice', 'viewer');
    assert.equal(access.sessionPrincipal(s.sessionToken)?.role, 'viewer');
    await access.setPassword('alice', 'another long password');
    assert.equal(access.sessionPrincipal(s.sessionToken), undefined);
    await rejects(access.login('alice', PW), 'UNAUTHENTICATED');
    assert.equal((await access.login('alice', 'another long password')).user, 'alice');
    // a removed user's sessions go with them
    const t = await access.login('alice', 'another long password');
    access.removeUser('alice');
    assert.equal(access.sessionPrincipal(t.sessionToken), undefined);
  });

  it('five failures for one account refuse even the right password (LOGIN_LIMITED, Retry-After) until the window has passed', async () => {
    const { access, clock } = world();
    await access.addUser('alice', 'admin', PW);
    // from five different addresses: the account's limit, not an address's
    for (let i = 1; i <= 5; i++)
      await rejects(access.login('alice', 'wrong password!', `192.0.2.${i}`), 'UNAUTHENTICATED');
    const limited = await rejects(access.login('alice', PW, '198.51.100.7'), 'LOGIN_LIMITED');
    const retry = (limited as { details?: { retryAfter?: number } }).details?.retryAfter;
    assert.ok(typeof retry === 'number' && retry > 0 && retry <= 15 * 60, `retryAfter ${retry}`);
    assert.match(limited.message, new RegExp(`try again in ${retry} s`));
    // another account from the same address is not affected
    await access.addUser('bob', 'viewer', PW);
    assert.equal((await access.login('bob', PW, '198.51.100.7')).user, 'bob');
    clock.t += 15 * MIN;
    assert.equal((await access.login('alice', PW, '198.51.100.7')).user, 'alice');
    // successes are not failures: they never lock an account
    for (let i = 0; i < 8; i++) await access.login('alice', PW, '198.51.100.7');
  });

  it('failures from one address (an IPv6 /64 counts as one) are limited across accounts', async () => {
    const { access, clock } = world({
      loginLimits: { account: { count: 5, windowMs: 15 * MIN }, address: { count: 6, windowMs: 15 * MIN } },
    });
    await access.addUser('alice', 'admin', PW);
    for (let i = 0; i < 6; i++)
      await rejects(access.login(`user${i}`, 'wrong password!', `2001:db8:1:2::${i + 1}`), 'UNAUTHENTICATED');
    await rejects(access.login('alice', PW, '2001:db8:1:2::99'), 'LOGIN_LIMITED');
    await rejects(access.login('alice', PW, '2001:0db8:0001:0002:ffff::1'), 'LOGIN_LIMITED');
    // another network is not
    assert.equal((await access.login('alice', PW, '2001:db8:1:3::1')).user, 'alice');
    clock.t += 15 * MIN;
    assert.equal((await access.login('alice', PW, '2001:db8:1:2::99')).user, 'alice');
  });

  it('the default address limit is 20 failures per 15 minutes', async () => {
    const { access } = world();
    await access.addUser('alice', 'admin', PW);
    for (let i = 0; i < 20; i++)
      await rejects(access.login(`u${i}`, 'wrong password!', '203.0.113.5'), 'UNAUTHENTICATED');
    await rejects(access.login('alice', PW, '203.0.113.5'), 'LOGIN_LIMITED');
    assert.equal((await access.login('alice', PW, '::ffff:203.0.113.6')).user, 'alice');
    await rejects(access.login('alice', PW, '::ffff:203.0.113.5'), 'LOGIN_LIMITED');
  });

  it('parallel guesses cannot slip past the limit while scrypt runs', async () => {
    const { access } = world();
    await access.addUser('alice', 'admin', PW);
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => access.login('alice', `guess number ${i}`, `192.0.2.${i + 1}`)),
    );
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok'));
    assert.equal(codes.filter((c) => c === 'UNAUTHENTICATED').length, 5, codes.join(' '));
    assert.equal(codes.filter((c) => c === 'LOGIN_LIMITED').length, 7, codes.join(' '));
  });

  it('a session ends after the idle time without use, and at its absolute end whatever its use', async () => {
    const { access, clock, db } = world();
    await access.addUser('alice', 'viewer', PW);
    const t0 = clock.t;
    const s = await access.login('alice', PW, '192.0.2.1');
    assert.equal(s.expiresAt, t0 + 4 * HOUR);
    const lastUsed = () => (db.prepare('SELECT last_used AS l FROM session').get() as { l: number } | undefined)?.l;
    // used within the minute: nothing is written
    clock.t = t0 + 30_000;
    assert.ok(access.sessionPrincipal(s.sessionToken));
    assert.equal(lastUsed(), t0);
    // used every 50 minutes: alive until the absolute end
    for (let k = 1; k * 50 * MIN < 4 * HOUR; k++) {
      clock.t = t0 + k * 50 * MIN;
      assert.ok(access.sessionPrincipal(s.sessionToken), `at ${k * 50} min`);
      assert.equal(lastUsed(), clock.t);
    }
    clock.t = t0 + 4 * HOUR;
    assert.equal(access.sessionPrincipal(s.sessionToken), undefined, 'past the absolute end');
    assert.equal(lastUsed(), undefined, 'the ended session is deleted');

    // idle: an hour without use ends it
    const u = await access.login('alice', PW, '192.0.2.1');
    const t1 = clock.t;
    clock.t = t1 + HOUR - 1;
    const info = access.session(u.sessionToken);
    assert.equal(info?.idleExpiresAt, clock.t + HOUR);
    clock.t += HOUR - 1;
    assert.ok(access.sessionPrincipal(u.sessionToken));
    clock.t += HOUR;
    assert.equal(access.sessionPrincipal(u.sessionToken), undefined, 'idle for an hour');

    // sessions nobody comes back to are forgotten by the next prune
    await access.login('alice', PW, '192.0.2.1');
    await access.login('alice', PW, '192.0.2.1');
    clock.t += HOUR;
    assert.equal(access.pruneSessions(), 2);
    assert.equal((db.prepare('SELECT count(*) AS n FROM session').get() as { n: number }).n, 0);
  });
});

describe('issue 16: API tokens', () => {
  it('a token is shown once, stored hashed, capped at its owner (demoted → capped, removed → dead)', async () => {
    const { access, clock, db } = world();
    await access.addUser('root', 'admin', PW);
    await access.addUser('alice', 'operator', PW);
    const alice: Principal = { kind: 'user', name: 'alice', role: 'operator' };
    const made = access.createApiToken(alice, { role: 'operator', expiresAt: clock.t + 30 * DAY, name: 'deploy' });
    assert.match(made.token, /^agt_api_[A-Za-z0-9_-]{32}$/);
    assert.ok(isApiTokenShaped(made.token));
    assert.ok(!JSON.stringify(db.prepare('SELECT * FROM api_token').all()).includes(made.token));
    assert.deepEqual(access.bearerPrincipal(made.token, '192.0.2.4'), {
      kind: 'token',
      name: 'alice',
      role: 'operator',
      tokenId: made.id,
      address: '192.0.2.4',
    });
    const listed = access.listApiTokens(alice);
    assert.equal(listed.length, 1);
    assert.ok(!('token' in listed[0]!), 'the list never shows the token');
    assert.equal(listed[0]!.lastUsed, clock.t);

    access.setRole('alice', 'viewer');
    assert.equal(access.bearerPrincipal(made.token)?.role, 'viewer', 'capped at the demoted owner');
    assert.equal(access.listApiTokens(localPrincipal('root'))[0]!.effectiveRole, 'viewer');
    access.setRole('alice', 'admin');
    assert.equal(access.bearerPrincipal(made.token)?.role, 'operator', 'never above its own role');
    access.removeUser('alice');
    assert.equal(access.bearerPrincipal(made.token), undefined, "a removed owner's token is dead");
    assert.deepEqual(access.listApiTokens(localPrincipal('root')), []);
  });

  it('expired and revoked tokens open nothing; only the owner or an admin revokes', async () => {
    const { access, clock } = world();
    await access.addUser('root', 'admin', PW);
    await access.addUser('alice', 'operator', PW);
    await access.addUser('bob', 'operator', PW);
    const alice: Principal = { kind: 'user', name: 'alice', role: 'operator' };
    const bob: Principal = { kind: 'user', name: 'bob', role: 'operator' };
    const root: Principal = { kind: 'user', name: 'root', role: 'admin' };
    const short = access.createApiToken(alice, { role: 'viewer', expiresAt: clock.t + HOUR });
    const long = access.createApiToken(alice, { role: 'operator', expiresAt: clock.t + 90 * DAY });
    assert.ok(access.bearerPrincipal(short.token));
    clock.t += HOUR;
    assert.equal(access.bearerPrincipal(short.token), undefined, 'expired');
    assert.equal(access.listApiTokens(alice).find((t) => t.id === short.id)?.state, 'expired');

    await rejects(() => access.revokeApiToken(long.id, bob), 'FORBIDDEN');
    assert.ok(access.bearerPrincipal(long.token));
    await rejects(() => access.listApiTokens(bob, { user: 'alice' }), 'FORBIDDEN');
    assert.deepEqual(access.listApiTokens(bob), []);
    const revoked = access.revokeApiToken(long.id, alice);
    assert.equal(revoked.state, 'revoked');
    assert.equal(access.bearerPrincipal(long.token), undefined, 'revoked');
    const again = access.createApiToken(alice, { role: 'operator', expiresAt: clock.t + DAY });
    assert.equal(access.revokeApiToken(again.id, root).state, 'revoked', 'an admin revokes anyone’s');
    await rejects(() => access.revokeApiToken(9999, root), 'NOT_FOUND');
  });

  it('role above the owner or the caller: FORBIDDEN; no expiry, a past one or beyond a year: USAGE', async () => {
    const { access, clock } = world();
    await access.addUser('root', 'admin', PW);
    await access.addUser('alice', 'operator', PW);
    const alice: Principal = { kind: 'user', name: 'alice', role: 'operator' };
    const in30d = clock.t + 30 * DAY;
    await rejects(() => access.createApiToken(alice, { role: 'admin', expiresAt: in30d }), 'FORBIDDEN');
    await rejects(() => access.createApiToken(alice, { role: 'viewer', expiresAt: in30d, user: 'root' }), 'FORBIDDEN');
    await rejects(() => access.createApiToken(alice, { role: 'viewer', expiresAt: NaN }), 'USAGE');
    await rejects(() => access.createApiToken(alice, { role: 'viewer', expiresAt: clock.t }), 'USAGE');
    await rejects(() => access.createApiToken(alice, { role: 'viewer', expiresAt: clock.t + 366 * DAY }), 'USAGE');
    await rejects(() => access.createApiToken(alice, { role: 'viewer', expiresAt: in30d, name: 'a\nb' }), 'USAGE');
    // a token principal cannot mint a token above its own (capped) role
    const v = access.createApiToken(alice, { role: 'viewer', expiresAt: in30d });
    const asToken = access.bearerPrincipal(v.token)!;
    await rejects(() => access.createApiToken(asToken, { role: 'operator', expiresAt: in30d }), 'FORBIDDEN');
    // the command line has no account: it names the owner; an admin may
    const local = localPrincipal();
    await rejects(() => access.createApiToken(local, { role: 'viewer', expiresAt: in30d }), 'USAGE');
    assert.equal(access.createApiToken(local, { role: 'admin', expiresAt: in30d, user: 'root' }).owner, 'root');
    assert.equal(
      access.createApiToken(local, { role: 'viewer', expiresAt: clock.t + 365 * DAY, user: 'alice' }).owner,
      'alice',
    );
  });

  it("an enrolment token (agt_…) or an agent's secret is no API token", async () => {
    const sub = await mkdtemp(path.join(dir, 'fleet-'));
    const config = testConfig(sub, {});
    openDb(config.db).close();
    const ctx = openFleet(config);
    try {
      const { access } = ctx.services;
      await access.addUser('alice', 'admin', PW);
      const enrol = createToken(ctx, { server: 'http://127.0.0.1:3142' }).token;
      assert.match(enrol, /^agt_/);
      assert.equal(isApiTokenShaped(enrol), false);
      assert.equal(access.bearerPrincipal(enrol), undefined);
      // an API token's prefix glued onto an enrolment token's body, or padded out to the length
      assert.equal(access.bearerPrincipal(`agt_api_${enrol.slice(4)}`), undefined);
      assert.equal(access.bearerPrincipal(`agt_api_${'A'.repeat(32)}`), undefined);
      assert.equal(access.bearerPrincipal('0123456789abcdef0123456789abcdef0123456789abcdef'), undefined);
      // the services carry the configured session times
      assert.equal(access.settings.sessionIdleMs, config.admin.sessionIdleMs);
      assert.equal(access.settings.sessionMaxMs, config.admin.sessionMaxMs);
    } finally {
      await ctx.services.stop();
      ctx.close();
    }
  });
});

describe('issue 16: the audit log', () => {
  let w: ReturnType<typeof world>;
  beforeEach(() => {
    w = world();
  });

  it('is append-only in the database: UPDATE and DELETE raise', () => {
    const e = w.audit.record({
      principal: localPrincipal('root'),
      action: 'users.add',
      args: { name: 'bob' },
      result: 'ok',
    });
    assert.throws(() => w.db.prepare("UPDATE audit SET actor = 'nobody' WHERE id = ?").run(e.id), /append-only/);
    assert.throws(() => w.db.prepare('DELETE FROM audit WHERE id = ?').run(e.id), /append-only/);
    assert.throws(() => w.db.prepare('DELETE FROM audit').run(), /append-only/);
    assert.deepEqual(
      w.audit.query().map((x) => [x.id, x.actor]),
      [[e.id, 'local root']],
    );
  });

  it('redacts secrets by key and by shape, and caps arguments at 8 KiB', () => {
    const apiToken = `agt_api_${'x'.repeat(32)}`;
    const e = w.audit.record({
      principal: { kind: 'token', name: 'alice', role: 'admin', tokenId: 3, address: '192.0.2.8' },
      action: 'users.passwd',
      args: {
        name: 'bob',
        password: 'hunter2hunter2',
        nested: [{ new_password: 'swordfish-1234', newPassword: 'swordfish-5678', tokenId: 7 }],
        apiToken,
        secret: 's3cr3t-value',
        note: `pasted ${apiToken} by mistake`,
      },
      result: 'ok',
      detail: { csrf: 'csrf-value-123' },
    });
    const stored = JSON.stringify(w.db.prepare('SELECT * FROM audit WHERE id = ?').get(e.id));
    for (const secret of [
      'hunter2hunter2',
      'swordfish-1234',
      'swordfish-5678',
      apiToken,
      's3cr3t-value',
      'csrf-value-123',
    ])
      assert.ok(!stored.includes(secret), `${secret} stored: ${stored}`);
    const [got] = w.audit.query();
    assert.deepEqual(got!.args, {
      name: 'bob',
      password: REDACTED,
      nested: [{ new_password: REDACTED, newPassword: REDACTED, tokenId: 7 }],
      apiToken: REDACTED,
      secret: REDACTED,
      note: `pasted ${REDACTED} by mistake`,
    });
    assert.deepEqual(
      { kind: got!.actorKind, actor: got!.actor, tokenId: got!.tokenId, address: got!.address },
      { kind: 'token', actor: 'alice', tokenId: 3, address: '192.0.2.8' },
    );

    const big = w.audit.record({
      principal: localPrincipal('root'),
      action: 'x.y',
      args: { text: 'a'.repeat(20_000) },
      result: 'ok',
    });
    const raw = w.db.prepare('SELECT args FROM audit WHERE id = ?').get(big.id) as { args: string };
    assert.ok(raw.args.length <= 8 * 1024);
    assert.deepEqual(JSON.parse(raw.args), { truncated: true, bytes: 20_011 });
  });

  it('answers newest first, filtered by time, user and action (a prefix of dotted names), paged by id', async () => {
    const { audit, clock } = w;
    const alice: Principal = { kind: 'user', name: 'alice', role: 'admin', address: '192.0.2.1' };
    const local = localPrincipal('root');
    const t0 = clock.t;
    audit.record({ principal: local, action: 'users.add', args: { name: 'alice' }, result: 'ok' });
    clock.t += DAY;
    audit.record({ principal: alice, action: 'gate.promote', args: { stage: 'test' }, result: 'GATE_CLOSED' });
    clock.t += DAY;
    audit.record({ principal: alice, action: 'users_x.add', result: 'ok' });
    audit.record({ principal: alice, action: 'users', result: 'ok' });
    const actions = (q: Parameters<AuditLog['query']>[0]) => audit.query(q).map((e) => e.action);
    assert.deepEqual(actions({}), ['users', 'users_x.add', 'gate.promote', 'users.add']);
    assert.deepEqual(actions({ user: 'alice' }), ['users', 'users_x.add', 'gate.promote']);
    assert.deepEqual(actions({ user: 'local root' }), ['users.add']);
    assert.deepEqual(actions({ action: 'users' }), ['users', 'users.add']);
    assert.deepEqual(actions({ action: 'users.add' }), ['users.add']);
    assert.deepEqual(actions({ since: t0 + DAY }), ['users', 'users_x.add', 'gate.promote']);
    assert.deepEqual(actions({ limit: 2 }), ['users', 'users_x.add']);
    const page = audit.query({ limit: 2 });
    assert.deepEqual(actions({ limit: 2, before: page.at(-1)!.id }), ['gate.promote', 'users.add']);
    assert.equal(audit.query({ action: 'gate' })[0]!.result, 'GATE_CLOSED');
    await rejects(() => audit.query({ limit: 0 }), 'USAGE');
    await rejects(() => audit.query({ action: "x' OR 1=1 --" }), 'USAGE');
  });

  it('logins are recorded with the name as given (cut), the address and the result', async () => {
    w.audit.recordLogin('alice', '192.0.2.3', 'ok');
    w.audit.recordLogin('x'.repeat(500), '192.0.2.4', 'UNAUTHENTICATED');
    w.audit.recordLogin(undefined, undefined, 'LOGIN_LIMITED');
    assert.deepEqual(
      w.audit.query({ action: 'session' }).map((e) => [e.actor.length, e.address, e.result, e.actorKind]),
      [
        [0, null, 'LOGIN_LIMITED', 'user'],
        [64, '192.0.2.4', 'UNAUTHENTICATED', 'user'],
        [5, '192.0.2.3', 'ok', 'user'],
      ],
    );
  });

  it('recorded() records the result or the error code and throws it on', async () => {
    const p = localPrincipal('root');
    assert.equal(
      await w.audit.recorded(
        { principal: p, action: 'users.add', args: { name: 'a' } },
        () => 42,
        (r) => ({ r }),
      ),
      42,
    );
    await rejects(
      w.audit.recorded({ principal: p, action: 'users.remove', args: { name: 'b' } }, () => w.access.removeUser('b')),
      'NOT_FOUND',
    );
    assert.deepEqual(
      w.audit.query().map((e) => [e.action, e.result, e.detail]),
      [
        ['users.remove', 'NOT_FOUND', null],
        ['users.add', 'ok', { r: 42 }],
      ],
    );
  });
});

describe('issue 16: migration 10', () => {
  it('upgrades a database of version 9 and keeps its rows', () => {
    const file = path.join(dir, 'v9.db');
    let db: Db = openDb(file);
    // back to version 9: what this migration created is dropped
    db.exec(`DROP TABLE audit; DROP TABLE api_token; DROP TABLE session; DROP TABLE user;`);
    // and what the later ones added (12: counts of cached answers, reboot flag, package index; 13: their indexes)
    db.exec(`DROP INDEX machine_report_compact; DROP INDEX outdated_cache_counts;
      ALTER TABLE outdated_cache DROP COLUMN outdated; ALTER TABLE outdated_cache DROP COLUMN security;
      ALTER TABLE machine_report DROP COLUMN reboot_required; DROP INDEX inst_pkg_by_package;`);
    db.pragma('user_version = 9');
    db.prepare('INSERT INTO client (address, first_seen, last_seen) VALUES (?, ?, ?)').run('192.0.2.1', 1, 2);
    db.close();
    assert.ok(migrations.at(-1)!.version >= 10);
    db = openDb(file);
    try {
      // 10 and the migrations after it (each leaves what exists alone)
      assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
      const names = (
        db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')").all() as Array<{ name: string }>
      ).map((r) => r.name);
      for (const t of ['user', 'session', 'api_token', 'audit', 'audit_no_update', 'audit_no_delete'])
        assert.ok(names.includes(t), t);
      assert.equal((db.prepare('SELECT count(*) AS n FROM client').get() as { n: number }).n, 1);
      const access = new AccessService(db, { sessionIdleMs: HOUR, sessionMaxMs: DAY });
      assert.deepEqual(access.listUsers(), []);
    } finally {
      db.close();
    }
  });
});
