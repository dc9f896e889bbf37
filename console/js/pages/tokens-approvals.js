// Machines waiting for an operator: a new enrolment, or a re-enrolment (a new credential for a
// known machine-id) whose code must match the one its agent printed.
import { post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, link } from '../dom.js';
import { when } from '../format.js';
import { showError, showInfo } from '../notice.js';

async function decide(ctx, m, approve) {
  const what = m.reenrolment
    ? `the re-enrolment of ${m.hostname} (code ${m.reenrolment.code}, from ${m.reenrolment.from})`
    : m.hostname;
  if (
    !(
      await confirmDialog({
        title: `${approve ? 'Approve' : 'Refuse'} ${what}?`,
        confirm: approve ? 'Approve' : 'Refuse',
        danger: !approve,
      })
    ).ok
  )
    return;
  try {
    if (approve) await post(EP.machineApprove(m.id), m.reenrolment ? { code: m.reenrolment.code } : {});
    else await post(EP.machineReject(m.id));
    await ctx.refresh();
    showInfo(`${m.hostname}: ${approve ? 'approved' : 'refused'}.`);
  } catch (err) {
    showError(err);
  }
}

export function approvals(machines, ctx) {
  if (!machines.length) return h('p', { class: 'muted' }, 'No machine waits.');
  const operator = ctx.can('operator');
  return h(
    'ul',
    {},
    machines.map((m) =>
      h(
        'li',
        {},
        link(`/machines/${m.id}`, m.hostname),
        m.reenrolment
          ? ` — re-enrolment, code ${m.reenrolment.code}, from ${m.reenrolment.from}, ${when(m.reenrolment.requestedAt)} `
          : ` — new machine (${m.codename ?? '?'} ${m.architecture}) `,
        operator
          ? h(
              'button',
              { type: 'button', class: 'primary', onclick: () => decide(ctx, m, true) },
              `Approve ${m.hostname}`,
            )
          : null,
        ' ',
        operator && m.reenrolment
          ? h('button', { type: 'button', onclick: () => decide(ctx, m, false) }, `Refuse ${m.hostname}`)
          : null,
      ),
    ),
  );
}
