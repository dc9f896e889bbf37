// Human output of the fleet commands (tables and short reports); --json prints the data itself.
// Every string an agent sent (hostnames, facts, report lines, job results) goes through
// visible(): table cells always, other lines where they interpolate such a field.
import type { PushResult } from '../fleet/push.js';
import type { JobInfo, JobsAdded, ScheduleInfo } from '../fleet/queries/jobs.js';
import type { MachineDetail, MachineSummary, OutdatedRow } from '../fleet/queries/machines.js';
import type { PackageUsers } from '../fleet/queries/packages.js';
import type { TokenCreated, TokenInfo } from '../fleet/queries/tokens.js';
import type { UpdateRefs } from '../advisories/changelog-answers.js';
import type { OutdatedEntry } from '../index/outdated.js';
import { visible, visibleText } from '../term/visible.js';

/** A list of client strings, each made visible. */
const vis = (xs: readonly string[], sep = ' ') => xs.map(visible).join(sep);

/** Left-aligned columns, two spaces apart, no trailing blanks; every cell made visible (one line each). */
export function table(head: readonly string[], rawRows: ReadonlyArray<readonly string[]>): string {
  const rows = rawRows.map((r) => r.map(visible));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** "2026-12-03 05:13" in local time, or "-". */
export function when(isoText: string | null): string {
  if (!isoText) return '-';
  const d = new Date(isoText);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** "just now", "5m ago", "3h ago", "2d ago", "never". */
export function ago(isoText: string | null, now = Date.now()): string {
  if (!isoText) return 'never';
  const s = Math.round((now - Date.parse(isoText)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

const num = (n: number | null) => (n === null ? '-' : String(n));

// ---- tokens ----

export function formatTokenCreated(t: TokenCreated): string {
  const what = [
    t.class ? `class ${t.class}` : 'no class',
    t.autoApprove ? 'auto-approve' : 'approval needed',
    t.expiresAt ? `expires ${when(t.expiresAt)}` : 'no expiry',
    t.maxUses === null ? 'unlimited uses' : `${t.maxUses} use${t.maxUses === 1 ? '' : 's'}`,
  ];
  return [
    `token ${t.id} (${visible(what.join(', '))})${t.note ? `: ${visible(t.note)}` : ''}`,
    t.token,
    'This is the only time the token is shown. On each client, as root:',
    `  ${t.enrolCommand.join(' ')}`,
    '',
  ].join('\n');
}

export function formatTokens(ts: readonly TokenInfo[]): string {
  if (!ts.length) return 'no enrolment tokens (aptgate token create)\n';
  return table(
    ['ID', 'CLASS', 'AUTO-APPROVE', 'EXPIRES', 'USES', 'STATE', 'NOTE'],
    ts.map((t) => [
      String(t.id),
      t.class ?? '-',
      t.autoApprove ? 'yes' : 'no',
      when(t.expiresAt),
      `${t.uses}/${t.maxUses ?? '∞'}`,
      t.state,
      t.note ?? '',
    ]),
  );
}

// ---- machines ----

function status(m: MachineSummary): string {
  return visible(`${m.status}${m.clone ? ' CLONE?' : ''}${m.reenrolment ? ' RE-ENROL?' : ''}`);
}

export function formatMachines(ms: readonly MachineSummary[]): string {
  if (!ms.length) return 'no machines\n';
  let s = table(
    ['ID', 'HOSTNAME', 'STATUS', 'ARCH', 'CODENAME', 'LAST SEEN', 'OUTDATED', 'SECURITY', 'REBOOT', 'JOBS'],
    ms.map((m) => [
      String(m.id),
      m.hostname,
      status(m),
      m.architecture,
      m.codename ?? '-',
      ago(m.lastSeen),
      num(m.outdated),
      num(m.security),
      m.rebootRequired === null ? '-' : m.rebootRequired ? 'yes' : 'no',
      String(m.openJobs),
    ]),
  );
  const pending = ms.filter((m) => m.status === 'pending');
  if (pending.length)
    s += `${pending.length} pending approval: aptgate machines approve ${pending.map((m) => m.id).join(' ')}\n`;
  for (const m of ms.filter((x) => x.reenrolment)) {
    const r = m.reenrolment!;
    s += `RE-ENROL?: machine ${m.id} (${visible(m.hostname)}) was enrolled again on a token alone (code ${r.code}, from ${r.from}, as ${visible(r.hostname)}): aptgate machines approve ${m.id} switches to it, aptgate machines reject ${m.id} refuses it\n`;
  }
  const clones = ms.filter((m) => m.clone);
  if (clones.length)
    s += `CLONE?: another machine-id signed as ${vis(
      clones.map((m) => m.hostname),
      ', ',
    )} (a copied disk? re-enrol the copy)\n`;
  const disagree = ms.filter((m) => m.disagreements);
  if (disagree.length)
    s += `the server and the machine's apt disagree on ${disagree.map((m) => `${visible(m.hostname)} (${m.disagreements})`).join(', ')}: see aptgate machines show\n`;
  return s;
}

function outdatedTable(entries: ReadonlyArray<OutdatedRow>): string {
  return table(
    ['PACKAGE', 'ARCH', 'INSTALLED', '', 'CANDIDATE', 'SECURITY', 'APT-GET UPGRADE'],
    entries.map((e) => [
      e.package,
      e.architecture,
      e.installed,
      '→',
      e.candidate,
      e.security ? 'security' : '',
      e.action,
    ]),
  );
}

/** At most this many packages per kind of difference in the human form (--json has them all). */
const SHOWN = 10;

function comparisonLines(
  c: NonNullable<MachineDetail['report']>['comparison'],
  o: MachineDetail['outdated'],
  hostname: string,
): string[] {
  if (!c)
    return [
      `  server vs apt  not compared: the server's answer is unknown${o.reason ? ` (${visible(o.reason)})` : ''}`,
    ];
  const n = c.onlyApt.length + c.onlyServer.length + c.different.length;
  if (!n) return [`  server vs apt  agree: both list the same ${c.same} package${c.same === 1 ? '' : 's'}`];
  const L = [
    `  server vs apt  DIFFER on ${n} package${n === 1 ? '' : 's'}: the server finds ${c.server} outdated, the machine's apt ${c.apt}; ${c.same} the same`,
  ];
  const cause = (x: { cause?: string }) => (x.cause ? '  (older lists)' : '');
  const part = (title: string, rows: string[]) => {
    if (!rows.length) return;
    L.push(`    ${title} (${rows.length}):`);
    for (const row of rows.slice(0, SHOWN)) L.push(`      ${row}`);
    if (rows.length > SHOWN) L.push(`      ... ${rows.length - SHOWN} more (--json lists them all)`);
  };
  part(
    'only the server',
    c.onlyServer.map(
      (x) =>
        `${visible(x.package)}:${visible(x.architecture)} ${visible(x.installed)} → ${visible(x.candidate)}${cause(x)}`,
    ),
  );
  part(
    "only the machine's apt",
    c.onlyApt.map(
      (x) =>
        `${visible(x.package)}:${visible(x.architecture)} ${visible(x.installed)} → ${visible(x.candidate)}${cause(x)}`,
    ),
  );
  part(
    'other candidate',
    c.different.map(
      (x) =>
        `${visible(x.package)}:${visible(x.architecture)} ${visible(x.installed)} → apt ${visible(x.apt)}, server ${visible(x.server)}${cause(x)}`,
    ),
  );
  for (const why of c.causes) L.push(`    why: ${visible(why)}`);
  if (n && [...c.onlyApt, ...c.onlyServer, ...c.different].some((x) => x.cause)) {
    L.push(
      `    (older lists): an apt update on the machine brings them level: aptgate jobs add update --to ${visible(hostname)}`,
    );
  }
  return L;
}

export function formatMachine(d: MachineDetail): string {
  const m = d.machine;
  const L: string[] = [
    `machine ${m.id}: ${visible(m.hostname)} (${status(m)})`,
    `  machine-id     ${visible(m.machineId)}${m.clone ? `   CLONE? another machine-id ${visible(m.clone.machineId)} signed with this identity at ${when(m.clone.at)}` : ''}`,
    `  system         ${vis([m.distribution, m.codename].filter((x): x is string => Boolean(x))) || '-'}, ${visible(m.architecture)}${m.foreignArchitectures.length ? ` (+${vis(m.foreignArchitectures, ', ')})` : ''}, kernel ${visible(m.kernel) || '-'}`,
    `  agent          ${visible(m.agentVersion) || '-'}`,
    `  enrolled       ${when(m.enrolledAt)}, approved ${when(m.approvedAt)}, last seen ${ago(m.lastSeen)}${m.pullNow ? ', pull-now set' : ''}`,
    `  classes        ${vis(d.classes, ', ') || '-'}`,
  ];
  if (m.parentId !== null) L.push(`  chroot of      machine ${m.parentId}`);
  const re = m.reenrolment;
  if (re) {
    L.push(
      `  re-enrolment   WAITING since ${when(re.requestedAt)}: code ${re.code}, from ${re.from}, as ${visible(re.hostname)}${re.tokenId === null ? '' : `, token ${re.tokenId}`}`,
      `                 the current identity keeps working; aptgate machines approve ${m.id} switches to the new one, aptgate machines reject ${m.id} refuses it`,
    );
  }
  const r = d.report;
  if (!r) L.push('report: none yet');
  else {
    L.push(
      `report of ${when(r.reportedAt)}:`,
      `  holds          ${vis(r.holds) || '-'}`,
      `  sources        ${vis(r.sources) || '-'}`,
      `  preferences    ${vis(r.preferences) || '-'}`,
      `  reboot         ${r.reboot.required ? `required${r.reboot.packages.length ? ` (${vis(r.reboot.packages)})` : ''}` : 'not required'}`,
      `  dpkg           ${r.dpkg.interrupted ? 'INTERRUPTED (dpkg --configure -a needed)' : 'ok'}${r.dpkg.audit.trim() ? `; audit: ${visible(r.dpkg.audit.trim().split('\n')[0])}` : ''}`,
      `  apt says       ${r.aptUpgradable} upgradable`,
    );
    L.push(...comparisonLines(r.comparison, d.outdated, m.hostname));
  }
  const o = d.outdated;
  if (!o.known) L.push(`outdated: unknown (${visible(o.reason)})`);
  else {
    L.push(`outdated: ${o.counts!.outdated} of ${o.counts!.installed} installed (${o.counts!.security} security)`);
    if (o.packages.length) L.push(outdatedTable(o.packages).trimEnd().replace(/^/gm, '  '));
  }
  if (!d.jobs.length) L.push('jobs: none');
  else L.push('recent jobs:', formatJobs(d.jobs).trimEnd().replace(/^/gm, '  '));
  return L.join('\n') + '\n';
}

type OutdatedPart = {
  known: boolean;
  reason: string | null;
  counts: { outdated: number; installed: number; security: number } | null;
  packages: Array<OutdatedEntry & Partial<UpdateRefs> & { why?: { status: string; text: string } }>;
};

/** What each update's changelog names (issue 17), one line per package; which are not read yet. */
function refsLines(packages: OutdatedPart['packages']): string {
  const lines: string[] = [];
  const waiting = { pending: 0, unavailable: 0 };
  for (const e of packages) {
    if (e.refs === 'pending' || e.refs === 'unavailable') waiting[e.refs]++;
    const parts = [
      ...(e.cves ?? []),
      ...(e.closes?.length ? [`closes #${e.closes.join(', #')}`] : []),
      ...(e.launchpad?.length ? [`LP #${e.launchpad.join(', #')}`] : []),
    ];
    if (parts.length) lines.push(`  ${visible(e.package)}: ${vis(parts, ', ')}`);
  }
  if (waiting.pending) lines.push(`  (changelog not read yet: ${waiting.pending})`);
  if (waiting.unavailable) lines.push(`  (changelog unavailable: ${waiting.unavailable})`);
  return lines.length ? `changelogs name:\n${lines.join('\n')}\n` : '';
}

function outdatedPart(rawHostname: string, r: OutdatedPart, what: string): string {
  const hostname = visible(rawHostname);
  if (!r.known) return `${hostname}: ${what} unknown (${visible(r.reason)})\n`;
  const rows = r.packages.map((e) => ({
    package: e.package,
    architecture: e.architecture,
    installed: e.installedVersion,
    candidate: e.candidateVersion,
    security: e.security,
    action: e.action,
  }));
  return (
    (rows.length ? outdatedTable(rows) : '') +
    refsLines(r.packages) +
    `${hostname}: ${r.counts!.outdated} of ${r.counts!.installed} installed packages ${what} (${r.counts!.security} security)\n`
  );
}

/**
 * `machines outdated M --why`: every pending update once, with the server's one explanation
 * (what upstream has where the machine follows a stage, else what its sources have).
 */
export function formatMachineWhy(
  r: OutdatedPart & { machine: { hostname: string }; available: OutdatedPart | null },
): string {
  const part = r.available?.known ? r.available : r;
  if (!part.known) return `${visible(r.machine.hostname)}: outdated unknown (${visible(part.reason)})\n`;
  if (!part.packages.length) return `${visible(r.machine.hostname)}: nothing pending\n`;
  return table(
    ['PACKAGE', 'INSTALLED', '', 'CANDIDATE', 'WHY'],
    part.packages.map((e) => [e.package, e.installedVersion, '→', e.candidateVersion, visible(e.why?.text ?? '')]),
  );
}

export function formatMachineOutdated(
  r: OutdatedPart & {
    machine: { hostname: string };
    stage: string | null;
    available: OutdatedPart | null;
    bypass: string[];
  },
): string {
  if (!r.stage || !r.available) return outdatedPart(r.machine.hostname, r, 'outdated');
  const warn = r.bypass.length
    ? `WARNING: ${visible(r.machine.hostname)} also reads ${vis(r.bypass, ', ')} directly: the gate does not bind it there (remove those entries)\n\n`
    : '';
  return (
    `${warn}approved (stage ${visible(r.stage)}, what it may install):\n${outdatedPart(r.machine.hostname, r, 'outdated in its stage')}\n` +
    `available (newest upstream, not all approved yet):\n${outdatedPart(r.machine.hostname, r.available, 'outdated upstream')}`
  );
}

export function formatPackageUsers(p: PackageUsers): string {
  const rows = p.machines.map((u) => [
    String(u.id),
    u.hostname,
    u.instance,
    u.version,
    u.candidate ?? (u.outdatedKnown ? '-' : '?'),
    u.security ? 'security' : '',
  ]);
  const c = p.counts;
  const who = `${c.machines} machine${c.machines === 1 ? ' runs' : 's run'} ${visible(p.package)}`;
  const summary = p.olderThan
    ? `${who} older than ${visible(p.olderThan)} (${c.security} with a security update)`
    : `${who} (${c.outdated} outdated, ${c.security} with a security update)`;
  const unknown = new Set(p.machines.filter((u) => !u.outdatedKnown).map((u) => u.id)).size;
  return (
    (rows.length ? table(['ID', 'HOSTNAME', 'INSTANCE', 'VERSION', 'CANDIDATE', 'SECURITY'], rows) : '') +
    summary +
    '\n' +
    (unknown
      ? `(? = candidate unknown for ${unknown} machine${unknown === 1 ? '' : 's'}: see aptgate machines show)\n`
      : '')
  );
}

// ---- classes, jobs, schedules ----

export function formatJobs(js: readonly JobInfo[]): string {
  if (!js.length) return 'no jobs\n';
  return table(
    ['ID', 'MACHINE', 'KIND', 'STATE', 'ORIGIN', 'CREATED', 'FINISHED', 'RESULT'],
    js.map((j) => [
      String(j.id),
      j.machine.hostname,
      j.kind + paramsText(j.params),
      j.state,
      j.origin,
      when(j.createdAt),
      when(j.finishedAt),
      j.failure ? `${j.failure}: ${j.summary ?? ''}` : (j.summary ?? (j.exitCode === null ? '' : `exit ${j.exitCode}`)),
    ]),
  );
}

function paramsText(p: Record<string, unknown>): string {
  if (Array.isArray(p['packages'])) return ` ${(p['packages'] as string[]).join(' ')}`;
  if (p['securityOnly'] === true) return ' (security)';
  if (typeof p['name'] === 'string') return ` ${p['name']}`;
  return '';
}

export function formatJob(j: JobInfo & { transcript: string | null }): string {
  const pol = j.policy;
  return [
    `job ${j.id}: ${visible(j.kind + paramsText(j.params))} on ${visible(j.machine.hostname)} (machine ${j.machine.id}): ${visible(j.state)}`,
    `  origin         ${visible(j.origin)}`,
    `  policy         reboot ${pol.allowReboot ? 'allowed' : 'not allowed'}, ${pol.repairDpkg ? 'repairs dpkg' : 'no dpkg repair'}, lock wait ${pol.lockTimeout}s, timeout ${pol.timeout}s`,
    `  created        ${when(j.createdAt)}${j.notBefore ? `, not before ${when(j.notBefore)}` : ''}, deadline ${when(j.deadline)}`,
    `  attempts       ${j.attempts}/${j.maxAttempts}; delivered ${when(j.deliveredAt)}, started ${when(j.startedAt)}, finished ${when(j.finishedAt)}`,
    `  result         ${j.exitCode === null ? '-' : `exit ${j.exitCode}`}${j.durationMs === null ? '' : ` after ${(j.durationMs / 1000).toFixed(1)}s`}${j.failure ? `, ${visible(j.failure)}` : ''}${j.summary ? `: ${visible(j.summary)}` : ''}`,
    // the agent's transcript keeps its lines, each control character made visible
    ...(j.transcript ? ['transcript:', visibleText(j.transcript.trimEnd())] : ['transcript: none']),
    '',
  ].join('\n');
}

export function formatJobsAdded(a: JobsAdded): string {
  const pending = a.jobs.filter((j) => j.pending);
  return (
    `queued ${a.jobs.length} ${a.kind} job${a.jobs.length === 1 ? '' : 's'}: ${a.jobs.map((j) => `${j.id} on ${visible(j.machine.hostname)}`).join(', ')}\n` +
    (pending.length
      ? `(${vis(
          pending.map((j) => j.machine.hostname),
          ', ',
        )} still pending approval: delivered once approved)\n`
      : '')
  );
}

export function formatSchedules(ss: readonly ScheduleInfo[]): string {
  if (!ss.length) return 'no schedules\n';
  return table(
    ['ID', 'CLASS', 'KIND', 'CRON', 'DEADLINE', 'NEXT', 'LAST FIRED'],
    ss.map((s) => [
      String(s.id),
      s.class,
      s.kind + paramsText(s.params),
      s.cron,
      `${Math.round((s.deadlineS / 3600) * 10) / 10}h`,
      when(s.nextAt),
      when(s.lastFired),
    ]),
  );
}

// ---- push ----

export function pushLine(r: PushResult): string {
  const detail =
    r.outcome === 'answered'
      ? r.lastStdout
      : [r.exitCode === null ? (r.signal ?? '') : `exit ${r.exitCode}`, r.error ?? r.lastStderr]
          .filter(Boolean)
          .join(': ');
  return `${visible(r.hostname)}: ${r.outcome}${detail ? ` (${visible(detail)})` : ''} in ${(r.durationMs / 1000).toFixed(1)}s`;
}

export function formatPush(p: {
  pullNow: Array<{ hostname: string }>;
  skipped: Array<{ hostname: string; reason: string }>;
  ssh: boolean;
  results: PushResult[];
  counts: Record<string, number>;
}): string {
  const L = [
    `pull-now set for ${p.pullNow.length} machine${p.pullNow.length === 1 ? '' : 's'}${p.ssh ? '' : ': they pull at their next check-in'}`,
  ];
  for (const s of p.skipped) L.push(`skipped ${visible(s.hostname)}: ${visible(s.reason)}`);
  if (p.ssh) {
    for (const r of p.results.filter((x) => x.outcome !== 'answered')) L.push(`  ${pushLine(r)}`);
    L.push(`${p.counts['answered']} answered, ${p.counts['failed']} failed, ${p.counts['unreachable']} unreachable`);
  }
  return L.join('\n') + '\n';
}
