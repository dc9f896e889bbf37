// The console's entry: finds out who is logged in (GET /api/v1/session), then shows the login
// form or the page the hash names, again at every hash change. Everything it shows comes from
// /api/v1 on this origin.
import { onUnauthenticated } from './api.js';
import { renderChrome } from './chrome.js';
import { h, heading, replace } from './dom.js';
import { clearNotice, showError } from './notice.js';
import { renderLogin } from './pages/login.js';
import { match, parseHash } from './router.js';
import { ROUTES } from './routes.js';
import { can, forget, logout, probe, session } from './session.js';

const main = document.getElementById('main');

function showLogin(message) {
  renderChrome('', onLogout);
  renderLogin(main, {
    message,
    done: () => {
      clearNotice();
      // the page that was open (or the bookmark) again
      void show({ focus: true });
    },
  });
}

async function onLogout() {
  try {
    await logout();
  } catch (err) {
    showError(err);
  }
  showLogin('You are logged out.');
}

/** Renders the page of the current hash; `focus` moves the focus to its heading (a new page). */
async function show({ focus = false } = {}) {
  if (!session()) return showLogin();
  const { path, params } = parseHash(location.hash);
  if (path.length === 0) {
    location.replace('#/overview');
    return;
  }
  renderChrome(path[0], onLogout);
  const root = h('div', {}, h('p', { class: 'loading' }, 'Loading…'));
  replace(main, root);
  const found = match(ROUTES, path);
  try {
    if (!found) replace(root, heading('No such page'), h('p', {}, `Nothing is at #/${path.join('/')}.`));
    else {
      const page = await found.route.load();
      await page.render({ root, args: found.args, params, can, session: session(), refresh: () => show() });
    }
  } catch (err) {
    if (root.isConnected) replace(root, heading('This page could not be shown'));
    showError(err);
  }
  // a page may have focused something itself (a marked row)
  if (focus && root.isConnected && !root.contains(document.activeElement)) (root.querySelector('h1') ?? main).focus();
}

onUnauthenticated(() => {
  // several requests of a page may be refused at once: one login form
  if (!session()) return;
  forget();
  showLogin('Your session has ended: log in again.');
});

document.querySelector('.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', () => {
  clearNotice();
  void show({ focus: true });
});

await probe();
await show();
