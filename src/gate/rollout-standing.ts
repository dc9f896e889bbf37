// How each machine of a rollout stands: its newest upgrade since its wave opened (succeeded,
// failed and why, or not done yet), and what that makes of the open wave (rollout-waves.ts
// decides the step from it).
import type { JobBrief, RolloutMachine, RolloutRow } from '../state/rollouts.js';
import type { WaveOutcome } from './rollout-waves.js';

export interface MachineStanding {
  id: number;
  hostname: string;
  /** 1-based, as people count waves */
  wave: number;
  status: 'succeeded' | 'failed' | 'pending' | 'not open';
  job: number | null;
  reason: string;
}

const FAILED: ReadonlySet<string> = new Set(['failed', 'expired', 'cancelled']);

/**
 * A machine's standing from its upgrade jobs (newest first) that may count: an upgrade against
 * the wave's content is the rollout's own job, or one handed out since the wave opened (that
 * run's check-in, or the agent before the job, gave the machine its new sources first; a
 * schedule's job made before counts), or one made since that waits to be.
 */
export function machineStanding(
  r: Pick<RolloutRow, 'wave' | 'state'>,
  m: RolloutMachine & { hostname: string },
  since: number,
  jobs: readonly JobBrief[],
  failureOf: (job: number) => string,
): MachineStanding {
  const base = { id: m.machine, hostname: m.hostname, wave: m.wave + 1 };
  if (m.wave > r.wave || r.state === 'aborted')
    return { ...base, status: 'not open', job: null, reason: 'reads the content before the rollout' };
  const job = jobs.find(
    (j) =>
      j.id === m.job || (j.deliveredAt ?? j.startedAt ?? 0) >= since || (j.state === 'queued' && j.createdAt >= since),
  );
  if (!job) return { ...base, status: 'pending', job: null, reason: 'no upgrade since its wave opened' };
  if (FAILED.has(job.state)) {
    const why = failureOf(job.id);
    return {
      ...base,
      status: 'failed',
      job: job.id,
      reason: `upgrade job ${job.id} ${job.state}${job.failure ? ` (${job.failure})` : ''}${why ? `: ${why}` : ''}`,
    };
  }
  if (job.state !== 'succeeded')
    return { ...base, status: 'pending', job: job.id, reason: `upgrade job ${job.id} is ${job.state}` };
  return { ...base, status: 'succeeded', job: job.id, reason: `upgrade job ${job.id} succeeded` };
}

/** The open wave's outcome from its machines' standings. */
export function waveOutcome(standings: readonly MachineStanding[], wave: number): WaveOutcome {
  const open = standings.filter((s) => s.wave === wave + 1);
  return {
    machines: open.length,
    succeeded: open.filter((s) => s.status === 'succeeded').length,
    failed: open.filter((s) => s.status === 'failed').length,
    pending: open.filter((s) => s.status === 'pending').length,
  };
}

/** Why a wave halted, for people: which machines, which jobs, what failed. */
export function haltText(standings: readonly MachineStanding[], wave: number, o: WaveOutcome): string {
  const failed = standings.filter((s) => s.wave === wave + 1 && s.status === 'failed');
  const shown = failed.slice(0, 5).map((s) => `${s.hostname}: ${s.reason}`);
  return `wave ${wave + 1}: ${o.failed} of ${o.machines} machines failed (${shown.join('; ')}${failed.length > 5 ? '; ...' : ''})`;
}
