// Machines: the fleet as a table (search by host name, filter by state, class and status, sort
// by any column, pages); classes and stages come from GET /api/v1/classes.
import { get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { inState, STATES, UNSEEN_CHOICES, UNSEEN_DEFAULT } from '../fleet-states.js';
import { ago, count } from '../format.js';
import { dataTable } from '../table.js';

/** machine id → { classes: names, stage } from the classes' members. */
function membership(classes) {
  const out = new Map();
  for (const c of classes) {
    for (const m of c.members) {
      const e = out.get(m.id) ?? { classes: [], stage: null };
      e.classes.push(c.name);
      if (c.stage && !e.stage) e.stage = c.stage;
      out.set(m.id, e);
    }
  }
  return out;
}

const flag = (n, cls) => (n ? h('span', { class: cls }, String(n)) : count(n));

export async function render(ctx) {
  const [answer, classAnswer] = await Promise.all([get(EP.machines), get(EP.classes).catch(() => ({ classes: [] }))]);
  const classes = listOf(classAnswer, 'classes');
  const of = membership(classes);
  const unseen = UNSEEN_CHOICES[ctx.params.get('unseen')] ? ctx.params.get('unseen') : UNSEEN_DEFAULT;
  const now = Date.now();
  const rows = listOf(answer, 'machines').map((m) => ({ ...m, ...(of.get(m.id) ?? { classes: [], stage: null }) }));
  replace(
    ctx.root,
    heading('Machines'),
    dataTable({
      id: 'machines',
      caption: 'Enrolled machines',
      rows,
      params: ctx.params,
      sort: 'hostname',
      search: (m) => `${m.hostname} ${m.classes.join(' ')} ${m.codename ?? ''}`,
      searchLabel: 'Search host, class, release',
      filters: [
        {
          name: 'state',
          label: 'State',
          options: STATES.map((s) => [s.name, s.label]),
          test: (m, v) => inState(m, v, { now, unseen }),
        },
        {
          name: 'class',
          label: 'Class',
          options: classes.map((c) => [c.name, c.name]),
          test: (m, v) => m.classes.includes(v),
        },
        {
          name: 'status',
          label: 'Status',
          options: [
            ['approved', 'approved'],
            ['pending', 'pending'],
          ],
          test: (m, v) => m.status === v,
        },
      ],
      columns: [
        { key: 'hostname', label: 'Host', cell: (m) => link(`/machines/${m.id}`, m.hostname) },
        { key: 'status', label: 'Status' },
        { key: 'classes', label: 'Classes', value: (m) => m.classes.join(', ') || null },
        { key: 'stage', label: 'Stage' },
        {
          key: 'codename',
          label: 'Release',
          value: (m) => (m.codename ? `${m.codename} ${m.architecture}` : m.architecture),
        },
        { key: 'outdated', label: 'Outdated', num: true, cell: (m) => flag(m.outdated, 'warn') },
        { key: 'security', label: 'Security', num: true, cell: (m) => flag(m.security, 'bad') },
        {
          key: 'rebootRequired',
          label: 'Reboot',
          value: (m) => (m.rebootRequired === null ? null : m.rebootRequired ? 'yes' : 'no'),
        },
        {
          key: 'lastSeen',
          label: 'Last seen',
          cell: (m) => h('time', { datetime: m.lastSeen ?? '' }, ago(m.lastSeen)),
        },
        { key: 'openJobs', label: 'Open jobs', num: true },
      ],
    }),
  );
}
