// Rollouts in waves (issue 17): which wave a machine is in, and what a rollout does next. Pure:
// the rollout service (its store, the wave views, the jobs) builds on it.
//
// A machine's wave is a hash of its machine-id and the rollout's salt (kept per stage and class,
// changed only by a reshuffle), so it stays in its wave from one rollout to the next: the same
// machines go first every time, which is what an administrator plans canaries around.
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';

/** "5%,25%,100%" (or "5 25 100"): cumulative shares of the class, rising, the last 100. */
export function parseWaves(text: string): number[] {
  const parts = text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  const waves = parts.map((p) => {
    const m = /^(\d{1,3}(?:\.\d{1,2})?)%?$/.exec(p);
    const v = m ? Number(m[1]) : NaN;
    if (!(v > 0 && v <= 100)) fail('USAGE', `waves: "${p.slice(0, 20)}" is not a share of the class (1%..100%)`);
    return v;
  });
  if (!waves.length || waves.length > 20) fail('USAGE', 'waves: 1 to 20 shares, e.g. 5%,25%,100%');
  for (let i = 1; i < waves.length; i++)
    if (waves[i]! <= waves[i - 1]!)
      fail('USAGE', `waves: each share is more than the one before (${text.slice(0, 60)})`);
  if (waves[waves.length - 1] !== 100) fail('USAGE', 'waves: the last wave is 100% (every machine of the class)');
  return waves;
}

/** Where a machine falls in [0, 100): the first 48 bits of SHA-256(salt, machine-id). */
export function positionOf(machineId: string, salt: string): number {
  const h = createHash('sha256').update(salt).update('\0').update(machineId).digest();
  return (h.readUIntBE(0, 6) / 2 ** 48) * 100;
}

/** The wave (0-based) of a machine: the first whose cumulative share is above its position. */
export function waveOf(machineId: string, salt: string, waves: readonly number[]): number {
  const at = positionOf(machineId, salt);
  const i = waves.findIndex((w) => at < w);
  return i < 0 ? waves.length - 1 : i;
}

export type RolloutState = 'running' | 'paused' | 'halted' | 'aborted' | 'done';

/** How the open wave's machines stand: their upgrade jobs and reports against the new content. */
export interface WaveOutcome {
  machines: number;
  succeeded: number;
  failed: number;
  /** not done yet (job queued or running, or no report since) */
  pending: number;
}

export interface HaltPolicy {
  /** halt once this many machines of the open wave failed (0: the first failure halts) */
  count: number | null;
  /** halt once this share (0..1) of the open wave failed */
  share: number | null;
}

export type Step =
  | { action: 'halt'; reason: string }
  | { action: 'open'; wave: number }
  | { action: 'done' }
  | { action: 'wait'; reason: string; until?: number };

/** "2" (machines) or "10%" (of the open wave): when a wave's failures halt the rollout. */
export function parseHalt(text: string): HaltPolicy {
  const t = text.trim();
  const share = /^(\d{1,3}(?:\.\d+)?)%$/.exec(t);
  if (share) {
    const v = Number(share[1]) / 100;
    if (!(v > 0 && v <= 1)) fail('USAGE', `halt: "${t.slice(0, 20)}" is not a share (1%..100%)`);
    return { count: null, share: v };
  }
  if (/^\d{1,6}$/.test(t)) return { count: Number(t), share: null };
  fail('USAGE', `halt: "${t.slice(0, 20)}" is a number of machines (e.g. 1) or a share (e.g. 10%)`);
}

/** Whether a wave's failures reach the policy. */
export function halts(o: WaveOutcome, p: HaltPolicy): boolean {
  if (!o.failed) return false;
  if (p.count !== null && o.failed >= Math.max(1, p.count)) return true;
  if (p.share !== null && o.machines > 0 && o.failed / o.machines >= p.share) return true;
  return false;
}

/**
 * What a running rollout does now: halt when the open wave's failures reach the policy; wait
 * while its machines are not done or its soak has not passed; else open the next wave, or end.
 */
export function nextStep(
  r: { state: RolloutState; wave: number; openedAt: number; waves: readonly number[] },
  outcome: WaveOutcome,
  policy: { soakMs: number; halt: HaltPolicy },
  now: number,
): Step {
  if (r.state !== 'running') return { action: 'wait', reason: `the rollout is ${r.state}` };
  if (halts(outcome, policy.halt))
    return {
      action: 'halt',
      reason: `wave ${r.wave + 1}: ${outcome.failed} of ${outcome.machines} machines failed`,
    };
  if (outcome.pending)
    return {
      action: 'wait',
      reason: `wave ${r.wave + 1}: ${outcome.pending} of ${outcome.machines} machines not done`,
    };
  const soakEnd = r.openedAt + policy.soakMs;
  if (now < soakEnd) return { action: 'wait', reason: `wave ${r.wave + 1} soaks`, until: soakEnd };
  if (r.wave + 1 >= r.waves.length) return { action: 'done' };
  return { action: 'open', wave: r.wave + 1 };
}

/**
 * Waves by rank: the machines ordered by their place (SHA-256 of salt and machine-id), the first
 * ceil(share × n) in the waves up to that share; with at least as many machines as waves, every
 * wave gets one more at least (3 machines at 5%, 25%, 100%: one each). A machine keeps its place
 * across rollouts of the same salt.
 */
export function assignWaves(
  members: ReadonlyArray<{ id: number; machineId: string }>,
  salt: string,
  waves: readonly number[],
): Array<{ machine: number; wave: number }> {
  return wavesByPlace(
    members.map((m) => ({ id: m.id, at: positionOf(m.machineId, salt) })),
    waves,
  );
}

/** assignWaves over places worked out already (a class of 20,000 takes ~70 ms of SHA-256: in slices). */
export function wavesByPlace(
  placed: ReadonlyArray<{ id: number; at: number }>,
  waves: readonly number[],
): Array<{ machine: number; wave: number }> {
  const ordered = [...placed].sort((a, b) => a.at - b.at || a.id - b.id);
  const n = ordered.length;
  // how many machines the waves up to each one hold
  const upTo: number[] = [];
  waves.forEach((share, k) => {
    let c = Math.ceil((share / 100) * n - 1e-9);
    if (n >= waves.length) c = Math.min(n - (waves.length - 1 - k), Math.max(c, (upTo[k - 1] ?? 0) + 1));
    upTo.push(Math.min(n, c));
  });
  return ordered.map((m, rank) => ({
    machine: m.id,
    wave: Math.max(
      0,
      upTo.findIndex((c) => rank < c),
    ),
  }));
}
