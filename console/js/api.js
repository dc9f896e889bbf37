// The one way to the server: JSON over /api/v1 on this origin, with the session's cookie and,
// on every request that changes something, the session's CSRF token. An error answer
// ({ error: { code, message } }) becomes an ApiError the page shows as it is.

export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let csrf = null;
let unauthenticated = () => {};

/** The session's CSRF token (login and GET /session return it); null after logout. */
export function setCsrf(token) {
  csrf = token ?? null;
}

/** Called when an answer says the session is gone (401), except for the session probe itself. */
export function onUnauthenticated(fn) {
  unauthenticated = fn;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function body(res) {
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('json')) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/** method, path under /api/v1 ('/machines'), JSON body or undefined, { query, quiet401 }. */
export async function request(method, path, payload, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (payload !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-Aptgate-CSRF'] = csrf;
  let res;
  try {
    res = await fetch(`${API_BASE}${path}${query(opts.query)}`, {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the server cannot be reached (${err.message})`);
  }
  const data = await body(res);
  if (res.ok) return data;
  const e = data && typeof data === 'object' ? data.error : null;
  const error = new ApiError(
    res.status,
    e?.code ?? `HTTP_${res.status}`,
    e?.message ?? `the server answered ${res.status} ${res.statusText}`.trim(),
  );
  if (res.status === 401 && !opts.quiet401) unauthenticated(error);
  throw error;
}

export const get = (path, q, opts = {}) => request('GET', path, undefined, { ...opts, query: q });
export const post = (path, payload = {}, opts = {}) => request('POST', path, payload, opts);
export const put = (path, payload = {}) => request('PUT', path, payload);
export const del = (path, payload) => request('DELETE', path, payload);

/** The list in an answer: the answer itself, or its member `key` (`{ machines: [...] }`). */
export function listOf(answer, key) {
  if (Array.isArray(answer)) return answer;
  const v = answer && typeof answer === 'object' ? answer[key] : undefined;
  return Array.isArray(v) ? v : [];
}
