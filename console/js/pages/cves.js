// CVEs: the issues the fleet is exposed to, per CVE, source and release (GET /api/v1/cves: the
// machines exposed and where the fix stands for how many of them), most urgent first, a page at
// a time from the server, filtered by urgency; each CVE links to its page. A CVE id typed in the
// form opens its page (the list has no text search).
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { cveLink, statusCounts, URGENCIES, urgencyBadge } from '../exposures.js';
import { remoteTable } from '../remote-table.js';

function lookup() {
  const input = h('input', { id: 'cve-id', required: true, autocomplete: 'off', placeholder: 'CVE-2024-9143' });
  const form = h(
    'form',
    { class: 'toolbar', role: 'search' },
    h('label', { for: input.id }, 'Open a CVE', input),
    h('button', { type: 'submit' }, 'Open'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = `#/cves/${encodeURIComponent(input.value.trim().toUpperCase())}`;
  });
  return form;
}

export async function render(ctx) {
  const summary = h('p', { id: 'cves-summary' });
  const table = remoteTable({
    id: 'cves',
    caption: 'Issues the fleet is exposed to',
    params: ctx.params,
    search: false,
    filters: [{ name: 'urgency', label: 'Urgency', options: URGENCIES.map((u) => [u, u]) }],
    empty: 'No machine is exposed to a known issue.',
    load: async (q) => {
      const a = await get(EP.cves, { urgency: q.urgency, page: q.page, limit: q.limit });
      replace(
        summary,
        `${a.total} issue${a.total === 1 ? '' : 's'} on ${a.machinesExposed} machine${a.machinesExposed === 1 ? '' : 's'}`,
        q.urgency ? ` (urgency ${q.urgency})` : '',
        '.',
      );
      return { rows: a.cves ?? [], total: a.total ?? 0 };
    },
    columns: [
      { key: 'cve', label: 'CVE', cell: (c) => cveLink(c.cve) },
      { key: 'urgency', label: 'Urgency', cell: (c) => urgencyBadge(c.urgency) },
      { key: 'source', label: 'Source', cell: (c) => c.source },
      { key: 'release', label: 'Release', cell: (c) => c.release },
      { key: 'fixed', label: 'Fixed in', cell: (c) => c.fixed ?? 'not fixed' },
      { key: 'machines', label: 'Machines', num: true, cell: (c) => String(c.machines) },
      { key: 'statuses', label: 'Where the fix stands', cell: (c) => statusCounts(c.statuses) },
    ],
  });
  await table.ready;
  replace(
    ctx.root,
    heading('CVEs'),
    h(
      'p',
      {},
      'Security issues of installed packages, from the advisory feeds (',
      link('/advisories', 'their status'),
      ').',
    ),
    lookup(),
    summary,
    table.el,
  );
}
