// Who runs what: a package's installed versions across the fleet (GET /api/v1/packages/NAME,
// optionally older than a version), the machines per version (the server counts them), and
// which of them are outdated; the machines a page at a time (a package every machine has is
// 20,000 entries), searched and filtered by the server.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { hashOf } from '../router.js';
import { remoteTable } from '../remote-table.js';
import { dataTable } from '../table.js';

function searchForm(name, olderThan) {
  const pkg = h('input', {
    id: 'pkg-name',
    value: name ?? '',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const older = h('input', { id: 'pkg-older', value: olderThan ?? '', placeholder: 'e.g. 3.0.15-1~deb12u1' });
  const form = h(
    'form',
    { class: 'toolbar', role: 'search' },
    h('label', { for: pkg.id }, 'Package', pkg),
    h('label', { for: older.id }, 'Older than (optional)', older),
    h('button', { type: 'submit', class: 'primary' }, 'Show'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = hashOf(`/packages/${encodeURIComponent(pkg.value.trim())}`, { olderThan: older.value.trim() });
  });
  return form;
}

// the server's order of versions (dpkg's, highest first), which a text sort would not keep
const versionRows = (r) => (r.versions ?? []).map((v, i) => ({ ...v, order: i }));

export async function render(ctx) {
  const name = ctx.args.name;
  const olderThan = ctx.params.get('olderThan') ?? '';
  if (!name)
    return replace(
      ctx.root,
      heading('Packages'),
      h('p', {}, 'Which machines run a package, and at which version.'),
      searchForm(),
    );
  // the counts and versions (of all machines) come with every page; the first page of one entry gives them
  const r = await get(EP.packageUsers(name), { olderThan, limit: 1 });
  const table = remoteTable({
    id: 'users',
    caption: `Machines with ${r.package}`,
    params: ctx.params,
    keep: olderThan ? { olderThan } : {},
    search: { name: 'q', label: 'Search host name' },
    filters: [
      { name: 'version', label: 'Installed version', options: (r.versions ?? []).map((v) => [v.version, v.version]) },
      { name: 'security', label: 'Security update', options: [['true', 'pending']] },
    ],
    pageSize: 100,
    empty: 'No machine has it.',
    load: async (q) => {
      const a = await get(EP.packageUsers(name), q);
      return { rows: a.machines, total: a.total };
    },
    columns: [
      { key: 'hostname', label: 'Host', cell: (u) => link(`/machines/${u.id}`, u.hostname) },
      { key: 'instance', label: 'Instance', cell: (u) => u.instance },
      { key: 'version', label: 'Installed', cell: (u) => u.version },
      {
        key: 'candidate',
        label: 'Candidate',
        cell: (u) => u.candidate ?? (u.outdatedKnown ? 'up to date' : 'not known'),
      },
      { key: 'security', label: 'Security', cell: (u) => (u.security ? 'yes' : '') },
    ],
  });
  await table.ready;
  replace(
    ctx.root,
    heading(`Package ${r.package}${r.olderThan ? ` older than ${r.olderThan}` : ''}`),
    searchForm(name, olderThan),
    h(
      'p',
      {},
      `${r.counts.machines} machines have it; ${r.counts.outdated} could upgrade it, ${r.counts.security} with a security update.`,
    ),
    h('h2', {}, 'Versions'),
    dataTable({
      id: 'versions',
      rows: versionRows(r),
      keepParams: false,
      sort: 'version',
      columns: [
        { key: 'version', label: 'Version', value: (v) => v.order, cell: (v) => v.version },
        { key: 'machines', label: 'Machines', num: true },
        { key: 'outdated', label: 'Outdated', num: true },
        { key: 'security', label: 'Security', num: true },
      ],
    }),
    h('h2', {}, 'Machines'),
    table.el,
  );
}
