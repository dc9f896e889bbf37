// The overview's machine counts (GET /api/v1/overview: the server counts): one card per state,
// each a link to the machine list filtered by it, whose total is that count; a choice of how
// long "not seen" is.
import { h, link } from '../dom.js';
import { hashOf } from '../router.js';
import { UNSEEN_CHOICES } from '../fleet-states.js';

export function machineCards({ counts, states, unseen, total }) {
  const select = h(
    'select',
    { id: 'overview-unseen' },
    Object.keys(UNSEEN_CHOICES).map((k) => h('option', { value: k, selected: k === unseen }, UNSEEN_CHOICES[k])),
  );
  select.addEventListener('change', () => {
    location.hash = hashOf('/overview', { unseen: select.value });
  });
  return h(
    'div',
    {},
    h('p', {}, `${total} machines enrolled. `, link('/machines', 'All machines')),
    h(
      'div',
      { class: 'cards' },
      states.map((s) =>
        h(
          'a',
          {
            class: 'card',
            href: hashOf('/machines', { state: s.name, unseen: s.name === 'unseen' ? unseen : '' }),
            'data-state': s.name,
          },
          h('span', { class: 'n' }, String(counts[s.name])),
          s.name === 'unseen' ? `Not seen for more than ${UNSEEN_CHOICES[unseen]}` : s.label,
        ),
      ),
    ),
    h('div', { class: 'toolbar' }, h('label', { for: select.id }, '“Not seen” means for more than', select)),
  );
}
