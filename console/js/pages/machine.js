// One machine: the action bar (operators), its outdated packages with the reason for each, the
// advisories it is exposed to, where the server and the machine's own apt disagree, its facts, and its recent jobs.
import { get } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { ago, when } from '../format.js';
import { actionBar } from './machine-actions.js';
import { exposuresSection, loadExposures } from './machine-exposures.js';
import { disagreements, outdatedSection } from './machine-outdated.js';
import { jobsTable } from './jobs-table.js';

function facts(d) {
  const m = d.machine;
  const r = d.report;
  const rows = [
    ['Status', m.status + (m.clone ? ` — clone suspected (machine-id ${m.clone.machineId}, ${when(m.clone.at)})` : '')],
    ['Machine id', m.machineId],
    ['Distribution', `${m.distribution} ${m.codename ?? ''}`.trim() || '—'],
    ['Architecture', [m.architecture, ...m.foreignArchitectures].join(', ')],
    ['Kernel', m.kernel],
    ['Agent version', m.agentVersion],
    ['Classes', d.classes.join(', ') || '—'],
    ['Enrolled', when(m.enrolledAt)],
    ['Approved', when(m.approvedAt)],
    ['Last seen', `${when(m.lastSeen)} (${ago(m.lastSeen)})`],
    ['Last report', r ? when(r.reportedAt) : 'none yet'],
    [
      'Reboot required',
      r ? (r.reboot.required ? `yes (${r.reboot.packages.join(', ') || 'no package named'})` : 'no') : '—',
    ],
    ['dpkg', r ? (r.dpkg.interrupted ? 'interrupted: dpkg --configure -a is needed' : r.dpkg.audit || 'healthy') : '—'],
    ['Held packages', r ? r.holds.join(', ') || 'none' : '—'],
    ['Apt sources', r ? r.sources.join(', ') : '—'],
    ['Apt preferences', r ? r.preferences.join(', ') || 'none' : '—'],
  ];
  if (m.reenrolment)
    rows.push([
      'Re-enrolment waiting',
      `code ${m.reenrolment.code}, from ${m.reenrolment.from} as ${m.reenrolment.hostname}, ${when(m.reenrolment.requestedAt)}`,
    ]);
  return h(
    'dl',
    { class: 'facts' },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
}

export async function render(ctx) {
  const id = ctx.args.id;
  const [detail, outdated, exposures] = await Promise.all([
    get(EP.machine(id)),
    get(EP.machineOutdated(id)),
    loadExposures(id),
  ]);
  const m = detail.machine;
  replace(
    ctx.root,
    h('p', { class: 'no-print' }, link('/machines', '← Machines')),
    heading(m.hostname),
    ctx.can('operator') ? actionBar(detail, ctx) : null,
    // what the page is for first: what is outdated and why
    outdatedSection(outdated, m),
    exposuresSection(exposures, m),
    disagreements(detail.report),
    h('h2', {}, 'Facts'),
    facts(detail),
    // not on paper: the print is the outdated list
    h(
      'section',
      { class: 'no-print', 'aria-labelledby': 'jobs-title' },
      h('h2', { id: 'jobs-title' }, 'Recent jobs'),
      jobsTable(detail.jobs, { machine: false }),
      h('p', {}, link(`/jobs?machine=${m.id}`, 'All jobs of this machine')),
    ),
  );
}
