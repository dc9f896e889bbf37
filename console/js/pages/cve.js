// One CVE (GET /api/v1/cves/CVE): its summary and urgency, where the fix stands in the release
// gate's stages ("fixed in test, pending promotion to production"), what each feed says, and the
// machines exposed, a page at a time from the server, each with where its fix stands.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { statusCounts, statusText, urgencyBadge } from '../exposures.js';
import { remoteTable } from '../remote-table.js';

const th = (...labels) =>
  h(
    'thead',
    {},
    h(
      'tr',
      {},
      labels.map((t) => h('th', { scope: 'col' }, t)),
    ),
  );

function ladder(stages) {
  if (!stages?.length) return h('p', { class: 'muted' }, 'No stage of the release gate publishes the source of a fix.');
  return stages.map((s) =>
    h(
      'section',
      { class: 'cve-ladder' },
      h('h3', {}, `${s.source} ${s.fixed} (${s.release})`),
      h('p', { class: 'standing' }, s.standing),
      h(
        'table',
        {},
        h('caption', { class: 'sr-only' }, `${s.source} ${s.fixed} in each stage`),
        th('Stage', 'Has the fix', 'Suites'),
        h(
          'tbody',
          {},
          s.stages.map((st) =>
            h(
              'tr',
              {},
              h('td', {}, link(`/gate/${encodeURIComponent(st.stage)}`, st.stage)),
              h(
                'td',
                {},
                st.fixed ? h('span', { class: 'badge ok' }, 'fixed') : h('span', { class: 'badge warn' }, 'not yet'),
              ),
              h('td', {}, st.suites.map((x) => `${x.backend}/${x.suite} ${x.version ?? '—'}`).join(', ') || '—'),
            ),
          ),
        ),
      ),
    ),
  );
}

function records(list) {
  return h(
    'table',
    { id: 'cve-records' },
    h('caption', { class: 'sr-only' }, 'What each feed says'),
    th('Feed', 'Advisory', 'Source', 'Release', 'Status', 'Fixed in', 'Urgency'),
    h(
      'tbody',
      {},
      list.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, r.feed),
          h('td', {}, r.advisory ?? '—'),
          h('td', {}, r.source),
          h('td', {}, r.release),
          h('td', {}, r.status),
          h('td', {}, r.fixedVersion ?? '—'),
          h('td', {}, urgencyBadge(r.urgency)),
        ),
      ),
    ),
  );
}

export async function render(ctx) {
  const cve = ctx.args.cve;
  // the first page's answer carries the CVE's records and ladder; later pages only change the machines
  let d = null;
  const counts = h('p', { id: 'cve-counts' });
  const table = remoteTable({
    id: 'cve-machines',
    caption: `Machines exposed to ${cve}`,
    params: ctx.params,
    search: false,
    pageSize: 100,
    empty: 'No machine is exposed.',
    load: async (q) => {
      const a = await get(EP.cve(cve), { page: q.page, limit: q.limit });
      d ??= a;
      replace(counts, `${a.total} machine${a.total === 1 ? '' : 's'} exposed: ${statusCounts(a.statuses)}.`);
      return { rows: a.machines ?? [], total: a.total ?? 0 };
    },
    columns: [
      { key: 'hostname', label: 'Host', cell: (m) => link(`/machines/${m.id}`, m.hostname) },
      { key: 'release', label: 'Release', cell: (m) => m.release },
      { key: 'source', label: 'Source', cell: (m) => m.source },
      { key: 'installed', label: 'Installed', cell: (m) => m.installed },
      { key: 'fixed', label: 'Fixed in', cell: (m) => m.fixed ?? 'not fixed' },
      { key: 'status', label: 'Where the fix stands', cell: (m) => statusText(m.status) },
      { key: 'candidate', label: 'Candidate', cell: (m) => m.candidate ?? '—' },
    ],
  });
  await table.ready;
  const back = h('p', { class: 'no-print' }, link('/cves', '← CVEs'));
  // not found or refused: the table says why (the notice too)
  if (!d) return replace(ctx.root, back, heading(cve), table.el);
  replace(
    ctx.root,
    back,
    heading(d.cve),
    h('p', {}, 'Urgency ', urgencyBadge(d.urgency)),
    d.summary ? h('p', { class: 'cve-summary' }, d.summary) : h('p', { class: 'muted' }, 'No summary.'),
    h('h2', {}, 'Where the fix stands in the release gate'),
    ladder(d.stages),
    h('h2', {}, 'What each feed says'),
    records(d.records ?? []),
    h('h2', {}, 'Machines exposed'),
    counts,
    table.el,
  );
}
