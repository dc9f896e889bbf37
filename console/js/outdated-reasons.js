// Why each package of a machine is outdated, in words, from GET /api/v1/machines/ID/outdated
// (`aptgate machines outdated ID --json`): each entry's `why`, which the server words (what
// apt-get upgrade would do with it, its pin, and behind the release gate why upstream's
// version is not approved yet), and what upstream has that the stage does not approve.

/** The reason for one entry: the server's one explanation (fleet/queries/explain.ts), served with this console. */
export function reasonOf(e) {
  return e.why?.text ?? '';
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
    const waiting = `${approves}: ${reasonOf(a)}`;
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
