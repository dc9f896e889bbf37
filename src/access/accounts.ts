// Accounts: users with roles and scrypt passwords, browser sessions (the cookie's value is shown
// once, only its SHA-256 kept, idle and absolute expiry), API tokens for scripts (shown once,
// hashed, expiring, revocable, capped at the owner's current role), and the login limits. No
// HTTP here: the API turns a cookie or a bearer into a Principal through this class, and checks
// the principal's role against the operation's.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { fail } from '../errors.js';
import { ApiTokenStore, type ApiTokenRow } from '../state/api-tokens.js';
import type { Db } from '../state/db.js';
import { SessionStore } from '../state/sessions.js';
import { UserStore, type UserRow } from '../state/users.js';
import { DEFAULT_LOGIN_LIMITS, LoginLimiter, type LoginLimits } from './login-limit.js';
import { checkPasswordPolicy, decoyHash, hashPassword, passwordChecksWaiting, verifyPassword } from './passwords.js';
import type { Principal } from './principal.js';
import { isRole, minRole, parseRole, roleAtLeast, type Role } from './roles.js';

export interface AccessSettings {
  /** a session unused this long ends (admin.session_idle) */
  sessionIdleMs: number;
  /** a session ends this long after login whatever its use (admin.session_max) */
  sessionMaxMs: number;
  loginLimits?: LoginLimits;
}

export interface UserInfo {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
  updatedAt: number;
}

export interface LoginResult {
  /** the cookie's value: returned here only, never stored */
  sessionToken: string;
  csrf: string;
  user: string;
  role: Role;
  /** the absolute expiry (epoch ms); the idle expiry moves with use */
  expiresAt: number;
}

export interface SessionInfo {
  principal: Principal;
  csrf: string;
  createdAt: number;
  expiresAt: number;
  /** when the session ends unless used before */
  idleExpiresAt: number;
}

export type ApiTokenState = 'active' | 'expired' | 'revoked';

export interface ApiTokenInfo {
  id: number;
  owner: string;
  name: string | null;
  /** the role it was given */
  role: Role;
  /** what it may do now: its role, capped at the owner's current role */
  effectiveRole: Role;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  lastUsed: number | null;
  state: ApiTokenState;
}

export interface ApiTokenCreated extends ApiTokenInfo {
  /** agt_api_…: shown once, never stored */
  token: string;
}

export interface ApiTokenSpec {
  role: Role;
  /** epoch ms; required, at most a year ahead */
  expiresAt: number;
  /** a label for the list */
  name?: string;
  /** the owner when it is not the caller (admin only; the local principal must name one) */
  user?: string;
}

export const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}$/;
export const API_TOKEN_PREFIX = 'agt_api_';
const API_TOKEN = /^agt_api_[A-Za-z0-9_-]{32}$/;
const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const API_TOKEN_MAX_MS = 365 * 86_400_000;
/** a user's sessions at once (browsers, `aptgate login`); a login beyond ends the oldest */
export const SESSIONS_PER_USER = 50;
/** active API tokens a user may have; of revoked and expired ones, as many newest are kept */
export const API_TOKENS_PER_USER = 100;
// last_used is written at most this often: a busy console must not write on every request
const TOUCH_MS = 60_000;
const PRUNE_MS = 60_000;
/** logins waiting for a password check beyond which another is refused (LOGIN_LIMITED) */
export const LOGIN_QUEUE_MAX = 8;

/** Whether a bearer value has the shape of an API token (an enrolment token `agt_…` does not). */
export function isApiTokenShaped(value: string): boolean {
  return API_TOKEN.test(value);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function checkUserName(name: string): string {
  if (typeof name !== 'string' || !USER_NAME.test(name))
    fail(
      'USAGE',
      `user name: lower-case letters, digits, _ . - (a letter or _ first, at most 32), got "${String(name).slice(0, 40)}"`,
    );
  return name;
}

function userInfo(u: UserRow): UserInfo {
  return {
    id: u.id,
    name: u.name,
    role: isRole(u.role) ? u.role : 'viewer',
    createdAt: u.createdAt,
    updatedAt: u.updatedAt,
  };
}

export class AccessService {
  private readonly users: UserStore;
  private readonly sessions: SessionStore;
  private readonly tokens: ApiTokenStore;
  private readonly limiter: LoginLimiter;
  private lastPrune = 0;

  constructor(
    db: Db,
    readonly settings: AccessSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.users = new UserStore(db);
    this.sessions = new SessionStore(db);
    this.tokens = new ApiTokenStore(db);
    this.limiter = new LoginLimiter(settings.loginLimits ?? DEFAULT_LOGIN_LIMITS, now);
  }

  // ---- users ----

  listUsers(): UserInfo[] {
    return this.users.list().map(userInfo);
  }

  user(name: string): UserInfo | undefined {
    const u = USER_NAME.test(name) ? this.users.byName(name) : undefined;
    return u && userInfo(u);
  }

  private existing(name: string): UserRow {
    checkUserName(name);
    return this.users.byName(name) ?? fail('NOT_FOUND', `no user "${name}"`);
  }

  async addUser(name: string, role: string, password: string): Promise<UserInfo> {
    checkUserName(name);
    const r = parseRole(role);
    checkPasswordPolicy(password);
    if (this.users.byName(name)) fail('USAGE', `user "${name}" exists already`);
    const hash = await hashPassword(password);
    const u = this.users.add(name, r, hash, this.now());
    if (!u) fail('USAGE', `user "${name}" exists already`);
    return userInfo(u);
  }

  /** Removes a user with their sessions and API tokens; never the last admin (nobody could manage users then). */
  removeUser(name: string): UserInfo {
    return this.users.atomically(() => {
      const u = this.existing(name);
      if (u.role === 'admin' && this.users.countRole('admin') <= 1)
        fail('USAGE', `"${name}" is the last admin: add another admin first`);
      this.users.remove(u.id);
      return userInfo(u);
    });
  }

  /** A new password; the user's sessions end (their API tokens stay). */
  async setPassword(name: string, password: string): Promise<UserInfo> {
    this.existing(name);
    const hash = await hashPassword(password);
    return this.users.atomically(() => {
      const u = this.existing(name);
      const now = this.now();
      this.users.setPasswordHash(u.id, hash, now);
      this.sessions.removeForUser(u.id);
      return userInfo(this.users.byId(u.id)!);
    });
  }

  /** A new role, effective at once for the user's sessions and tokens; never demotes the last admin. */
  setRole(name: string, role: string): UserInfo {
    const r = parseRole(role);
    return this.users.atomically(() => {
      const u = this.existing(name);
      if (u.role === 'admin' && r !== 'admin' && this.users.countRole('admin') <= 1)
        fail('USAGE', `"${name}" is the last admin: make another user admin first`);
      this.users.setRole(u.id, r, this.now());
      return userInfo(this.users.byId(u.id)!);
    });
  }

  // ---- sessions ----

  /**
   * Checks a password and opens a session. Failures say only "wrong user or password"
   * (UNAUTHENTICATED); too many for the account or the address: LOGIN_LIMITED, details.retryAfter
   * in seconds, before the password is even checked.
   */
  async login(name: string, password: string, address?: string): Promise<LoginResult> {
    const account = typeof name === 'string' ? name : '';
    // passwords are checked one at a time (passwords.ts): a login does not queue behind a flood
    if (passwordChecksWaiting() >= LOGIN_QUEUE_MAX)
      fail('LOGIN_LIMITED', 'the server is checking too many passwords at once: try again in a few seconds', {
        retryAfter: 5,
      });
    const attempt = this.limiter.attempt(account, address);
    const known = USER_NAME.test(account) ? this.users.withHash(account) : undefined;
    // an unknown name costs as much as a known one: the time does not tell which names exist
    const ok = await verifyPassword(
      typeof password === 'string' ? password : '',
      known?.passwordHash ?? (await decoyHash()),
    );
    // read again after the wait: the user may have been removed or changed meanwhile
    const u = ok && known ? this.users.byId(known.id) : undefined;
    if (!u || !isRole(u.role)) fail('UNAUTHENTICATED', 'wrong user or password');
    attempt.succeeded();
    const now = this.now();
    this.prune(now);
    const sessionToken = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const expiresAt = now + this.settings.sessionMaxMs;
    this.sessions.add({
      idHash: sha256(sessionToken),
      userId: u.id,
      csrf,
      createdAt: now,
      lastUsed: now,
      expiresAt,
      address: address ?? null,
    });
    // logging in again and again must not add rows without end: the oldest sessions end first
    this.sessions.keepNewest(u.id, SESSIONS_PER_USER);
    return { sessionToken, csrf, user: u.name, role: u.role, expiresAt };
  }

  /** The session of a cookie's value, or undefined (unknown, idle too long, past its end; an ended one is deleted). */
  session(rawToken: string, address?: string): SessionInfo | undefined {
    if (typeof rawToken !== 'string' || !SESSION_TOKEN.test(rawToken)) return undefined;
    const idHash = sha256(rawToken);
    const s = this.sessions.byHash(idHash);
    if (!s || !isRole(s.userRole)) return undefined;
    const now = this.now();
    if (now >= s.expiresAt || now - s.lastUsed >= this.settings.sessionIdleMs) {
      this.sessions.remove(idHash);
      return undefined;
    }
    let lastUsed = s.lastUsed;
    if (now - s.lastUsed >= TOUCH_MS) this.sessions.touch(idHash, (lastUsed = now));
    return {
      principal: { kind: 'user', name: s.userName, role: s.userRole, ...(address === undefined ? {} : { address }) },
      csrf: s.csrf,
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
      idleExpiresAt: Math.min(s.expiresAt, lastUsed + this.settings.sessionIdleMs),
    };
  }

  sessionPrincipal(rawToken: string, address?: string): Principal | undefined {
    return this.session(rawToken, address)?.principal;
  }

  /** The session's CSRF token, or undefined when the session is not valid. */
  csrfOf(rawToken: string): string | undefined {
    return this.session(rawToken)?.csrf;
  }

  /** Whether `given` is the session's CSRF token (compared in constant time). */
  csrfMatches(rawToken: string, given: string | undefined): boolean {
    const want = this.csrfOf(rawToken);
    if (want === undefined || typeof given !== 'string') return false;
    const a = Buffer.from(want);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Ends a session; false when there was none. */
  logout(rawToken: string): boolean {
    if (typeof rawToken !== 'string' || !SESSION_TOKEN.test(rawToken)) return false;
    return this.sessions.remove(sha256(rawToken));
  }

  /** Forgets ended sessions (idle or past their end); returns how many. Logins do it at most once a minute. */
  pruneSessions(): number {
    const now = this.now();
    this.lastPrune = now;
    return this.sessions.prune(now, now - this.settings.sessionIdleMs);
  }

  private prune(now: number): void {
    if (now - this.lastPrune >= PRUNE_MS) this.pruneSessions();
  }

  // ---- API tokens ----

  /**
   * A token for scripts, shown once. Its role is at most the owner's and the caller's
   * (FORBIDDEN); it expires (required, at most a year ahead, and made with a token no later than
   * that token: USAGE). Only an admin makes one for
   * another user; the local principal, who has no account, must name the owner.
   */
  createApiToken(by: Principal, spec: ApiTokenSpec): ApiTokenCreated {
    const role = parseRole(spec.role);
    const ownerName = spec.user ?? (by.kind === 'local' ? undefined : by.name);
    if (ownerName === undefined) fail('USAGE', 'name the user who owns the token (the command line has no account)');
    if (ownerName !== by.name && !roleAtLeast(by.role, 'admin'))
      fail('FORBIDDEN', 'only an admin creates API tokens for another user');
    const now = this.now();
    if (!Number.isFinite(spec.expiresAt) || spec.expiresAt <= now)
      fail('USAGE', 'an API token needs an expiry in the future');
    if (spec.expiresAt > now + API_TOKEN_MAX_MS) fail('USAGE', 'an API token expires within a year');
    // a token that could make a later one would never expire: whoever holds it keeps the role
    const maker = by.kind === 'token' && by.tokenId !== undefined ? this.tokens.byId(by.tokenId) : undefined;
    if (by.kind === 'token' && (!maker || spec.expiresAt > maker.expiresAt))
      fail(
        'USAGE',
        `a token made with an API token expires no later than that token (${maker ? new Date(maker.expiresAt).toISOString() : 'unknown'}): log in for a longer one`,
      );
    const name = spec.name === undefined || spec.name === '' ? null : checkLabel(spec.name);
    const token = API_TOKEN_PREFIX + randomBytes(24).toString('base64url');
    const id = this.users.atomically(() => {
      const owner = this.existing(ownerName);
      if (!isRole(owner.role) || !roleAtLeast(owner.role, role))
        fail('FORBIDDEN', `a token's role is at most its owner's (${owner.name} is ${owner.role})`);
      if (!roleAtLeast(by.role, role)) fail('FORBIDDEN', `a token's role is at most yours (${by.role})`);
      // a bounded list per user: any account could otherwise add rows (and length to every
      // admin's token list) as fast as it can ask
      if (this.tokens.countActive(owner.id, now) >= API_TOKENS_PER_USER)
        fail('USAGE', `${owner.name} has ${API_TOKENS_PER_USER} active API tokens: revoke one first`);
      this.tokens.forgetDead(owner.id, now, API_TOKENS_PER_USER);
      return this.tokens.add({
        tokenHash: sha256(token),
        userId: owner.id,
        name,
        role,
        createdAt: now,
        expiresAt: spec.expiresAt,
      });
    });
    return { ...this.tokenInfo(this.tokens.byId(id)!, now), token };
  }

  /** An admin (or the local principal) sees every token, or one user's; anyone else only their own. */
  listApiTokens(by: Principal, opts: { user?: string } = {}): ApiTokenInfo[] {
    const admin = roleAtLeast(by.role, 'admin');
    const user = opts.user ?? (admin ? undefined : by.name);
    if (user !== undefined && user !== by.name && !admin)
      fail('FORBIDDEN', "only an admin lists another user's API tokens");
    const now = this.now();
    const owner = user === undefined ? undefined : this.users.byName(user);
    if (user !== undefined && !owner) return [];
    return this.tokens.list(owner?.id).map((t) => this.tokenInfo(t, now));
  }

  /** Revokes a token: the caller's own, or any for an admin. Revoking twice keeps the first time. */
  revokeApiToken(id: number, by: Principal): ApiTokenInfo {
    const t = Number.isSafeInteger(id) ? this.tokens.byId(id) : undefined;
    if (!t) fail('NOT_FOUND', `no API token ${id}`);
    if (t.owner !== by.name && !roleAtLeast(by.role, 'admin'))
      fail('FORBIDDEN', "only an admin revokes another user's API token");
    const now = this.now();
    this.tokens.revoke(id, now);
    return this.tokenInfo(this.tokens.byId(id)!, now);
  }

  /**
   * The principal of an `Authorization: Bearer` value, or undefined: not an API token (an
   * enrolment token, an agent's secret), unknown, expired, revoked, or its owner removed. Its role
   * is the lower of the token's and the owner's current one.
   */
  bearerPrincipal(raw: string, address?: string): Principal | undefined {
    if (typeof raw !== 'string' || !API_TOKEN.test(raw)) return undefined;
    const t = this.tokens.byHash(sha256(raw));
    if (!t) return undefined;
    const now = this.now();
    const info = this.tokenInfo(t, now);
    if (info.state !== 'active') return undefined;
    if (t.lastUsed === null || now - t.lastUsed >= TOUCH_MS) this.tokens.touch(t.id, now);
    return {
      kind: 'token',
      name: t.owner,
      role: info.effectiveRole,
      tokenId: t.id,
      ...(address === undefined ? {} : { address }),
    };
  }

  private tokenInfo(t: ApiTokenRow, now: number): ApiTokenInfo {
    const role: Role = isRole(t.role) ? t.role : 'viewer';
    const ownerRole: Role = isRole(t.ownerRole) ? t.ownerRole : 'viewer';
    return {
      id: t.id,
      owner: t.owner,
      name: t.name,
      role,
      effectiveRole: minRole(role, ownerRole),
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      revokedAt: t.revokedAt,
      lastUsed: t.lastUsed,
      state: t.revokedAt !== null ? 'revoked' : now >= t.expiresAt ? 'expired' : 'active',
    };
  }
}

/** A token's label: one printable line, at most 64 characters. */
function checkLabel(label: string): string {
  if (typeof label !== 'string' || label.length > 64 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(label))
    fail('USAGE', 'a token name is one printable line of at most 64 characters');
  return label;
}
