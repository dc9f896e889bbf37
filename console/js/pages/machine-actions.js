// A machine's action bar (operators and admins; the API refuses the others anyway): approve or
// refuse a waiting enrolment, upgrade now, security updates only, reboot when one is required.
// Each action says what it will do and waits for a confirmation.
import { post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h } from '../dom.js';
import { showError, showInfo } from '../notice.js';

async function act(ctx, dialog, run, done) {
  const answer = await confirmDialog(dialog);
  if (!answer.ok) return;
  try {
    const r = await run(answer.reason);
    await ctx.refresh();
    showInfo(done(r));
  } catch (err) {
    showError(err);
  }
}

const jobDone = (r) => `Queued: ${(r?.jobs ?? []).map((j) => `job ${j.id}`).join(', ') || 'nothing'}.`;

export function actionBar(detail, ctx) {
  const m = detail.machine;
  const ref = String(m.id);
  const job = (kind, extra) => () => post(EP.jobs, { kind, to: [ref], ...extra });
  const button = (label, dialog, run, done, cls) =>
    h('button', { type: 'button', class: cls, onclick: () => act(ctx, dialog, run, done) }, label);
  return h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': 'Actions' },
    m.status === 'pending' || m.reenrolment
      ? button(
          m.reenrolment ? 'Approve re-enrolment' : 'Approve',
          {
            title: `Approve ${m.hostname}?`,
            body: m.reenrolment
              ? `The new credential (code ${m.reenrolment.code}, from ${m.reenrolment.from}) replaces the old one. Compare the code with the one its agent printed.`
              : 'The machine gets jobs and its reports count.',
            confirm: 'Approve',
          },
          () => post(EP.machineApprove(ref), m.reenrolment ? { code: m.reenrolment.code } : {}),
          () => `${m.hostname} approved.`,
          'primary',
        )
      : null,
    m.reenrolment
      ? button(
          'Refuse re-enrolment',
          {
            title: `Refuse the re-enrolment of ${m.hostname}?`,
            body: 'The machine keeps its current credential.',
            confirm: 'Refuse',
            danger: true,
          },
          () => post(EP.machineReject(ref)),
          () => `The re-enrolment of ${m.hostname} was refused.`,
        )
      : null,
    button(
      'Upgrade now',
      {
        title: `Upgrade ${m.hostname}?`,
        body: `An upgrade job for ${m.hostname}: apt-get upgrade at its next check-in, in its maintenance window.`,
        confirm: 'Queue the upgrade',
      },
      job('upgrade', {}),
      jobDone,
    ),
    button(
      'Security updates only',
      {
        title: `Security updates for ${m.hostname}?`,
        body: 'An upgrade job limited to packages with a security update.',
        confirm: 'Queue it',
      },
      job('upgrade', { securityOnly: true }),
      jobDone,
    ),
    m.rebootRequired
      ? button(
          'Reboot',
          {
            title: `Reboot ${m.hostname}?`,
            body: 'A reboot job: the machine restarts at its next check-in, in its maintenance window.',
            confirm: 'Queue the reboot',
            danger: true,
          },
          job('reboot', { allowReboot: true }),
          jobDone,
          'danger',
        )
      : null,
  );
}
