// The options of a rollout in waves that rollouts.start and gate.promote (its `rollout`) both
// take as text, with their defaults, and what they become in the rollout service's terms.
import { jobKindOf, type RolloutJobs } from '../gate/rollout-queries.js';
import { str } from './operation.js';
import { durationOption } from './values.js';

export const WAVES_DEFAULT = '10%,50%,100%';
export const SOAK_DEFAULT = '1h';
export const HALT_DEFAULT = '1';

export const rolloutReason = str(
  "why (recorded in the rollout's events and the audit log; at most 500 characters, one line)",
  {
    maxLength: 1000,
  },
);

/** The rollout options both rollouts.start and gate.promote take, as text (their schemas). */
export const rolloutOptions = {
  waves: str(`cumulative shares of the class, rising, the last 100% (default ${WAVES_DEFAULT})`, { maxLength: 200 }),
  soak: str(`how long each wave soaks once its machines upgraded, before the next opens (default ${SOAK_DEFAULT})`, {
    maxLength: 40,
  }),
  halt: str(
    `halt when this many machines (e.g. 1) or this share (e.g. 10%) of the open wave failed (default ${HALT_DEFAULT})`,
    {
      maxLength: 40,
    },
  ),
  // checked by the operation (not an enum here): the same message from the API and the command line
  jobs: str(
    "the job each wave's machines get when it opens: upgrade (default), dist-upgrade, or none (the class's schedules upgrade them)",
    {
      maxLength: 40,
    },
  ),
};

export interface RolloutOptionsInput {
  waves?: string;
  soak?: string;
  halt?: string;
  jobs?: RolloutJobs;
}

/** The options in the service's terms: defaults filled, the soak a duration (USAGE otherwise). */
export function rolloutSettings(i: RolloutOptionsInput) {
  const soak = i.soak ?? SOAK_DEFAULT;
  return {
    waves: i.waves ?? WAVES_DEFAULT,
    // "0s" is no soak: the next wave opens as soon as the open one upgraded
    soakMs: /^\s*0+\s*(?:ms|s|m|h|d)?\s*$/.test(soak) ? 0 : durationOption('soak', soak),
    halt: i.halt ?? HALT_DEFAULT,
    jobKind: jobKindOf(i.jobs),
  };
}
