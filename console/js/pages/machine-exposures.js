// A machine's exposures (GET /api/v1/cves?machine=ID): each issue of its installed sources,
// with the installed version, the fixed one and where the fix stands for this machine; most
// urgent first. One answer of up to 1000 (a machine has far fewer), searched and paged here.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h } from '../dom.js';
import { cveLink, STATUS_TEXT, statusText, URGENCIES, urgencyBadge } from '../exposures.js';
import { dataTable } from '../table.js';

const LIMIT = 1000;

/** The answer, or the error that explains why there is none (shown in the section). */
export async function loadExposures(id) {
  try {
    return await get(EP.cves, { machine: id, limit: LIMIT });
  } catch (err) {
    if (err.status === 401) throw err;
    return { error: err };
  }
}

export function exposuresSection(a, machine) {
  const title = h('h2', { id: 'exposures-title' }, 'Exposures');
  const wrap = (...body) => h('section', { class: 'no-print', 'aria-labelledby': 'exposures-title' }, title, ...body);
  if (a.error) return wrap(h('p', { class: 'bad' }, `${a.error.message} (${a.error.code ?? 'error'})`));
  if (a.machine && !a.machine.known) return wrap(h('p', { class: 'muted' }, `Not known yet: ${a.machine.reason}.`));
  const rows = (a.cves ?? []).map((c, i) => ({ ...c, order: i }));
  return wrap(
    h(
      'p',
      {},
      `${a.total} known issue${a.total === 1 ? '' : 's'} of its installed packages`,
      a.machine?.release ? ` (${a.machine.release})` : '',
      a.total > rows.length ? `; the ${rows.length} most urgent shown` : '',
      '.',
    ),
    dataTable({
      id: 'exposures',
      caption: `Exposures of ${machine.hostname}`,
      rows,
      params: new URLSearchParams(),
      keepParams: false,
      sort: 'urgency',
      pageSize: 50,
      searchLabel: 'Search CVE or source',
      search: (r) => `${r.cve} ${r.source}`,
      empty: 'No known issue.',
      filters: [
        {
          name: 'status',
          label: 'Fix',
          options: Object.entries(STATUS_TEXT),
          test: (r, v) => r.status === v,
        },
      ],
      columns: [
        { key: 'cve', label: 'CVE', cell: (r) => cveLink(r.cve) },
        // the server's order: most urgent first
        {
          key: 'urgency',
          label: 'Urgency',
          value: (r) => URGENCIES.indexOf(r.urgency) * 1e6 + r.order,
          cell: (r) => urgencyBadge(r.urgency),
        },
        { key: 'source', label: 'Source' },
        { key: 'installed', label: 'Installed', value: (r) => r.installed ?? '' },
        { key: 'fixed', label: 'Fixed in', value: (r) => r.fixed ?? 'not fixed' },
        { key: 'status', label: 'Fix', value: (r) => statusText(r.status) },
      ],
    }),
  );
}
