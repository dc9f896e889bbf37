// What an admin does on the sites page: a site token (shown once, with the `aptgate site join`
// command to run on the site host), a site's networks, classes and URL (each replaces the
// site's; the server checks them and a refusal changes nothing), and removing a site after a
// confirmation. The API refuses anyone else anyway.
import { del, post, put } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h } from '../dom.js';
import { showError, showInfo } from '../notice.js';
import { shownOnce } from './token-shown.js';

/** "10.1.0.0/16, fd00:1::/48" or one a line → the list (blanks and commas separate). */
const words = (text) => text.split(/[\s,]+/).filter((w) => w !== '');

export function tokenForm() {
  const holder = h('div');
  const name = h('input', { id: 'site-token-name', placeholder: 'north (optional)', maxlength: '63' });
  const expires = h('input', { id: 'site-token-expires', placeholder: 'never', maxlength: '40' });
  const parent = h('input', {
    id: 'site-token-parent',
    inputmode: 'url',
    placeholder: 'default: host name:port',
    maxlength: '300',
  });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Create a site token' },
    h('label', { for: name.id }, 'Site name', name),
    h('label', { for: expires.id }, 'Expires in', expires),
    h('label', { for: parent.id }, 'This server as the site reaches it', parent),
    h('button', { type: 'submit' }, 'Create site token'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const t = await post(EP.siteTokens, {
        ...(name.value.trim() ? { name: name.value.trim() } : {}),
        ...(expires.value.trim() ? { expires: expires.value.trim() } : {}),
        ...(parent.value.trim() ? { parent: parent.value.trim() } : {}),
      });
      holder.replaceChildren(
        shownOnce(
          `Site token ${t.id}${t.name ? ` for ${t.name}` : ''}`,
          t.token,
          t.joinCommand,
          'On the site host (set --url to the address its machines reach it by):',
        ),
      );
      name.value = expires.value = '';
    } catch (err) {
      showError(err);
    }
  });
  return h('div', {}, form, holder);
}

export function setForm(ctx, s) {
  const networks = h('input', {
    id: 'site-networks',
    value: s.networks.join(', '),
    placeholder: '10.1.0.0/16, fd00:1::/48',
    'aria-describedby': 'site-set-help',
  });
  const classes = h('input', {
    id: 'site-classes',
    value: s.classes.join(', '),
    placeholder: 'branch-north',
    'aria-describedby': 'site-set-help',
  });
  const url = h('input', {
    id: 'site-url',
    inputmode: 'url',
    value: s.url,
    maxlength: '300',
  });
  const form = h(
    'form',
    { class: 'stack site-set', 'aria-label': `Membership of ${s.name}` },
    h('label', { for: networks.id }, 'Networks', networks),
    h('label', { for: classes.id }, 'Classes', classes),
    h('label', { for: url.id }, 'URL', url),
    h(
      'p',
      { class: 'muted', id: 'site-set-help' },
      'Separated by commas; empty for none. A machine in one of the classes belongs to the site; ' +
        'else the site with the longest network holding its last address.',
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const after = await put(EP.site(s.name), {
        networks: words(networks.value),
        classes: words(classes.value),
        url: url.value.trim(),
      });
      await ctx.refresh();
      showInfo(
        `Site ${after.name} saved: networks ${after.networks.join(', ') || 'none'}; ` +
          `classes ${after.classes.join(', ') || 'none'}; ${after.machines} machines.`,
      );
    } catch (err) {
      // the form keeps what was typed; the server changed nothing
      showError(err);
    }
  });
  return form;
}

export function removeButton(s) {
  const remove = async () => {
    const ok = await confirmDialog({
      title: `Remove site ${s.name}?`,
      body:
        `Its credential stops working and its ${s.machines} machines get their packages and stage ` +
        'sources from this server again. To come back it joins again with a new site token.',
      confirm: 'Remove',
      danger: true,
    });
    if (!ok.ok) return;
    try {
      await del(EP.site(s.name));
      // the list, then the message (the page change clears the notice line first)
      window.addEventListener('hashchange', () => showInfo(`Site ${s.name} removed.`), { once: true });
      location.hash = '#/sites';
    } catch (err) {
      showError(err);
    }
  };
  return h('button', { type: 'button', class: 'danger', onclick: remove }, `Remove site ${s.name}`);
}
