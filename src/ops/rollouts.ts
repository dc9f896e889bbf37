// Operations on rollouts in waves (gate/rollouts.ts through gate/rollout-queries.ts): the list
// (the history of rollouts, newest first) and one rollout with its machines (viewer); start,
// pause, resume and abort (operator, audited: the entry's detail names the rollout and its
// state). Who acts is the caller, as for promotions (actorOf).
import { listRollouts, rolloutDetailJson, type RolloutDetailJson } from '../gate/rollout-queries.js';
import { actorOf } from './gate.js';
import { bool, int, object, op, str, type OpContext } from './operation.js';
import { rolloutOptions, rolloutReason, rolloutSettings, type RolloutOptionsInput } from './rollout-options.js';
import { textOption } from './values.js';

const rolloutId = int('the rollout', 1);
const reasonOf = (r: string | undefined) => (r === undefined ? undefined : textOption('reason', r, 500));

/** The audit entry's detail: which rollout, and what it is now. */
const rolloutMade = (r: RolloutDetailJson) => ({ rollout: r.id, stage: r.stage, class: r.class, state: r.state });

const act =
  (what: 'pause' | 'resume' | 'abort') =>
  async ({ services, principal }: OpContext, i: { id: number; reason?: string }) =>
    rolloutDetailJson(await services.rollouts[what](i.id, actorOf(principal), reasonOf(i.reason)));

export const rolloutOps = [
  op({
    name: 'rollouts.list',
    summary: 'rollouts in waves, newest first (the history): stage, class, waves, state and why',
    role: 'viewer',
    method: 'GET',
    path: '/rollouts',
    input: {
      properties: {
        stage: str('only rollouts of this stage', { maxLength: 64 }),
        limit: int('only the newest this many (default 100)', 1, 1000),
      },
    },
    output: object('{ rollouts: [...] }, newest first, as aptgate rollout status --json'),
    changes: false,
    run: ({ services }, i: { stage?: string; limit?: number }) =>
      listRollouts(services.rollouts, {
        ...(i.stage === undefined ? {} : { stage: i.stage }),
        ...(i.limit === undefined ? {} : { limit: i.limit }),
      }),
  }),
  op({
    name: 'rollouts.show',
    summary:
      "one rollout: its waves, every machine's standing, the open wave's outcome, soak end, state and why, events",
    role: 'viewer',
    method: 'GET',
    path: '/rollouts/:id',
    input: { properties: { id: rolloutId }, required: ['id'] },
    output: object('the rollout, as aptgate rollout status ID --json'),
    changes: false,
    run: async ({ services }, i: { id: number }) => rolloutDetailJson(await services.rollouts.show(i.id)),
  }),
  op({
    name: 'rollouts.start',
    summary:
      "roll a stage's current content out to a class in waves: each wave upgrades, soaks, and the next opens; failures halt it",
    role: 'operator',
    method: 'POST',
    path: '/rollouts',
    input: {
      properties: {
        stage: str('the stage whose current content rolls out', { maxLength: 64 }),
        class: str('a class bound to that stage', { maxLength: 200 }),
        ...rolloutOptions,
        reshuffle: bool("new wave places for the class's machines (they keep theirs otherwise)"),
        reason: rolloutReason,
      },
      required: ['stage', 'class'],
    },
    output: object('the rollout (as rollouts.show), its first wave open'),
    changes: true,
    auditDetail: rolloutMade,
    run: async (
      { services, principal },
      i: { stage: string; class: string; reshuffle?: boolean; reason?: string } & RolloutOptionsInput,
    ) => {
      const reason = reasonOf(i.reason);
      return rolloutDetailJson(
        await services.rollouts.start({
          stage: i.stage,
          className: i.class,
          ...rolloutSettings(i),
          ...(i.reshuffle ? { reshuffle: true } : {}),
          actor: actorOf(principal),
          ...(reason === undefined ? {} : { reason }),
        }),
      );
    },
  }),
  op({
    name: 'rollouts.pause',
    summary: 'hold a running rollout where it is (no wave opens; machines keep what they read)',
    role: 'operator',
    method: 'POST',
    path: '/rollouts/:id/pause',
    input: { properties: { id: rolloutId, reason: rolloutReason }, required: ['id'] },
    output: object('the rollout, paused'),
    changes: true,
    auditDetail: rolloutMade,
    run: act('pause'),
  }),
  op({
    name: 'rollouts.resume',
    summary: 'a paused or halted rollout runs again (a halted wave is judged again: a newer successful upgrade counts)',
    role: 'operator',
    method: 'POST',
    path: '/rollouts/:id/resume',
    input: { properties: { id: rolloutId, reason: rolloutReason }, required: ['id'] },
    output: object('the rollout, running'),
    changes: true,
    auditDetail: rolloutMade,
    run: act('resume'),
  }),
  op({
    name: 'rollouts.abort',
    summary:
      'every machine of the class back to the content before the rollout (its jobs not delivered yet taken back; nothing is downgraded)',
    role: 'operator',
    method: 'POST',
    path: '/rollouts/:id/abort',
    input: { properties: { id: rolloutId, reason: rolloutReason }, required: ['id'] },
    output: object('the rollout, aborted'),
    changes: true,
    auditDetail: rolloutMade,
    run: act('abort'),
  }),
];
