// Who is logged in: { user, role, csrf, expiresAt } from POST/GET /api/v1/session; the roles in
// their order (the API checks every request anyway: hiding a button only spares a refusal).
import { del, get, post, setCsrf } from './api.js';

const ORDER = ['viewer', 'operator', 'admin'];

let current = null;

export function session() {
  return current;
}

/** The session's role is `need` or above. */
export function can(need) {
  return current !== null && ORDER.indexOf(current.role) >= ORDER.indexOf(need);
}

function set(s) {
  current = s && typeof s === 'object' && s.user ? s : null;
  setCsrf(current?.csrf ?? null);
  return current;
}

/** The session the cookie stands for, or null (not logged in, or the server says no). */
export async function probe() {
  try {
    return set(await get('/session', undefined, { quiet401: true }));
  } catch {
    return set(null);
  }
}

/** Logs in; a refusal (401: wrong user or password) is the form's to show, not a session that ended. */
export async function login(user, password) {
  return set(await post('/session', { user, password }, { quiet401: true }));
}

export async function logout() {
  try {
    await del('/session');
  } finally {
    set(null);
  }
}

/** Forgets the session here (the server said it is gone). */
export function forget() {
  set(null);
}
