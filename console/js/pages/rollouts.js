// Rollouts in waves: the list (newest first, the history) and one rollout: its waves, every
// machine's standing in them, the open wave's outcome and soak end, its state and why, events;
// operators pause, resume and abort (with a reason), viewers see no button.
import { get, post } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { duration, when } from '../format.js';
import { showError, showInfo } from '../notice.js';
import { dataTable } from '../table.js';

const waves = (r) => r.waves.map((w) => `${w}%`).join(', ');
const progress = (r) => (r.state === 'done' ? 'done' : `${r.state}, wave ${r.wave} of ${r.waves.length}`);

function list(ctx, rollouts) {
  return [
    heading('Rollouts'),
    h('p', {}, link('/gate', '← Release gate')),
    h(
      'p',
      { class: 'muted' },
      "A rollout moves a stage's new content to a class in waves (aptgate rollout start, or promote --rollout).",
    ),
    dataTable({
      id: 'rollouts',
      rows: rollouts,
      params: ctx.params,
      sort: 'id',
      columns: [
        { key: 'id', label: 'ID', num: true, cell: (r) => link(`/rollouts/${r.id}`, `rollout ${r.id}`) },
        { key: 'stage', label: 'Stage' },
        { key: 'class', label: 'Class' },
        { key: 'waves', label: 'Waves', value: waves },
        { key: 'state', label: 'State', value: progress },
        { key: 'createdAt', label: 'Started', cell: (r) => when(r.createdAt) },
        { key: 'actor', label: 'By' },
        { key: 'why', label: 'Why', value: (r) => r.stateReason ?? r.reason ?? '' },
      ],
      caption: 'Rollouts, newest first',
      empty: 'No rollouts yet.',
    }),
  ];
}

async function act(ctx, r, what, title, text, danger) {
  const ok = await confirmDialog({
    title,
    body: text,
    confirm: title.replace(/ rollout \d+\?$/, ''),
    danger,
    reason: { label: 'Reason', required: false },
  });
  if (!ok.ok) return;
  try {
    const path =
      what === 'pause' ? EP.rolloutPause(r.id) : what === 'resume' ? EP.rolloutResume(r.id) : EP.rolloutAbort(r.id);
    const after = await post(path, ok.reason ? { reason: ok.reason } : {});
    await ctx.refresh();
    showInfo(`Rollout ${after.id} is ${after.state}.`);
  } catch (err) {
    showError(err);
  }
}

function actions(ctx, r) {
  if (!ctx.can('operator')) return null;
  const b = (label, cls, onclick) => h('button', { type: 'button', class: cls, onclick }, label);
  const live = r.state === 'running' || r.state === 'paused' || r.state === 'halted';
  if (!live) return null;
  return h(
    'div',
    { class: 'actions' },
    r.state === 'running'
      ? b('Pause', '', () =>
          act(ctx, r, 'pause', `Pause rollout ${r.id}?`, 'No wave opens until it is resumed.', false),
        )
      : b('Resume', 'primary', () =>
          act(
            ctx,
            r,
            'resume',
            `Resume rollout ${r.id}?`,
            'The open wave is judged again; the next opens once it upgraded.',
            false,
          ),
        ),
    b('Abort', 'danger', () =>
      act(
        ctx,
        r,
        'abort',
        `Abort rollout ${r.id}?`,
        `Every machine of class ${r.class} goes back to the content before the rollout (nothing is downgraded).`,
        true,
      ),
    ),
  );
}

function one(ctx, r) {
  const o = r.outcome;
  const facts = [
    ['State', progress(r)],
    ['Why', r.stateReason ?? '—'],
    ['Stage and class', `${r.stage}, class ${r.class}`],
    [
      'Waves',
      `${waves(r)}; soak ${duration(r.soakMs)}; halt at ${r.halt}${r.halt.endsWith('%') ? '' : ' failed'}; jobs: ${r.jobs}`,
    ],
    ['Started', `${when(r.createdAt)} by ${r.actor}${r.reason ? `: ${r.reason}` : ''}`],
    [
      'Open wave',
      r.state === 'aborted' || r.state === 'done'
        ? '—'
        : `wave ${r.wave}: ${o.machines} machines, ${o.succeeded} succeeded, ${o.failed} failed, ${o.pending} pending`,
    ],
    ['Soak ends', when(r.soakEnds)],
    [
      'Content',
      r.pins
        .map((p) => `${p.backend}/${p.suite}: generation ${p.from}${p.from === p.to ? '' : ` → ${p.to}`}`)
        .join('; ') || '—',
    ],
  ];
  return [
    h('p', {}, link('/rollouts', '← Rollouts')),
    heading(`Rollout ${r.id}: ${r.stage} to ${r.class}`),
    actions(ctx, r),
    h(
      'dl',
      { class: 'facts' },
      facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('h2', {}, 'Machines'),
    dataTable({
      id: 'rollout-machines',
      rows: r.machines,
      params: ctx.params,
      sort: 'wave',
      columns: [
        { key: 'wave', label: 'Wave', num: true },
        { key: 'hostname', label: 'Machine', cell: (m) => link(`/machines/${m.id}`, m.hostname) },
        { key: 'status', label: 'Standing' },
        { key: 'job', label: 'Job', cell: (m) => (m.job === null ? '—' : link(`/jobs/${m.job}`, `job ${m.job}`)) },
        { key: 'reason', label: 'Why' },
      ],
      filters: [
        {
          name: 'standing',
          label: 'Standing',
          options: ['succeeded', 'failed', 'pending', 'not open'].map((s) => [s, s]),
          test: (m, v) => m.status === v,
        },
      ],
      caption: 'The machines of the class by wave',
      empty: 'No machines in the class.',
    }),
    h('h2', {}, 'Events'),
    h(
      'ol',
      { class: 'events' },
      r.events.map((e) =>
        h('li', {}, `${when(e.at)} ${e.what}${e.actor ? ` (${e.actor})` : ''}${e.detail ? `: ${e.detail}` : ''}`),
      ),
    ),
  ];
}

export async function render(ctx) {
  if (ctx.args.id === undefined) {
    const l = await get(EP.rollouts);
    replace(ctx.root, list(ctx, l.rollouts));
    return;
  }
  replace(ctx.root, one(ctx, await get(EP.rollout(ctx.args.id))));
}
