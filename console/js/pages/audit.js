// The audit log: every state-changing action from the CLI, the API and this console, and every
// login: when, who (user, token or local root), from where, what, with which arguments, the
// result. Promotions and rollbacks link to the generations they made (the gate's evidence).
// The API answers the newest 100 (of the filter); "Older entries" asks for those before them.
import { ApiError, get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, replace } from '../dom.js';
import { when } from '../format.js';
import { hashOf } from '../router.js';
import { dataTable } from '../table.js';

const LIMIT = 100;

/**
 * Links to what an entry's detail names: the stage generations a promotion or rollback made
 * ({ generations: [id | { id, stage }] }), the jobs a job request queued ({ jobs: [id] }).
 */
function evidenceLinks(e) {
  const detail = e.detail ?? {};
  const stage = detail.stage ?? e.args?.stage;
  const gens = Array.isArray(detail.generations) ? detail.generations : [];
  if (gens.length && stage)
    return gens.map((g, i) => {
      const id = typeof g === 'object' ? g.id : g;
      const st = typeof g === 'object' && g.stage ? g.stage : stage;
      return [
        i ? ', ' : '',
        h('a', { href: hashOf(`/gate/${encodeURIComponent(st)}`, { gen: id }) }, `generation ${id} of ${st}`),
      ];
    });
  const jobs = Array.isArray(detail.jobs) ? detail.jobs.filter((j) => Number.isInteger(j)) : [];
  if (jobs.length) return jobs.map((id, i) => [i ? ', ' : '', h('a', { href: `#/jobs/${id}` }, `job ${id}`)]);
  return e.detail ? JSON.stringify(e.detail) : '';
}

// "alice", "alice (API token 3)", "local root" (the command line on the server host)
const who = (e) => (e.actorKind === 'token' ? `${e.actor} (API token ${e.tokenId ?? '?'})` : e.actor);

function filterForm(q) {
  const field = (id, label, name, placeholder) => {
    const input = h('input', { id, name, value: q[name], placeholder });
    return [h('label', { for: id }, label, input), input];
  };
  const [sinceL, since] = field('audit-since', 'Since', 'since', '1d or 2026-01-31');
  const [userL, user] = field('audit-user', 'User', 'user', '');
  const [actionL, action] = field('audit-action', 'Action', 'action', 'gate.promote');
  const form = h(
    'form',
    { class: 'toolbar', role: 'search', 'aria-label': 'Filter the audit log' },
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

function entriesTable(entries, params) {
  return dataTable({
    id: 'audit',
    rows: entries,
    params,
    sort: 'at',
    keepParams: false,
    pageSize: LIMIT,
    search: (e) => `${e.actor} ${e.action} ${JSON.stringify(e.args ?? {})} ${e.result}`,
    empty: 'No entry matches.',
    columns: [
      {
        key: 'at',
        label: 'When',
        // newest first, ties by id
        value: (e) => -e.id,
        cell: (e) => h('time', { datetime: e.at }, when(e.at)),
      },
      { key: 'actor', label: 'Who', value: who },
      { key: 'address', label: 'From', value: (e) => e.address ?? 'this host' },
      { key: 'action', label: 'Action' },
      { key: 'args', label: 'Arguments', value: (e) => (e.args ? JSON.stringify(e.args) : '') },
      {
        key: 'result',
        label: 'Result',
        cell: (e) => h('span', { class: e.result === 'ok' ? 'ok' : 'bad' }, e.result),
      },
      { key: 'detail', label: 'Evidence', value: () => null, cell: evidenceLinks },
    ],
  });
}

export async function render(ctx) {
  const q = {
    since: ctx.params.get('since') ?? '',
    user: ctx.params.get('user') ?? '',
    action: ctx.params.get('action') ?? '',
  };
  const before = ctx.params.get('before') ?? '';
  let body;
  try {
    const entries = listOf(await get(EP.audit, { ...q, before, limit: LIMIT }), 'entries');
    const last = entries.at(-1);
    body = [
      entriesTable(entries, ctx.params),
      h(
        'p',
        { class: 'actions' },
        before ? h('a', { href: hashOf('/audit', q) }, 'Newest entries') : null,
        entries.length === LIMIT && last
          ? h('a', { href: hashOf('/audit', { ...q, before: last.id }) }, 'Older entries')
          : null,
      ),
    ];
  } catch (err) {
    // a filter the API refuses (a bad date): the form stays, to be corrected
    if (!(err instanceof ApiError) || err.status === 401 || err.code !== 'USAGE') throw err;
    body = h('p', { class: 'bad', role: 'alert' }, `${err.message} (${err.code})`);
  }
  replace(ctx.root, heading('Audit log'), filterForm(q), body);
}
