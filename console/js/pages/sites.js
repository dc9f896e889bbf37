// Site caches under this server (docs/sites.md): the list and one site, as each last reported
// (last contact, bytes served locally and fetched from this server, hit ratio, health, the
// pre-loading's progress) with the machines that belong to it; one site adds its networks and
// classes. Admins create site tokens, set a site's networks, classes and URL, and remove a site
// (sites-admin.js); viewers and operators see no button.
import { get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { ago, bytes, count, percent, when } from '../format.js';
import { dataTable } from '../table.js';
import { removeButton, setForm, tokenForm } from './sites-admin.js';

const HEALTH_CLASS = { ok: 'ok', degraded: 'warn', unknown: 'muted' };
const exact = new Intl.NumberFormat('en');

/** "3 minutes ago", the local date and time in its title; "never" before the first report. */
const contact = (iso) => (iso ? h('time', { datetime: iso, title: when(iso) }, ago(iso)) : 'never');

function health(s) {
  return h(
    'span',
    { class: 'health' },
    h('span', { class: `badge ${HEALTH_CLASS[s.health] ?? ''}` }, s.health),
    s.healthReason ? [' ', h('span', { class: 'reason' }, s.healthReason)] : null,
  );
}

/** Done of the total: 1 when nothing is left to pre-load (or nothing was asked). */
function preloadRatio(p) {
  if (p.bytesTotal > 0) return p.bytesDone / p.bytesTotal;
  if (p.filesTotal > 0) return p.filesDone / p.filesTotal;
  return 1;
}

const preloadText = (p) => `${p.filesDone} of ${p.filesTotal} files, ${bytes(p.bytesDone)} of ${bytes(p.bytesTotal)}`;

/** The pre-loading's progress: a bar (by bytes, by files when sizes are unknown) and its figures. */
function preload(s) {
  const p = s.preload;
  if (p.filesTotal === 0 && p.bytesTotal === 0) return h('span', { class: 'muted preload' }, 'nothing to pre-load');
  const byBytes = p.bytesTotal > 0;
  return h(
    'span',
    { class: 'preload' },
    h('progress', {
      max: String(byBytes ? p.bytesTotal : p.filesTotal),
      value: String(byBytes ? p.bytesDone : p.filesDone),
      'aria-label': `Pre-loading at ${s.name}: ${percent(preloadRatio(p))}`,
    }),
    ' ',
    h('span', { class: 'figures' }, preloadText(p)),
  );
}

function list(ctx, sites) {
  return [
    heading('Sites'),
    h(
      'p',
      { class: 'muted' },
      'Site caches under this server: each fetches over its link once and serves its machines ' +
        '(by class, or by network). The figures are those of its last report.',
    ),
    ctx.can('admin') ? tokenForm() : null,
    dataTable({
      id: 'sites',
      rows: sites,
      params: ctx.params,
      sort: 'name',
      search: (s) => [s.name, s.url, s.health, s.healthReason].join(' '),
      columns: [
        { key: 'name', label: 'Site', cell: (s) => link(`/sites/${encodeURIComponent(s.name)}`, s.name) },
        { key: 'url', label: 'URL', cell: (s) => s.url || h('span', { class: 'muted' }, 'none') },
        { key: 'lastContact', label: 'Last contact', cell: (s) => contact(s.lastContact) },
        { key: 'health', label: 'Health', cell: health },
        { key: 'bytesLocal', label: 'Served locally', num: true, cell: (s) => bytes(s.bytesLocal) },
        { key: 'bytesParent', label: 'From this server', num: true, cell: (s) => bytes(s.bytesParent) },
        { key: 'hitRatio', label: 'Hit ratio', num: true, cell: (s) => percent(s.hitRatio) },
        { key: 'machines', label: 'Machines', num: true },
        { key: 'preload', label: 'Pre-loading', value: (s) => preloadRatio(s.preload), cell: preload },
      ],
      filters: [
        {
          name: 'health',
          label: 'Health',
          options: ['ok', 'degraded', 'unknown'].map((x) => [x, x]),
          test: (s, v) => s.health === v,
        },
      ],
      caption: 'Site caches',
      empty: 'No site has joined yet.',
    }),
  ];
}

const sized = (n) => `${bytes(n)} (${exact.format(n)} bytes)`;
const listed = (xs, none) => (xs.length ? xs.join(', ') : h('span', { class: 'muted' }, none));

function one(ctx, s) {
  const p = s.preload;
  const facts = [
    ['URL', s.url || h('span', { class: 'muted' }, 'none: its machines get no proxy and no stage sources there')],
    ['Health', health(s)],
    ['Last contact', s.lastContact ? [contact(s.lastContact), ` (${when(s.lastContact)})`] : 'never'],
    ['Last address', s.lastAddress ?? '—'],
    ['Joined', when(s.createdAt)],
    ['Served locally', sized(s.bytesLocal)],
    ['From this server', sized(s.bytesParent)],
    ['Hit ratio', `${percent(s.hitRatio)} (${count(s.hits)} hits, ${count(s.misses)} misses)`],
    ['Pre-loading', preload(s)],
    ['Pre-loading to do', `${p.filesTotal - p.filesDone} files, ${bytes(p.bytesTotal - p.bytesDone)}`],
    ['Machines', count(s.machines)],
    ['Networks', listed(s.networks, 'none')],
    ['Classes', listed(s.classes, 'none')],
  ];
  const admin = ctx.can('admin');
  return [
    h('p', {}, link('/sites', '← Sites')),
    heading(`Site ${s.name}`),
    admin ? h('div', { class: 'actions' }, removeButton(s)) : null,
    h(
      'dl',
      { class: 'facts', id: 'site-facts' },
      facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    admin ? [h('h2', {}, 'Membership and URL'), setForm(ctx, s)] : null,
  ];
}

export async function render(ctx) {
  if (ctx.args.name === undefined) {
    replace(ctx.root, list(ctx, listOf(await get(EP.sites), 'sites')));
    return;
  }
  replace(ctx.root, one(ctx, await get(EP.site(ctx.args.name))));
}
