// Why each package of a machine is outdated, in words, from GET /api/v1/machines/ID/outdated
// (`aptgate machines outdated ID --json`): what apt-get upgrade would do with it (upgrade,
// keep back and why, held, deferred by phasing), its pin when not the default, and, behind the
// release gate, what upstream has that the machine's stage does not approve yet.

const KEPT = {
  'new-packages': 'kept back: the new version needs packages that are not installed (apt-get upgrade installs none)',
  removals: 'kept back: upgrading would remove installed packages (it breaks or conflicts with them)',
  'new-recommends': 'kept back: the new version recommends packages that are not installed',
  blocked: 'kept back: an installed package that stays at its version (a held one, for example) needs this version',
  multiarch: 'kept back: its other architectures (Multi-Arch: same) cannot move to the new version together',
};

// apt's default priorities: 500 (an archive), 990 (the target release), 100 (NotAutomatic, the installed version)
const DEFAULT_PRIORITIES = new Set([100, 500, 990]);

/** The reason for one entry (an OutdatedEntry of `aptgate outdated --json`). */
export function reasonOf(e) {
  // the server's one explanation (issue 17); computed here only for an older server's answer
  if (e.why?.text) return e.why.text;
  const parts = [];
  if (e.action === 'upgrade') parts.push('upgradable now');
  else if (e.action === 'held') parts.push('held (apt-mark hold): apt leaves it at its version');
  else if (e.action === 'phased') parts.push('phased update: apt defers it until the rollout reaches this machine');
  else if (e.action === 'kept-back') {
    const k = e.keptBack ?? { reason: 'blocked' };
    parts.push(KEPT[k.reason] ?? `kept back (${k.reason})`);
    if (k.because) parts.push(`because of ${k.because}`);
  }
  if (e.priority !== undefined && !DEFAULT_PRIORITIES.has(e.priority)) parts.push(`pinned at priority ${e.priority}`);
  return parts.join('; ');
}

/** What the candidate's changelog names since the installed version (issue 17), or why that is not known. */
export function changelogOf(e) {
  if (e.refs === 'pending') return 'not read yet';
  if (e.refs === 'unavailable') return 'unavailable';
  const parts = [...(e.cves ?? [])];
  if (e.closes?.length) parts.push(`closes #${e.closes.join(', #')}`);
  if (e.launchpad?.length) parts.push(`LP #${e.launchpad.join(', #')}`);
  return parts.join(', ');
}

/**
 * Rows for the machine page: each outdated package with its reason, then what only upstream
 * has (waiting for the gate: approved vs available). `answer` is the outdated answer.
 */
export function outdatedRows(answer) {
  const approved = answer.packages ?? [];
  const rows = approved.map((e) => ({
    package: e.package,
    instance: e.instance ?? `${e.package}:${e.architecture}`,
    installed: e.installedVersion,
    candidate: e.candidateVersion,
    available: null,
    security: e.security,
    action: e.action,
    suite: e.origins?.[0]?.suite ?? '',
    changelog: changelogOf(e),
    reason: reasonOf(e),
  }));
  if (!answer.available?.known) return rows;
  const byInstance = new Map(rows.map((r) => [r.instance, r]));
  for (const a of answer.available.packages ?? []) {
    const r = byInstance.get(a.instance);
    if (r && r.candidate === a.candidateVersion) continue;
    const approves = `${a.candidateVersion} is available upstream, stage ${answer.stage} approves ${r ? r.candidate : 'nothing newer yet'}`;
    // the server says why (not in the stage before yet, in its cooldown until when, the gate's state)
    const waiting = a.why?.text ? `${approves}: ${a.why.text}` : `waiting for the gate: ${approves}`;
    if (r) {
      r.available = a.candidateVersion;
      r.reason = `${r.reason}; ${waiting}`;
    } else {
      rows.push({
        package: a.package,
        instance: a.instance,
        installed: a.installedVersion,
        candidate: null,
        available: a.candidateVersion,
        security: a.security,
        action: 'gate',
        suite: a.origins?.[0]?.suite ?? '',
        changelog: changelogOf(a),
        reason: waiting,
      });
    }
  }
  return rows;
}
