// A stage's history: every generation (when, kind, who, why, forced), with the evidence a
// promotion recorded (the test machines' standing, what moved) or the generation a rollback
// returned to. ?gen=ID (the audit log links so) marks and focuses one generation.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { when } from '../format.js';

function evidence(e) {
  if (!e) return '—';
  if (e.rollbackTo !== null) return `returned to generation ${e.rollbackTo}`;
  return h(
    'div',
    {},
    e.from
      ? h(
          'div',
          {},
          `from ${e.from}; gate ${e.gateHeld === null ? 'not recorded' : e.gateHeld ? 'held' : 'did not hold'}`,
        )
      : null,
    e.updates.length ? h('div', {}, `moved: ${e.updates.join(', ')}`) : null,
    e.machines.length
      ? h(
          'div',
          {},
          'test machines: ',
          e.machines.map((m, i) => [
            i ? ', ' : '',
            link(`/machines/${m.id}`, m.hostname),
            ` ${m.status}`,
            m.job ? [' (', link(`/jobs/${m.job}`, `job ${m.job}`), ')'] : '',
          ]),
        )
      : null,
    e.missing.length ? h('div', {}, `missing: ${e.missing.join('; ')}`) : null,
  );
}

export async function render(ctx) {
  const stage = ctx.args.stage;
  const r = await get(EP.stageHistory(stage));
  const mark = ctx.params.get('gen');
  const rows = [...r.generations].reverse().map((g) =>
    h(
      'tr',
      {
        id: `gen-${g.id}`,
        tabindex: String(g.id) === mark ? '-1' : undefined,
        class: String(g.id) === mark ? 'marked' : undefined,
      },
      h('td', { class: 'num' }, String(g.id)),
      h('td', {}, `${g.backend} ${g.suite}`),
      h('td', {}, g.kind + (g.forced ? ' (forced)' : '')),
      h('td', {}, when(g.createdAt)),
      h('td', {}, g.actor ?? '—'),
      h('td', {}, g.reason ?? ''),
      h('td', {}, evidence(g.evidence)),
    ),
  );
  replace(
    ctx.root,
    h('p', {}, link('/gate', '← Release gate')),
    heading(`History of ${r.stage}`),
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Generation', 'Suite', 'Kind', 'When', 'Who', 'Why', 'Evidence'].map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
  const marked = mark ? document.getElementById(`gen-${mark}`) : null;
  marked?.focus();
}
