// The states of a machine the overview counts and the machine list filters by, defined once:
// GET /overview's count of a state is the total of GET /machines?state=… for the same clock.
// A state is a predicate over the compact facts of a machine (machine-rows.ts), never its full
// answer, so that counting 20,000 machines is a loop over small objects.
import { fail } from '../../errors.js';

export const DAY_MS = 86_400_000;
/** Not seen for longer than this is "not seen" unless the caller says otherwise (`unseen`). */
export const UNSEEN_DEFAULT = '7d';

/** What the states read of a machine. */
export interface StateFacts {
  status: 'pending' | 'approved';
  /** epoch ms of its last signed call, null: never */
  lastSeen: number | null;
  /** outdated and security counts; null: not known (no report, no view, no snapshot yet) */
  outdated: number | null;
  security: number | null;
  /** null: no report yet */
  rebootRequired: boolean | null;
  /** a re-enrolment waits for approval */
  reenrolment: boolean;
  /** another machine-id signed with its secret */
  clone: boolean;
}

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

const TESTS: Record<MachineState, (m: StateFacts, c: StateClock) => boolean> = {
  'up-to-date': (m) => m.outdated === 0,
  outdated: (m) => (m.outdated ?? 0) > 0,
  security: (m) => (m.security ?? 0) > 0,
  reboot: (m) => m.rebootRequired === true,
  unseen: (m, c) => m.lastSeen === null || c.now - m.lastSeen > c.unseenMs,
  pending: (m) => m.status === 'pending' || m.reenrolment,
  clone: (m) => m.clone,
  unknown: (m) => m.outdated === null,
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

export function inState(m: StateFacts, state: MachineState, clock: StateClock): boolean {
  return TESTS[state](m, clock);
}

/** How many machines are in each state (a machine may be in several). */
export function countStates(machines: Iterable<StateFacts>, clock: StateClock): Record<MachineState, number> {
  const counts = Object.fromEntries(MACHINE_STATES.map((s) => [s, 0])) as Record<MachineState, number>;
  for (const m of machines) for (const s of MACHINE_STATES) if (TESTS[s](m, clock)) counts[s]++;
  return counts;
}
