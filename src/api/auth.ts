// Who is asking the API: an `Authorization: Bearer agt_api_…` token (scripts, the remote command
// line) or the session cookie of a browser login, whose state-changing requests must carry the
// session's CSRF token in `X-Aptgate-CSRF`. Nothing else opens the API: no agent credential, no
// enrolment token, no cookie without its session. @fastify/cookie is used here only.
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessService, SessionInfo } from '../access/accounts.js';
import type { Principal } from '../access/principal.js';
import { fail } from '../errors.js';

export const SESSION_COOKIE = 'aptgate_session';
export const CSRF_HEADER = 'x-aptgate-csrf';
/** the cookie is sent to the API only */
export const COOKIE_PATH = '/api/v1';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function registerCookies(scope: FastifyInstance): Promise<void> {
  await scope.register(fastifyCookie, { hook: 'onRequest' });
}

/** The session cookie's raw value, if the request has one. */
export function sessionCookie(request: FastifyRequest): string | undefined {
  const v = (request.cookies as Record<string, string | undefined> | undefined)?.[SESSION_COOKIE];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function setSessionCookie(reply: FastifyReply, token: string, expiresAt: number, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, token, {
    path: COOKIE_PATH,
    httpOnly: true,
    sameSite: 'strict',
    secure,
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure });
}

export interface Caller {
  principal: Principal;
  /** the browser session, when the caller is one */
  session?: { token: string; info: SessionInfo };
}

/**
 * The caller of a request, or UNAUTHENTICATED; a browser's state-changing request without the
 * session's CSRF token: CSRF_REFUSED. A request with an Authorization header is judged by it
 * alone (a wrong token is not rescued by a cookie).
 */
export function callerOf(access: AccessService, request: FastifyRequest): Caller {
  const address = request.ip;
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer ([\x21-\x7e]{1,200})$/.exec(auth);
    const principal = m ? access.bearerPrincipal(m[1]!, address) : undefined;
    if (!principal)
      fail(
        'UNAUTHENTICATED',
        'not a valid API token (unknown, expired or revoked; agent credentials do not open the API)',
      );
    return { principal };
  }
  const token = sessionCookie(request);
  const info = token === undefined ? undefined : access.session(token, address);
  if (!token || !info) fail('UNAUTHENTICATED', 'log in first (POST /api/v1/session), or send an API token');
  if (!SAFE.has(request.method)) {
    const given = request.headers[CSRF_HEADER];
    if (typeof given !== 'string' || !access.csrfMatches(token, given))
      fail('CSRF_REFUSED', `a change needs the session's CSRF token in the ${CSRF_HEADER} header`);
  }
  return { principal: info.principal, session: { token, info } };
}
