// How each machine of a rollout stands: its newest upgrade since its wave opened (succeeded,
// failed and why, or not done yet), and what that makes of the open wave (rollout-waves.ts
// decides the step from it).
import type { JobRow } from '../state/jobs.js';
import type { RolloutMachine, RolloutRow } from '../state/rollouts.js';
import { failureText } from './gate.js';
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

export interface StandingFleet {
  hostname(machine: number): string | undefined;
  /** upgrade and dist-upgrade jobs of a machine, newest first (brief: without their transcripts) */
  upgradeJobs(machine: number): JobRow[];
  /** one job with its transcript (a failed one's explanation is read from it) */
  job(id: number): JobRow | undefined;
}

const FAILED: ReadonlySet<string> = new Set(['failed', 'expired', 'cancelled']);

/** A machine's standing: its newest upgrade job since `since` (its wave opened). */
export function machineStanding(
  r: Pick<RolloutRow, 'wave' | 'state'>,
  m: RolloutMachine,
  since: number,
  fleet: StandingFleet,
): MachineStanding | undefined {
  const hostname = fleet.hostname(m.machine);
  if (hostname === undefined) return undefined; // removed since
  const base = { id: m.machine, hostname, wave: m.wave + 1 };
  if (m.wave > r.wave || r.state === 'aborted')
    return { ...base, status: 'not open', job: null, reason: 'reads the content before the rollout' };
  // an upgrade against the wave's content: the rollout's own job, or one handed out since the wave
  // opened (that run's check-in gave the machine its new sources first; a schedule's job made
  // before counts), or one made since that waits to be
  const job = fleet
    .upgradeJobs(m.machine)
    .find(
      (j) =>
        j.id === m.job ||
        (j.deliveredAt ?? j.startedAt ?? 0) >= since ||
        (j.state === 'queued' && j.createdAt >= since),
    );
  if (!job) return { ...base, status: 'pending', job: null, reason: 'no upgrade since its wave opened' };
  if (FAILED.has(job.state)) {
    const why = failureText(fleet.job(job.id) ?? job);
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
