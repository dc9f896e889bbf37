// Overview: machines by state (each count links to the list it counts), the gate of each stage
// (open, or what it waits for) from GET /overview; the proxy's hit ratio and bytes, with their
// last 24 hours and 30 days drawn when the server keeps that history.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { STATES, UNSEEN_CHOICES, UNSEEN_DEFAULT } from '../fleet-states.js';
import { machineCards } from './overview-machines.js';
import { proxySection } from './overview-proxy.js';

function gateSection(gate) {
  const stages = gate.stages ?? [];
  if (!stages.length) return h('p', { class: 'muted' }, 'No stage promotes to another.');
  return h(
    'ul',
    { class: 'ladder' },
    stages.map((s) =>
      h(
        'li',
        {},
        h('strong', {}, link('/gate', `${s.stage} → ${s.next ?? '—'}`)),
        ' ',
        s.holds ? h('span', { class: 'badge ok' }, 'gate open') : h('span', { class: 'badge warn' }, 'gate closed'),
        h('div', {}, `${s.updates.length} update${s.updates.length === 1 ? '' : 's'} pending`),
        s.holds
          ? null
          : h(
              'ul',
              {},
              s.missing.slice(0, 5).map((m) => h('li', {}, m)),
            ),
      ),
    ),
  );
}

const settled = (r, render) =>
  r.status === 'fulfilled' ? render(r.value) : h('p', { class: 'bad' }, r.reason.message);

export async function render(ctx) {
  const unseen = UNSEEN_CHOICES[ctx.params.get('unseen')] ? ctx.params.get('unseen') : UNSEEN_DEFAULT;
  // the server counts (GET /overview): each count is the total of GET /machines?state=, whatever the fleet's size
  const [overview] = await Promise.allSettled([get(EP.overview, { unseen })]);
  replace(
    ctx.root,
    heading('Overview'),
    h('h2', {}, 'Machines'),
    settled(overview, (o) =>
      machineCards({ counts: o.machines.states, states: STATES, unseen, total: o.machines.total }),
    ),
    h('h2', {}, 'Release gate'),
    settled(overview, (o) => gateSection(o.gate)),
    h('h2', {}, 'Proxy'),
    await proxySection(),
  );
}
