// The release gate: the ladder of stages (what each publishes, its classes and test machines,
// auto-promotion), and for every stage that promotes: its gate, what is pending, the evidence,
// and (operators) promote, force with a reason, roll back; a link to the rollouts in waves.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { duration } from '../format.js';
import { stageSection } from './gate-stage.js';

function ladder(list) {
  return h(
    'ol',
    { class: 'ladder', 'aria-label': 'Stages, first to last' },
    list.stages.map((s) =>
      h(
        'li',
        {},
        h('strong', {}, s.name),
        h(
          'div',
          {},
          `${s.suites.length} suite${s.suites.length === 1 ? '' : 's'}, ${s.testMachines} test machine${s.testMachines === 1 ? '' : 's'}`,
        ),
        h('div', {}, `classes: ${s.classes.map((c) => `${c.name}${c.gate ? ' (gate)' : ''}`).join(', ') || 'none'}`),
        s.next
          ? h(
              'div',
              {},
              s.autoPromoteSoakMs === null
                ? 'promoted by hand'
                : `auto-promotes after ${duration(s.autoPromoteSoakMs)}`,
            )
          : null,
        h('div', {}, link(`/gate/${encodeURIComponent(s.name)}`, 'history')),
      ),
    ),
  );
}

export async function render(ctx) {
  const [list, status] = await Promise.all([get(EP.stages), get(EP.gate)]);
  const byName = new Map(list.stages.map((s) => [s.name, s]));
  replace(
    ctx.root,
    heading('Release gate'),
    ladder(list),
    h('p', {}, link('/rollouts', 'Rollouts in waves'), ': stage content moving to a class a share at a time'),
    status.stages.map((st) => stageSection(st, byName.get(st.stage), ctx)),
    // the last stage promotes nowhere but can be rolled back
    list.stages.length && !status.stages.some((s) => s.stage === list.ladder.at(-1))
      ? stageSection(
          {
            stage: list.ladder.at(-1),
            next: null,
            holds: false,
            missing: [],
            updates: [],
            machines: [],
            publishedAt: null,
            last: true,
          },
          byName.get(list.ladder.at(-1)),
          ctx,
        )
      : null,
  );
}
