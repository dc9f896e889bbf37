// Machines: the fleet as a table the server filters, sorts and pages (GET /api/v1/machines: search
// by host name, state, class, status; `?q= &state= &unseen= &class= &status= &sort= &dir= &page=`);
// each machine names its classes (precedence order); their stages come from GET /api/v1/classes.
import { get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { STATES, UNSEEN_CHOICES, UNSEEN_DEFAULT } from '../fleet-states.js';
import { ago, count } from '../format.js';
import { remoteTable } from '../remote-table.js';

/** The stage a machine follows: that of its first class (precedence order) bound to one. */
function stageOf(machine, stages) {
  for (const name of machine.classes ?? []) if (stages.get(name)) return stages.get(name);
  return null;
}

const flag = (n, cls) => (n ? h('span', { class: cls }, String(n)) : count(n));

export async function render(ctx) {
  const classAnswer = await get(EP.classes).catch(() => ({ classes: [] }));
  const classes = listOf(classAnswer, 'classes');
  const stages = new Map(classes.map((c) => [c.name, c.stage]));
  const unseen = UNSEEN_CHOICES[ctx.params.get('unseen')] ? ctx.params.get('unseen') : UNSEEN_DEFAULT;
  const table = remoteTable({
    id: 'machines',
    caption: 'Enrolled machines',
    params: ctx.params,
    sort: 'hostname',
    keep: ctx.params.get('unseen') ? { unseen } : {},
    search: { name: 'q', label: 'Search host name' },
    filters: [
      { name: 'state', label: 'State', options: STATES.map((s) => [s.name, s.label]) },
      { name: 'class', label: 'Class', options: classes.map((c) => [c.name, c.name]) },
      {
        name: 'status',
        label: 'Status',
        options: [
          ['approved', 'approved'],
          ['pending', 'pending'],
        ],
      },
    ],
    load: async (q) => {
      const a = await get(EP.machines, q);
      return { rows: listOf(a, 'machines'), total: a.total ?? listOf(a, 'machines').length };
    },
    columns: [
      { key: 'hostname', label: 'Host', sort: 'hostname', cell: (m) => link(`/machines/${m.id}`, m.hostname) },
      { key: 'status', label: 'Status', sort: 'status', cell: (m) => m.status },
      { key: 'classes', label: 'Classes', sort: 'class', cell: (m) => (m.classes ?? []).join(', ') || '—' },
      { key: 'stage', label: 'Stage', cell: (m) => stageOf(m, stages) ?? '—' },
      {
        key: 'codename',
        label: 'Release',
        sort: 'codename',
        cell: (m) => (m.codename ? `${m.codename} ${m.architecture}` : m.architecture),
      },
      { key: 'outdated', label: 'Outdated', sort: 'outdated', num: true, cell: (m) => flag(m.outdated, 'warn') },
      { key: 'security', label: 'Security', sort: 'security', num: true, cell: (m) => flag(m.security, 'bad') },
      {
        key: 'rebootRequired',
        label: 'Reboot',
        sort: 'rebootRequired',
        cell: (m) => (m.rebootRequired === null ? '—' : m.rebootRequired ? 'yes' : 'no'),
      },
      {
        key: 'lastSeen',
        label: 'Last seen',
        sort: 'lastSeen',
        cell: (m) => h('time', { datetime: m.lastSeen ?? '' }, ago(m.lastSeen)),
      },
      { key: 'openJobs', label: 'Open jobs', num: true, cell: (m) => String(m.openJobs) },
    ],
  });
  await table.ready;
  replace(ctx.root, heading('Machines'), table.el);
}
