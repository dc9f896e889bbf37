// The states of a machine the overview counts and the machine list filters by, defined once:
// GET /overview's count of a state is the total of GET /machines?state=… for the same clock.
// A state is an SQL condition over the compact facts of a machine (machine-rows.ts), never its
// full answer, so that counting 20,000 machines is one statement.
import { fail } from '../../errors.js';

export const DAY_MS = 86_400_000;
/** Not seen for longer than this is "not seen" unless the caller says otherwise (`unseen`). */
export const UNSEEN_DEFAULT = '7d';

export interface StateClock {
  now: number;
  /** "not seen" means for longer than this (ms) */
  unseenMs: number;
}

export const MACHINE_STATES = [
  'up-to-date',
  'outdated',
  'security',
  'reboot',
  'unseen',
  'pending',
  'clone',
  'unknown',
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

// Each state as an SQL condition over the compact facts of a machine (the columns of
// machine-rows.ts's table `f`; @now and @unseenMs bound from the clock): the overview's counts
// and the list's filter are the same expression, so a count is that list's total.
const CONDITIONS: Record<MachineState, string> = {
  'up-to-date': 'outdated = 0',
  outdated: 'coalesce(outdated, 0) > 0',
  security: 'coalesce(security, 0) > 0',
  reboot: 'reboot = 1',
  unseen: '(last_seen IS NULL OR @now - last_seen > @unseenMs)',
  pending: "(status = 'pending' OR reenrol)",
  clone: 'clone',
  unknown: 'outdated IS NULL',
};

/** The state's words for the documentation and the console. */
export const STATE_LABELS: Record<MachineState, string> = {
  'up-to-date': 'up to date (nothing outdated)',
  outdated: 'at least one outdated package',
  security: 'at least one security update pending',
  reboot: 'its last report says a reboot is required',
  unseen: 'not seen for longer than `unseen` (default 7d), or never',
  pending: 'waiting for approval (a new machine, or a re-enrolment)',
  clone: 'clone suspected (another machine-id signed with its credential)',
  unknown: 'outdated not known yet (no report, no view, no snapshot)',
};

export function parseState(value: string): MachineState {
  if (!(MACHINE_STATES as readonly string[]).includes(value))
    fail('USAGE', `state: expected one of ${MACHINE_STATES.join(', ')}, got "${value.slice(0, 40)}"`);
  return value as MachineState;
}

/** The SQL condition of a state over machine-rows.ts's table `f` (binds @now and @unseenMs: stateParams). */
export function stateCondition(state: MachineState): string {
  return CONDITIONS[state];
}

export const stateParams = (clock: StateClock) => ({ now: clock.now, unseenMs: clock.unseenMs });
