// One job: its parameters, states and times, result, and the transcript the agent sent;
// operators may cancel it while it is open.
import { get, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { duration, when } from '../format.js';
import { showError, showInfo } from '../notice.js';

const OPEN = new Set(['queued', 'delivered', 'running']);

export async function render(ctx) {
  const j = await get(EP.job(ctx.args.id));
  const cancel = async () => {
    if (
      !(
        await confirmDialog({
          title: `Cancel job ${j.id}?`,
          body: 'An agent already running it finishes; its result is kept.',
          confirm: 'Cancel the job',
          danger: true,
        })
      ).ok
    )
      return;
    try {
      await post(EP.jobCancel(j.id));
      await ctx.refresh();
      showInfo(`Job ${j.id} cancelled.`);
    } catch (err) {
      showError(err);
    }
  };
  const rows = [
    ['Machine', link(`/machines/${j.machine.id}`, j.machine.hostname)],
    ['Kind', j.kind],
    ['Parameters', JSON.stringify(j.params)],
    ['Policy', JSON.stringify(j.policy)],
    ['State', j.state],
    ['Origin', j.origin],
    ['Created', when(j.createdAt)],
    ['Not before', when(j.notBefore)],
    ['Deadline', when(j.deadline)],
    ['Attempts', `${j.attempts} of ${j.maxAttempts}`],
    ['Started', when(j.startedAt)],
    ['Finished', when(j.finishedAt)],
    ['Took', duration(j.durationMs)],
    ['Exit code', j.exitCode ?? '—'],
    ['Result', j.failure ? `${j.failure}: ${j.summary ?? ''}` : (j.summary ?? '—')],
  ];
  replace(
    ctx.root,
    h('p', {}, link('/jobs', '← Jobs')),
    heading(`Job ${j.id}: ${j.kind} on ${j.machine.hostname}`),
    ctx.can('operator') && OPEN.has(j.state)
      ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', onclick: cancel }, 'Cancel job'))
      : null,
    h(
      'dl',
      { class: 'facts' },
      rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('h2', {}, 'Transcript'),
    j.transcript
      ? h('pre', { class: 'transcript', tabindex: '0' }, j.transcript)
      : h('p', { class: 'muted' }, 'No transcript (yet).'),
  );
}
