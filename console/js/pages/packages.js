// Who runs what: a package's installed versions across the fleet (GET /api/v1/packages/NAME,
// optionally older than a version), the machines per version (the server counts them), and
// which of them are outdated.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { hashOf } from '../router.js';
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
  const r = await get(EP.packageUsers(name), { olderThan });
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
    dataTable({
      id: 'users',
      rows: r.machines,
      params: ctx.params,
      sort: 'hostname',
      search: (u) => `${u.hostname} ${u.version}`,
      columns: [
        { key: 'hostname', label: 'Host', cell: (u) => link(`/machines/${u.id}`, u.hostname) },
        { key: 'instance', label: 'Instance' },
        { key: 'version', label: 'Installed' },
        {
          key: 'candidate',
          label: 'Candidate',
          value: (u) => u.candidate ?? (u.outdatedKnown ? 'up to date' : 'not known'),
        },
        { key: 'security', label: 'Security', value: (u) => (u.security ? 'yes' : '') },
      ],
    }),
  );
}
