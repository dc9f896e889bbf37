// Browser sessions: POST /session logs in (name and password → the session cookie, and the CSRF
// token in the answer), GET /session says who is logged in (or which token is used), DELETE
// /session logs out. Logins are limited per account and per address (access/login-limit.ts) and
// every attempt, good or bad, is in the audit log with the name as given (of a flood of refused
// ones, the first per address or name while the limit lasts).
import type { FastifyInstance } from 'fastify';
import { loginJson } from '../access/json.js';
import type { Services } from '../assembly/services.js';
import { isAptgateError } from '../errors.js';
import { addressKey } from '../sys/address.js';
import { callerOf, clearSessionCookie, sessionCookie, setSessionCookie } from './auth.js';

const iso = (ms: number) => new Date(ms).toISOString();

const NOTED_MAX = 10_000;

/**
 * Which refused logins (LOGIN_LIMITED) go into the audit log: the first of an address or a name
 * while its limit lasts, not every one. A flood of refused logins costs no password check, so
 * without this anyone could append to the audit log as fast as they can send, drowning the
 * trail and filling the disk.
 */
export class LimitedLogins {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  /** Whether this refusal is to be recorded; notes the address and the name for `retryAfterS`. */
  record(name: string, address: string | undefined, retryAfterS: number): boolean {
    const now = this.now();
    const keys = [`user:${name.slice(0, 64)}`, ...(address ? [`addr:${addressKey(address)}`] : [])];
    const first = keys.every((k) => (this.until.get(k) ?? 0) <= now);
    const end = now + Math.max(1, retryAfterS) * 1000;
    for (const k of keys) {
      this.until.delete(k);
      this.until.set(k, end);
    }
    while (this.until.size > NOTED_MAX) this.until.delete(this.until.keys().next().value!);
    return first;
  }
}

const sessionAnswer = {
  type: 'object',
  properties: {
    user: { type: 'string' },
    role: { type: 'string', enum: ['viewer', 'operator', 'admin'] },
    kind: { type: 'string', enum: ['user', 'token'] },
    csrf: { type: 'string', description: 'send it as X-Aptgate-CSRF with every change (browser sessions)' },
    expiresAt: { type: 'string', format: 'date-time' },
    idleExpiresAt: { type: 'string', format: 'date-time' },
  },
};

export function registerSessionRoutes(scope: FastifyInstance, services: Services, secure: boolean): void {
  const { access, audit } = services;
  const limited = new LimitedLogins(services.now);
  scope.post(
    '/session',
    {
      schema: {
        summary: 'log in: the session cookie (HttpOnly, SameSite=Strict) and the CSRF token',
        tags: ['session'],
        body: {
          type: 'object',
          properties: {
            user: { type: 'string', maxLength: 64 },
            password: { type: 'string', maxLength: 1024 },
          },
          required: ['user', 'password'],
          additionalProperties: false,
        },
        response: { 200: sessionAnswer },
      },
    },
    async (request, reply) => {
      const { user, password } = request.body as { user: string; password: string };
      try {
        const l = await access.login(user, password, request.ip);
        audit.recordLogin(user, request.ip, 'ok');
        setSessionCookie(reply, l.sessionToken, l.expiresAt, secure);
        return { ...loginJson(l), kind: 'user' };
      } catch (err) {
        const retry = isAptgateError(err, 'LOGIN_LIMITED') ? Number(err.details?.retryAfter ?? 1) : undefined;
        if (retry === undefined || limited.record(user, request.ip, retry))
          audit.recordLogin(user, request.ip, isAptgateError(err) ? err.code : 'INTERNAL');
        throw err;
      }
    },
  );
  scope.get(
    '/session',
    {
      schema: {
        summary: 'who is asking: the session or the API token',
        tags: ['session'],
        response: { 200: sessionAnswer },
      },
    },
    async (request) => {
      const c = callerOf(access, request);
      if (!c.session) return { user: c.principal.name, role: c.principal.role, kind: 'token' };
      const s = c.session.info;
      return {
        user: c.principal.name,
        role: c.principal.role,
        kind: 'user',
        csrf: s.csrf,
        expiresAt: iso(s.expiresAt),
        idleExpiresAt: iso(s.idleExpiresAt),
      };
    },
  );
  scope.delete(
    '/session',
    {
      schema: {
        summary: 'log out (the session ends on the server; the cookie is cleared)',
        tags: ['session'],
        response: { 200: { type: 'object', properties: { ended: { type: 'boolean' } } } },
      },
    },
    async (request, reply) => {
      const token = sessionCookie(request);
      const c = callerOf(access, request);
      clearSessionCookie(reply, secure);
      const ended = c.session ? access.logout(c.session.token) : false;
      if (token !== undefined && c.session)
        audit.record({ principal: c.principal, action: 'session.logout', result: 'ok' });
      return { ended };
    },
  );
}
