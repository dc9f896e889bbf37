// The audit log: every state-changing action from the CLI, the API and this console, and every
// login: when, who (user, token or local root), from where, what, with which arguments, the
// result. Promotions and rollbacks link to the generations they made (the gate's evidence).
import { get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, replace } from '../dom.js';
import { when } from '../format.js';
import { hashOf } from '../router.js';
import { dataTable } from '../table.js';

const pick = (row, ...keys) => keys.map((k) => row[k]).find((v) => v !== undefined && v !== null) ?? null;

/** Links to the stage generations an entry's detail names ({ generations: [id | { id, stage }] }). */
function evidenceLinks(e) {
  const detail = e.detail ?? {};
  const stage = detail.stage ?? e.args?.stage;
  const gens = Array.isArray(detail.generations) ? detail.generations : [];
  if (!gens.length || !stage) return e.detail ? JSON.stringify(e.detail) : '';
  return gens.map((g, i) => {
    const id = typeof g === 'object' ? g.id : g;
    const st = typeof g === 'object' && g.stage ? g.stage : stage;
    return [
      i ? ', ' : '',
      h('a', { href: hashOf(`/gate/${encodeURIComponent(st)}`, { gen: id }) }, `generation ${id}`),
    ];
  });
}

function filterForm(params) {
  const field = (id, label, name, placeholder) => {
    const input = h('input', { id, name, value: params.get(name) ?? '', placeholder });
    return [h('label', { for: id }, label, input), input];
  };
  const [sinceL, since] = field('audit-since', 'Since', 'since', '1d or 2025-01-31');
  const [userL, user] = field('audit-user', 'User', 'user', '');
  const [actionL, action] = field('audit-action', 'Action', 'action', 'gate.promote');
  const form = h(
    'form',
    { class: 'toolbar', role: 'search' },
    sinceL,
    userL,
    actionL,
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = hashOf('/audit', {
      since: since.value.trim(),
      user: user.value.trim(),
      action: action.value.trim(),
    });
  });
  return form;
}

export async function render(ctx) {
  const q = {
    since: ctx.params.get('since') ?? '',
    user: ctx.params.get('user') ?? '',
    action: ctx.params.get('action') ?? '',
  };
  const answer = await get(EP.audit, q);
  const entries = listOf(answer, 'entries').length ? listOf(answer, 'entries') : listOf(answer, 'audit');
  replace(
    ctx.root,
    heading('Audit log'),
    filterForm(ctx.params),
    dataTable({
      id: 'audit',
      rows: entries,
      params: ctx.params,
      sort: 'at',
      keepParams: false,
      search: (e) => `${e.actor} ${e.action} ${JSON.stringify(e.args ?? {})} ${e.result}`,
      columns: [
        {
          key: 'at',
          label: 'When',
          value: (e) => -Date.parse(e.at),
          cell: (e) => h('time', { datetime: e.at }, when(e.at)),
        },
        { key: 'actor', label: 'Who', value: (e) => `${e.actor} (${pick(e, 'actorKind', 'actor_kind') ?? '?'})` },
        { key: 'address', label: 'From', value: (e) => e.address ?? 'local' },
        { key: 'action', label: 'Action' },
        { key: 'args', label: 'Arguments', value: (e) => (e.args ? JSON.stringify(e.args) : '') },
        {
          key: 'result',
          label: 'Result',
          cell: (e) => h('span', { class: e.result === 'ok' ? 'ok' : 'bad' }, e.result),
        },
        { key: 'detail', label: 'Evidence', value: () => null, cell: evidenceLinks },
      ],
    }),
  );
}
