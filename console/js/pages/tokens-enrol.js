// Enrolment tokens (agents enrol with them): their state and uses; operators create one (shown
// once, with the command to run on a client) and revoke.
import { del, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { dataTable } from '../table.js';
import { shownOnce } from './token-shown.js';

function createForm(ctx, holder) {
  const cls = h('input', { id: 'tok-class', placeholder: 'class (optional)' });
  const expires = h('input', { id: 'tok-expires', placeholder: '7d' });
  const uses = h('input', { id: 'tok-uses', type: 'number', min: '1', placeholder: 'any' });
  const auto = h('input', { id: 'tok-auto', type: 'checkbox' });
  const note = h('input', { id: 'tok-note', maxlength: '200' });
  const form = h(
    'form',
    { class: 'toolbar', 'aria-label': 'Create an enrolment token' },
    h('label', { for: cls.id }, 'Class', cls),
    h('label', { for: expires.id }, 'Expires in', expires),
    h('label', { for: uses.id }, 'Uses', uses),
    h('label', { for: auto.id }, auto, 'approve automatically'),
    h('label', { for: note.id }, 'Note', note),
    h('button', { type: 'submit' }, 'Create token'),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const t = await post(EP.tokens, {
        ...(cls.value.trim() ? { class: cls.value.trim() } : {}),
        ...(expires.value.trim() ? { expires: expires.value.trim() } : {}),
        ...(uses.value ? { uses: Number(uses.value) } : {}),
        ...(auto.checked ? { autoApprove: true } : {}),
        ...(note.value.trim() ? { note: note.value.trim() } : {}),
      });
      holder.replaceChildren(shownOnce(`Token ${t.id}`, t.token, t.enrolCommand.join(' ')));
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

export function enrolTokens(tokens, ctx) {
  const operator = ctx.can('operator');
  const holder = h('div');
  const revoke = async (t) => {
    if (
      !(
        await confirmDialog({
          title: `Revoke token ${t.id}?`,
          body: 'No agent can enrol with it any more.',
          confirm: 'Revoke',
          danger: true,
        })
      ).ok
    )
      return;
    try {
      await del(EP.token(t.id));
      await ctx.refresh();
      showInfo(`Token ${t.id} revoked.`);
    } catch (err) {
      showError(err);
    }
  };
  return h(
    'div',
    {},
    operator ? [createForm(ctx, holder), holder] : null,
    dataTable({
      id: 'tokens',
      rows: tokens,
      keepParams: false,
      sort: 'id',
      empty: 'No enrolment token.',
      columns: [
        { key: 'id', label: 'Id', num: true },
        { key: 'state', label: 'State' },
        { key: 'class', label: 'Class' },
        { key: 'autoApprove', label: 'Auto-approve', value: (t) => (t.autoApprove ? 'yes' : 'no') },
        { key: 'uses', label: 'Uses', value: (t) => `${t.uses}${t.maxUses === null ? '' : ` of ${t.maxUses}`}` },
        { key: 'expiresAt', label: 'Expires', cell: (t) => when(t.expiresAt) },
        { key: 'note', label: 'Note' },
        operator
          ? {
              key: 'revoke',
              label: 'Revoke',
              value: () => null,
              cell: (t) =>
                t.state === 'valid'
                  ? h(
                      'button',
                      { type: 'button', onclick: () => revoke(t), 'aria-label': `Revoke enrolment token ${t.id}` },
                      'Revoke',
                    )
                  : '',
            }
          : null,
      ].filter(Boolean),
    }),
  );
}
