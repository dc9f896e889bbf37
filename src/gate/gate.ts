// The gate: a stage's content may move on when every test machine of the stage (the members of
// its gate classes) has (1) run an upgrade job that started after the content was published,
// (2) succeeded with dpkg healthy, and (3) then reported a state in which nothing is outdated
// against that content. A stage without test machines never opens its gate.
import { dpkgFailureSummary, GENERIC_DPKG_ERROR } from '../index/dpkg-output.js';
import type { JobRow } from '../state/jobs.js';
import type { StageGeneration } from '../state/stages.js';

export interface MachineEvidence {
  id: number;
  hostname: string;
  /** report time, dpkg health and the outdated entries against its stage (undefined: not known yet) */
  report: { at: number; dpkgClean: boolean; outdated: string[] | undefined } | undefined;
  /** its upgrade and dist-upgrade jobs, newest first */
  upgrades: JobRow[];
}

export type Standing =
  | { status: 'passed'; job: number }
  | { status: 'failed'; reason: string; job?: number }
  | { status: 'waiting'; reason: string };

export interface GateStatus {
  stage: string;
  next: string | undefined;
  /** when the stage's current content was published (its newest generation) */
  publishedAt: number | null;
  machines: Array<{ id: number; hostname: string; standing: Standing }>;
  holds: boolean;
  /** what keeps it closed, for people */
  missing: string[];
}

/**
 * Why a job failed: its summary, unless that is apt's "Sub-process /usr/bin/dpkg returned an
 * error code (1)" (an agent before issue 14) and the transcript names the package and script.
 */
export function failureText(job: JobRow): string {
  const summary = job.summary ?? '';
  if (!GENERIC_DPKG_ERROR.test(summary) || !job.transcript) return summary;
  return dpkgFailureSummary(job.transcript) ?? summary;
}

export function standing(m: MachineEvidence, publishedAt: number): Standing {
  const job = m.upgrades.find(
    (j) => (j.startedAt ?? j.deliveredAt ?? 0) >= publishedAt || (j.state === 'queued' && j.createdAt >= publishedAt),
  );
  if (!job) return { status: 'waiting', reason: 'no upgrade job since the content was published' };
  if (job.state === 'failed' || job.state === 'expired' || job.state === 'cancelled') {
    const why = failureText(job);
    return {
      status: 'failed',
      job: job.id,
      reason: `upgrade job ${job.id} ${job.state}${job.failure ? ` (${job.failure})` : ''}${why ? `: ${why}` : ''}`,
    };
  }
  if (job.state !== 'succeeded') return { status: 'waiting', reason: `upgrade job ${job.id} is ${job.state}` };
  if (!m.report || m.report.at < (job.finishedAt ?? 0))
    return { status: 'waiting', reason: `no report since upgrade job ${job.id} finished` };
  if (!m.report.dpkgClean)
    return { status: 'failed', job: job.id, reason: 'dpkg is not healthy after the upgrade (dpkg --audit)' };
  if (m.report.outdated === undefined)
    return { status: 'waiting', reason: 'the outdated answer against the stage is not known yet' };
  if (m.report.outdated.length)
    return {
      status: 'failed',
      job: job.id,
      reason: `still outdated: ${m.report.outdated.slice(0, 5).join(', ')}${m.report.outdated.length > 5 ? ', ...' : ''}`,
    };
  return { status: 'passed', job: job.id };
}

export function gateStatus(
  stage: string,
  next: string | undefined,
  gens: readonly StageGeneration[],
  machines: readonly MachineEvidence[],
): GateStatus {
  const publishedAt = gens.length ? Math.max(...gens.map((g) => g.createdAt)) : null;
  const rows = machines.map((m) => ({
    id: m.id,
    hostname: m.hostname,
    standing:
      publishedAt === null
        ? ({ status: 'waiting', reason: 'nothing published' } as Standing)
        : standing(m, publishedAt),
  }));
  const missing: string[] = [];
  if (!next) missing.push(`${stage} is the last stage`);
  if (!machines.length) missing.push(`${stage} has no test machines (a class with --stage ${stage} --gate)`);
  for (const r of rows) if (r.standing.status !== 'passed') missing.push(`${r.hostname}: ${r.standing.reason}`);
  return { stage, next, publishedAt, machines: rows, holds: missing.length === 0, missing };
}
