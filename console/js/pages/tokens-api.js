// API tokens (for scripts and the remote CLI): one's own (an admin sees everyone's), with a role
// no higher than the owner's, an expiry (at most a year), revocable. Creating one shows the
// token once, above the list (which is read again; the page is not redrawn, so it stays shown).
import { del, get, listOf, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, replace } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { can, session } from '../session.js';
import { dataTable } from '../table.js';
import { shownOnce } from './token-shown.js';

const ROLES = ['viewer', 'operator', 'admin'];

function createForm(holder, reload) {
  const role = h(
    'select',
    { id: 'api-role' },
    ROLES.filter((r) => can(r)).map((r) => h('option', { value: r }, r)),
  );
  const expires = h('input', { id: 'api-expires', required: true, value: '90d', size: '8' });
  const name = h('input', { id: 'api-name', maxlength: '64', placeholder: 'what it is for' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Create an API token' },
    h('label', { for: role.id }, 'Role', role),
    h('label', { for: expires.id }, 'Expires in', expires),
    h('label', { for: name.id }, 'Label', name),
    h('button', { type: 'submit' }, 'Create API token'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const t = await post(EP.apiTokens, {
        role: role.value,
        expires: expires.value.trim(),
        ...(name.value.trim() ? { name: name.value.trim() } : {}),
      });
      name.value = '';
      replace(holder, shownOnce(`API token ${t.id} (${t.role}, until ${when(t.expiresAt)})`, t.token));
      await reload();
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

function table(tokens, revoke) {
  const me = session()?.user;
  return dataTable({
    id: 'api-tokens',
    rows: tokens,
    keepParams: false,
    sort: 'id',
    empty: 'No API token.',
    columns: [
      { key: 'id', label: 'Id', num: true },
      { key: 'name', label: 'Label' },
      { key: 'owner', label: 'Owner' },
      {
        key: 'role',
        label: 'Role',
        // capped at the owner's role when that is lower now
        value: (t) =>
          t.effectiveRole && t.effectiveRole !== t.role ? `${t.role} (acts as ${t.effectiveRole})` : t.role,
      },
      { key: 'state', label: 'State' },
      { key: 'expiresAt', label: 'Expires', cell: (t) => when(t.expiresAt) },
      { key: 'lastUsed', label: 'Last used', cell: (t) => when(t.lastUsed) },
      {
        key: 'revoke',
        label: 'Revoke',
        value: () => null,
        cell: (t) =>
          t.state === 'active' && (t.owner === me || can('admin'))
            ? h(
                'button',
                { type: 'button', onclick: () => revoke(t), 'aria-label': `Revoke API token ${t.id}` },
                'Revoke',
              )
            : '',
      },
    ],
  });
}

export function apiTokens(tokens) {
  const holder = h('div');
  const list = h('div');
  const reload = async () => replace(list, table(listOf(await get(EP.apiTokens), 'tokens'), revoke));
  async function revoke(t) {
    const ok = await confirmDialog({
      title: `Revoke API token ${t.id}${t.name ? ` (${t.name})` : ''}?`,
      body: 'Scripts using it are refused from now on.',
      confirm: 'Revoke',
      danger: true,
    });
    if (!ok.ok) return;
    try {
      await del(EP.apiToken(t.id));
      await reload();
      showInfo(`API token ${t.id} revoked.`);
    } catch (err) {
      showError(err);
    }
  }
  replace(list, table(tokens, revoke));
  return h('div', {}, createForm(holder, reload), holder, list);
}
