// Talking to /api/v1 as a browser session or a script: login (cookie + CSRF), Bearer tokens,
// the one error shape. Plain fetch against a real server on 127.0.0.1.
import assert from 'node:assert/strict';
import type { Services } from '../../src/assembly/services.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read answers of every shape
export interface ApiAnswer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiClient {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  call<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer<T>>;
}

async function answer(res: Response): Promise<ApiAnswer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: kept as text for the assertion that fails
  }
  return { status: res.status, body, headers: res.headers };
}

function request(base: string, method: string, path: string, body: unknown, headers: Record<string, string>) {
  return fetch(`${base}/api/v1${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    redirect: 'manual',
  }).then(answer);
}

/** A client without credentials (or with the headers given). */
export function anonymous(base: string, fixed: Record<string, string> = {}): ApiClient {
  return { call: (m, p, b, h = {}) => request(base, m, p, b, { ...fixed, ...h }) };
}

/** A script with an API token. */
export function bearer(base: string, token: string): ApiClient {
  return anonymous(base, { authorization: `Bearer ${token}` });
}

export interface SessionClient extends ApiClient {
  cookie: string;
  csrf: string;
}

/** Logs in through POST /session; later calls send the cookie and (for changes) the CSRF token. */
export async function login(base: string, user: string, password: string): Promise<SessionClient> {
  const res = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  const a = await answer(res);
  assert.equal(a.status, 200, `login of ${user}: ${JSON.stringify(a.body)}`);
  const set = res.headers.getSetCookie().find((c) => c.startsWith('aptgate_session='));
  assert.ok(set, 'a session cookie is set');
  const cookie = set.split(';')[0]!;
  const csrf = (a.body as { csrf: string }).csrf;
  return {
    cookie,
    csrf,
    call: (m, p, b, h = {}) =>
      request(base, m, p, b, { cookie, ...(m === 'GET' ? {} : { 'x-aptgate-csrf': csrf }), ...h }),
  };
}

export const PASSWORD = 'correct horse battery staple';

/** Users alice (admin), oscar (operator), vera (viewer), all with PASSWORD. */
export async function addTestUsers(services: Services): Promise<void> {
  await services.access.addUser('alice', 'admin', PASSWORD);
  await services.access.addUser('oscar', 'operator', PASSWORD);
  await services.access.addUser('vera', 'viewer', PASSWORD);
}

/** The error answer: status and code, the one shape everywhere. */
export function assertError(a: ApiAnswer, status: number, code: string): void {
  assert.equal(a.status, status, `expected ${status} ${code}, got ${a.status} ${JSON.stringify(a.body)}`);
  assert.equal(a.body?.error?.code, code, JSON.stringify(a.body));
  assert.equal(typeof a.body.error.message, 'string');
  assert.deepEqual(Object.keys(a.body).sort(), ['error']);
}
