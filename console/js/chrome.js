// The header around every page: the section links (the current one marked) and who is logged
// in, with the logout button. Hidden while nobody is.
import { h, replace } from './dom.js';
import { NAV } from './routes.js';
import { can, session } from './session.js';

export function renderChrome(section, onLogout) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const s = session();
  nav.hidden = who.hidden = !s;
  if (!s) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  replace(
    nav,
    NAV.filter((n) => !n.min || can(n.min)).map((n) =>
      h('a', { href: `#${n.path}`, 'aria-current': n.path.slice(1) === section ? 'page' : undefined }, n.label),
    ),
  );
  replace(
    who,
    h('span', {}, `${s.user} (${s.role})`),
    h('button', { type: 'button', id: 'logout', onclick: onLogout }, 'Log out'),
  );
}
