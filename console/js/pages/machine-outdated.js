// A machine's outdated packages (GET /api/v1/machines/ID/outdated) with the reason for each, a
// Print button (print.css keeps the list and drops the rest), and where the server's answer and
// the machine's own apt disagree, with what the server knows of why.
import { h } from '../dom.js';
import { when } from '../format.js';
import { outdatedRows } from '../outdated-reasons.js';
import { dataTable } from '../table.js';

function summary(a) {
  const c = a.counts;
  if (!a.known) return h('p', { class: 'muted' }, `Not known yet: ${a.reason}.`);
  return h(
    'p',
    {},
    `${c.outdated} of ${c.installed} installed packages outdated (${c.security} security); apt-get upgrade would upgrade ${c.upgrade}, keep back ${c.keptBack}; ${c.held} held, ${c.phased} deferred by phasing.`,
    a.stage ? ` The machine follows stage ${a.stage} of the release gate.` : '',
    a.bypass?.length ? ` It also reads ${a.bypass.join(', ')} directly (not through its stage).` : '',
  );
}

export function outdatedSection(answer, machine) {
  const printButton = h('button', { type: 'button', onclick: () => window.print() }, 'Print this list');
  return h(
    'section',
    { 'aria-labelledby': 'outdated-title' },
    h('h2', { id: 'outdated-title' }, 'Outdated packages'),
    h('p', { class: 'print-only' }, `${machine.hostname}: outdated packages, ${when(new Date().toISOString())}`),
    summary(answer),
    h('div', { class: 'actions' }, printButton),
    dataTable({
      id: 'outdated',
      caption: `Outdated packages of ${machine.hostname}`,
      rows: outdatedRows(answer),
      params: new URLSearchParams(),
      keepParams: false,
      pageSize: 1000,
      sort: 'package',
      search: (r) => `${r.package} ${r.reason} ${r.changelog}`,
      searchLabel: 'Search package, reason or CVE',
      empty: answer.known ? 'Nothing is outdated.' : 'Not known yet.',
      columns: [
        { key: 'package', label: 'Package', value: (r) => r.instance },
        { key: 'installed', label: 'Installed' },
        { key: 'candidate', label: 'Candidate' },
        { key: 'available', label: 'Upstream' },
        {
          key: 'security',
          label: 'Security',
          value: (r) => (r.security ? 'yes' : ''),
          cell: (r) => (r.security ? h('span', { class: 'badge bad' }, 'security') : ''),
        },
        { key: 'suite', label: 'From' },
        // what the candidate's own changelog names since the installed version (CVEs, bugs closed)
        { key: 'changelog', label: 'Changelog names' },
        { key: 'reason', label: 'Why' },
      ],
    }),
  );
}

function side(title, list) {
  if (!list.length) return null;
  return [
    h('h3', {}, title),
    h(
      'ul',
      {},
      list.map((x) => h('li', {}, x)),
    ),
  ];
}

export function disagreements(report) {
  const d = report?.disagreements;
  if (!d) return null;
  const c = report.comparison;
  const none = !d.onlyApt.length && !d.onlyServer.length && !(c?.different?.length ?? 0);
  return h(
    'section',
    { class: 'no-print', 'aria-labelledby': 'apt-title' },
    h('h2', { id: 'apt-title' }, "The machine's own apt"),
    none
      ? h('p', {}, `The machine's apt agrees with the server (checked ${when(d.checkedAt)}).`)
      : [
          h('p', {}, `apt lists ${c?.apt ?? '?'} upgradable, the server ${c?.server ?? '?'}; ${c?.same ?? '?'} agree.`),
          side('Only apt lists', d.onlyApt),
          side('Only the server lists', d.onlyServer),
          c?.different?.length
            ? side(
                'Different candidates',
                c.different.map(
                  (x) =>
                    `${x.package}:${x.architecture} ${x.installed}: apt ${x.apt}, server ${x.server}${x.cause ? ` (${x.cause})` : ''}`,
                ),
              )
            : null,
          c?.causes?.length ? side('Why, as far as the server can tell', c.causes) : null,
        ],
  );
}
