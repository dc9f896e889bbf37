// Overview: machines by state (each count links to the list it counts), the gate of each stage
// (open, or what it waits for), the proxy's hit ratio and bytes, with their last 24 hours and
// 30 days drawn. The counts, the gate and the proxy's totals are one answer (GET /overview).
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { STATES, UNSEEN_CHOICES, UNSEEN_DEFAULT } from '../fleet-states.js';
import { machineCards } from './overview-machines.js';
import { proxySection } from './overview-proxy.js';

function gateSection(gate) {
  const stages = gate?.stages ?? [];
  if (!stages.length) return h('p', { class: 'muted' }, 'No stage promotes to another.');
  return h(
    'ul',
    { class: 'ladder' },
    stages.map((s) =>
      h(
        'li',
        { 'data-stage': s.stage },
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

const failed = (err) => h('p', { class: 'bad' }, `${err.message} (${err.code ?? 'error'})`);

export async function render(ctx) {
  const unseen = UNSEEN_CHOICES[ctx.params.get('unseen')] ? ctx.params.get('unseen') : UNSEEN_DEFAULT;
  let o = null;
  let error = null;
  try {
    o = await get(EP.overview, { unseen });
  } catch (err) {
    if (err.status === 401) throw err;
    error = err;
  }
  const proxy = await proxySection(o?.proxy ?? null);
  replace(
    ctx.root,
    heading('Overview'),
    h('h2', {}, 'Machines'),
    o ? machineCards({ counts: o.machines.states, states: STATES, unseen, total: o.machines.total }) : failed(error),
    h(
      'div',
      { class: 'cols' },
      h(
        'section',
        { 'aria-labelledby': 'gate-title' },
        h('h2', { id: 'gate-title' }, 'Release gate'),
        o ? gateSection(o.gate) : failed(error),
      ),
      h('section', { 'aria-labelledby': 'proxy-title' }, h('h2', { id: 'proxy-title' }, 'Proxy'), proxy.facts),
    ),
    h('h2', {}, 'Proxy traffic'),
    proxy.traffic,
  );
}
