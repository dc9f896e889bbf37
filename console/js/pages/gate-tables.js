// The gate page's tables: the test machines' standing (the gate's evidence) and the updates a
// stage would promote (its cooldown, the CVEs it fixes), with a check box per update for "promote
// only the selected sources".
import { h, link } from '../dom.js';
import { cveLink } from '../exposures.js';
import { when } from '../format.js';

const STANDING = { passed: 'ok', failed: 'bad', waiting: 'warn' };

export function machinesTable(machines) {
  if (!machines.length) return h('p', { class: 'muted' }, 'No test machine.');
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Test machine', 'Standing', 'Job', 'Why'].map((t) => h('th', { scope: 'col' }, t)),
      ),
    ),
    h(
      'tbody',
      {},
      machines.map((m) =>
        h(
          'tr',
          {},
          h('td', {}, link(`/machines/${m.id}`, m.hostname)),
          h('td', {}, h('span', { class: STANDING[m.status] }, m.status)),
          h('td', {}, m.job ? link(`/jobs/${m.job}`, String(m.job)) : '—'),
          h('td', {}, m.reason ?? ''),
        ),
      ),
    ),
  );
}

/** Where an update stands with the cooldown ([gate] min_age): until when, or why it may go now. */
export function cooldownText(u) {
  if (u.inCooldown === undefined) return '—';
  if (u.inCooldown) return `until ${when(u.eligibleAt)}`;
  return u.fastLane ? `fast lane: ${u.fastLane}` : 'done';
}

const fixesCell = (u) =>
  u.fixes?.length ? u.fixes.map((f, i) => [i ? ', ' : '', cveLink(f.cve), ` (${f.urgency})`]) : '—';

export function updatesTable(st, selectable) {
  if (!st.updates.length) return { el: h('p', { class: 'muted' }, 'Nothing waits to move on.'), selected: () => [] };
  const boxes = [];
  const rows = st.updates.map((u, i) => {
    const box = selectable ? h('input', { type: 'checkbox', id: `sel-${st.stage}-${i}`, value: u.source }) : null;
    if (box) boxes.push(box);
    return h(
      'tr',
      {},
      selectable ? h('td', {}, box) : null,
      h('td', {}, box ? h('label', { for: box.id }, u.source) : u.source),
      h('td', {}, u.from ?? '(new)'),
      h('td', {}, u.to),
      h('td', {}, u.security ? h('span', { class: 'badge bad' }, 'security') : ''),
      h('td', {}, `${u.backend} ${u.suite}`),
      h('td', { class: u.inCooldown ? 'muted' : undefined }, cooldownText(u)),
      h('td', {}, fixesCell(u)),
    );
  });
  const head = [
    selectable ? 'Select' : null,
    'Source',
    `In ${st.next}`,
    `In ${st.stage}`,
    'Security',
    'Suite',
    'Cooldown',
    'Fixes',
  ].filter(Boolean);
  return {
    el: h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((t) => h('th', { scope: 'col' }, t)),
        ),
      ),
      h('tbody', {}, rows),
    ),
    selected: () => [...new Set(boxes.filter((b) => b.checked).map((b) => b.value))],
  };
}
