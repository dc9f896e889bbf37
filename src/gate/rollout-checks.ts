// What a rollout's start names (from any edge: the API, the command line, a promotion), checked
// before anything is read or written.
import { fail } from '../errors.js';

export interface RolloutStart {
  stage: string;
  className: string;
  /** "20%,50%,100%" */
  waves: string;
  soakMs: number;
  /** "1" (machines) or "10%" (of the open wave) */
  halt: string;
  /** the job each wave's machines get when it opens; '' leaves them to the class's schedules */
  jobKind: '' | 'upgrade' | 'dist-upgrade';
  reshuffle?: boolean;
  actor: string;
  reason?: string;
}

const JOB_KINDS: ReadonlySet<string> = new Set(['', 'upgrade', 'dist-upgrade']);
const MAX_SOAK_MS = 366 * 86_400_000;

/** What a start names, checked before anything is read or written (it may come from any edge). */
export function checkStart(o: RolloutStart): void {
  for (const [k, v] of [
    ['stage', o.stage],
    ['class', o.className],
    ['waves', o.waves],
    ['halt', o.halt],
    ['actor', o.actor],
  ] as const)
    if (typeof v !== 'string' || v.length > 200) fail('USAGE', `${k}: a name or text of up to 200 characters`);
  if (!Number.isSafeInteger(o.soakMs) || o.soakMs < 0 || o.soakMs > MAX_SOAK_MS)
    fail('USAGE', 'soak: a duration from 0 to 366 days, e.g. 1h');
  if (typeof o.jobKind !== 'string' || !JOB_KINDS.has(o.jobKind))
    fail('USAGE', `job: upgrade, dist-upgrade or none (empty), not "${String(o.jobKind).slice(0, 20)}"`);
  if (o.reshuffle !== undefined && typeof o.reshuffle !== 'boolean') fail('USAGE', 'reshuffle: true or false');
  checkReason(o.reason);
}

export function checkReason(reason: unknown): void {
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1000))
    fail('USAGE', 'reason: a text of up to 1000 characters');
}
