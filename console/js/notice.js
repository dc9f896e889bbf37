// The message line under the header: errors from the server (code and message as it sent them)
// and confirmations of what an action did.
import { ApiError } from './api.js';

const el = () => document.getElementById('notice');

export function showError(err) {
  // a session that ended is said by the login form that replaced the page
  if (err instanceof ApiError && err.status === 401) return;
  const n = el();
  n.className = 'notice';
  n.textContent =
    err instanceof ApiError
      ? `${err.message} (${err.code})`
      : `Something went wrong in the console: ${err?.message ?? err}`;
  n.hidden = false;
}

export function showInfo(text) {
  const n = el();
  n.className = 'notice info';
  n.textContent = text;
  n.hidden = false;
}

export function clearNotice() {
  const n = el();
  n.hidden = true;
  n.textContent = '';
}
