// API tokens (for scripts and the remote CLI): role no higher than the owner's, an expiry (at
// most a year), revocable. Creating one shows the token once.
import { del, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { can } from '../session.js';
import { dataTable } from '../table.js';
import { shownOnce } from './token-shown.js';

const ROLES = ['viewer', 'operator', 'admin'];

function createForm(ctx, holder) {
  const role = h(
    'select',
    { id: 'api-role' },
    ROLES.filter((r) => can(r)).map((r) => h('option', { value: r }, r)),
  );
  const expires = h('input', { id: 'api-expires', required: true, value: '90d' });
  const name = h('input', { id: 'api-name', maxlength: '100', placeholder: 'what it is for' });
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
      holder.replaceChildren(shownOnce(`API token ${t.id}`, t.token));
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

export function apiTokens(tokens, ctx) {
  const holder = h('div');
  const revoke = async (t) => {
    if (
      !(
        await confirmDialog({
          title: `Revoke API token ${t.id}?`,
          body: 'Scripts using it are refused from now on.',
          confirm: 'Revoke',
          danger: true,
        })
      ).ok
    )
      return;
    try {
      await del(EP.apiToken(t.id));
      await ctx.refresh();
      showInfo(`API token ${t.id} revoked.`);
    } catch (err) {
      showError(err);
    }
  };
  return h(
    'div',
    {},
    createForm(ctx, holder),
    holder,
    dataTable({
      id: 'api-tokens',
      rows: tokens,
      keepParams: false,
      sort: 'id',
      empty: 'No API token.',
      columns: [
        { key: 'id', label: 'Id', num: true },
        { key: 'name', label: 'Label' },
        { key: 'owner', label: 'Owner' },
        { key: 'role', label: 'Role' },
        { key: 'expiresAt', label: 'Expires', cell: (t) => when(t.expiresAt) },
        { key: 'revokedAt', label: 'Revoked', cell: (t) => when(t.revokedAt) },
        {
          key: 'revoke',
          label: 'Revoke',
          value: () => null,
          cell: (t) => (t.revokedAt ? '' : h('button', { type: 'button', onclick: () => revoke(t) }, `Revoke ${t.id}`)),
        },
      ],
    }),
  );
}
