// The login form: user and password to POST /api/v1/session. A refusal shows the server's
// message ("wrong user or password", or when to try again after too many).
import { ApiError } from '../api.js';
import { h, replace } from '../dom.js';
import { login } from '../session.js';

export function renderLogin(root, { message, done }) {
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
  const password = h('input', {
    id: 'login-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const status = h('p', { id: 'login-status', role: 'status', 'aria-live': 'polite' }, message ?? '');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    { class: 'login stack', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to aptgate'),
    h('label', { for: 'login-user' }, 'User', user),
    h('label', { for: 'login-password' }, 'Password', password),
    submit,
    status,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    status.textContent = 'Logging in…';
    try {
      await login(user.value, password.value);
      password.value = '';
      done();
    } catch (err) {
      status.textContent = err instanceof ApiError ? err.message : `Cannot log in: ${err.message}`;
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, form);
  user.focus();
}
