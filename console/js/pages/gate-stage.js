// One stage on the gate page: open or closed and why, the test machines' standing (the
// evidence), the updates waiting to move on, and the operator's buttons: promote all, only the
// selected sources, security updates only, force (with a reason), roll back (with a reason).
import { post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, link } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { machinesTable, updatesTable } from './gate-tables.js';

async function run(ctx, dialog, path, body, done) {
  const ok = await confirmDialog(dialog);
  if (!ok.ok) return;
  try {
    const r = await post(path, { ...body, ...(ok.reason ? { reason: ok.reason } : {}) });
    await ctx.refresh();
    showInfo(done(r));
  } catch (err) {
    showError(err);
  }
}

const gens = (r) =>
  (r.generations ?? []).map((g) => `generation ${g.id} (${g.backend} ${g.suite})`).join(', ') || 'nothing changed';

export function stageSection(st, info, ctx) {
  const operator = ctx.can('operator');
  const updates = updatesTable(st, operator && !st.last);
  const b = (label, cls, onclick) => h('button', { type: 'button', class: cls, onclick }, label);
  const to = st.next;
  const promote = (body, title, text, dialogExtra = {}) =>
    run(
      ctx,
      { title, body: text, confirm: 'Promote', ...dialogExtra },
      EP.promote(st.stage),
      body,
      (r) => `Promoted ${st.stage} → ${r.to}: ${gens(r)}.`,
    );
  const actions = operator
    ? h(
        'div',
        { class: 'actions', role: 'group', 'aria-label': `Actions on ${st.stage}` },
        !st.last && st.holds && st.updates.length
          ? [
              b('Promote all', 'primary', () =>
                promote({}, `Promote ${st.stage} → ${to}?`, `All ${st.updates.length} updates move to ${to}.`),
              ),
              b('Promote selected', null, () => {
                const only = updates.selected();
                if (!only.length) return showError(new Error('select the source packages to promote first'));
                return promote(
                  { only },
                  `Promote ${only.length} source(s) to ${to}?`,
                  `Only ${only.join(', ')} move to ${to}.`,
                );
              }),
              b('Promote security updates only', null, () =>
                promote(
                  { securityOnly: true },
                  `Promote the security updates of ${st.stage}?`,
                  `Only updates from security suites move to ${to}.`,
                ),
              ),
            ]
          : null,
        !st.last && !st.holds && st.updates.length
          ? b('Force promotion…', 'danger', () =>
              promote(
                { force: true },
                `Force ${st.stage} → ${to}?`,
                `The gate does not hold: ${st.missing.join('; ')}. The promotion and your reason are recorded.`,
                {
                  danger: true,
                  confirm: 'Force the promotion',
                  reason: { label: 'Reason (required)', required: true },
                },
              ),
            )
          : null,
        b('Roll back…', 'danger', () =>
          run(
            ctx,
            {
              title: `Roll back ${st.stage}?`,
              body: `Every suite of ${st.stage} returns to its previous content (nothing is downgraded on the machines).`,
              confirm: 'Roll back',
              danger: true,
              reason: { label: 'Reason', required: false },
            },
            EP.rollback(st.stage),
            {},
            (r) => `Rolled back ${st.stage}: ${gens(r)}.`,
          ),
        ),
      )
    : null;
  return h(
    'section',
    { 'aria-labelledby': `stage-${st.stage}`, class: 'stage' },
    h('h2', { id: `stage-${st.stage}` }, st.last ? `${st.stage} (last stage)` : `${st.stage} → ${to}`),
    st.last
      ? null
      : h(
          'p',
          {},
          st.holds ? h('span', { class: 'badge ok' }, 'gate open') : h('span', { class: 'badge warn' }, 'gate closed'),
          ` published ${when(st.publishedAt)}`,
          info ? `; ${info.testMachines} test machine(s)` : '',
        ),
    st.holds || st.last
      ? null
      : h(
          'ul',
          {},
          st.missing.map((m) => h('li', {}, m)),
        ),
    actions,
    st.last
      ? null
      : [
          h('h3', {}, 'Pending updates'),
          updates.el,
          h('h3', {}, 'Evidence: the test machines'),
          machinesTable(st.machines),
        ],
    h('p', {}, link(`/gate/${encodeURIComponent(st.stage)}`, `History of ${st.stage}`)),
  );
}
