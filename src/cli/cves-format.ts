// Human output of `aptgate cves` and of the exposures section of `aptgate machines show`.
import type { CveDetail } from '../fleet/queries/exposures-cve.js';
import type { CveList, MachineExposures, StatusCounts } from '../fleet/queries/exposures.js';
import { visible } from '../term/visible.js';
import { table } from './fleet-format.js';

/** Exposures shown in `machines show` (the rest: aptgate cves --machine). */
const SHOWN = 10;

/** "2 upgradable, 1 held": the statuses that occur. */
export function statusText(s: StatusCounts): string {
  return (
    Object.entries(s)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ') || 'none'
  );
}

export function formatExposuresSection(ref: string, x: MachineExposures | undefined): string {
  if (!x) return '';
  if (!x.known) return `exposures: unknown (${visible(x.reason)})\n`;
  if (!x.total) return `exposures: none known (${visible(x.release)})\n`;
  const rows = x.list.slice(0, SHOWN).map((e) => [e.cve, e.urgency, e.source, e.installed, e.fixed ?? '-', e.status]);
  const more = x.total > SHOWN ? `  … ${x.total - SHOWN} more: aptgate cves --machine ${visible(ref)}\n` : '';
  return (
    `exposures: ${x.total} (${statusText(x.statuses)})\n` +
    table(['CVE', 'URGENCY', 'SOURCE', 'INSTALLED', 'FIXED', 'FIX'], rows).replace(/^/gm, '  ') +
    more
  );
}

export function formatCveList(r: CveList): string {
  const head = r.machine
    ? `${visible(r.machine.hostname)} (machine ${r.machine.id}, ${visible(r.machine.release ?? 'release unknown')}): ` +
      (r.machine.known ? `${r.total} exposure${r.total === 1 ? '' : 's'}` : `unknown (${visible(r.machine.reason)})`)
    : `${r.total} issue${r.total === 1 ? '' : 's'} on ${r.machinesExposed} machine${r.machinesExposed === 1 ? '' : 's'}`;
  if (!r.cves.length) return `${head}\n`;
  const rows = r.cves.map((c) =>
    r.machine
      ? [c.cve, c.urgency, c.source, c.installed ?? '-', c.fixed ?? '-', c.status ?? '-']
      : [c.cve, c.urgency, c.source, c.fixed ?? '-', String(c.machines), statusText(c.statuses)],
  );
  const cols = r.machine
    ? ['CVE', 'URGENCY', 'SOURCE', 'INSTALLED', 'FIXED', 'FIX']
    : ['CVE', 'URGENCY', 'SOURCE', 'FIXED', 'MACHINES', 'FIX'];
  return `${head}\n${table(cols, rows)}`;
}

export function formatCve(d: CveDetail): string {
  const L: string[] = [`${d.cve} (${d.urgency})${d.summary ? `: ${visible(d.summary.split('\n')[0]!)}` : ''}`];
  L.push('records:');
  L.push(
    table(
      ['FEED', 'ADVISORY', 'SOURCE', 'RELEASE', 'STATUS', 'FIXED'],
      d.records.map((r) => [r.feed, r.advisory ?? '-', r.source, r.release, r.status, r.fixedVersion ?? '-']),
    )
      .trimEnd()
      .replace(/^/gm, '  '),
  );
  for (const s of d.stages) {
    L.push(`gate (${visible(s.source)} ${visible(s.fixed)}, ${visible(s.release)}): ${s.standing}`);
    for (const st of s.stages)
      L.push(
        `  ${st.stage.padEnd(12)} ${st.fixed ? 'fixed' : 'not yet'}  ${st.suites.map((x) => `${visible(x.backend)}/${visible(x.suite)} ${visible(x.version ?? '-')}`).join(', ')}`,
      );
  }
  L.push(`machines exposed: ${d.total} (${statusText(d.statuses)})`);
  if (d.machines.length)
    L.push(
      table(
        ['ID', 'HOSTNAME', 'SOURCE', 'INSTALLED', 'FIXED', 'FIX'],
        d.machines.map((m) => [String(m.id), m.hostname, m.source, m.installed, m.fixed ?? '-', m.status]),
      )
        .trimEnd()
        .replace(/^/gm, '  '),
    );
  return L.join('\n') + '\n';
}
