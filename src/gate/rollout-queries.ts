// Rollouts in waves for the administrator and the API: the JSON shapes of docs/gate.md (dates as
// ISO text, waves counted from 1 as people count them) over the RolloutService, and a promotion
// that starts the rollout of what it promoted to a class, checked whole before anything changes.
// cli/rollout-format.ts turns the shapes into text.
import { fail } from '../errors.js';
import type { RolloutEvent, RolloutPin, RolloutRow } from '../state/rollouts.js';
import { promote, type GateQueryContext, type PromoteJson, type PromoteOptions } from './queries.js';
import type { MachineStanding } from './rollout-standing.js';
import { parseHalt, parseWaves, type WaveOutcome } from './rollout-waves.js';
import type { RolloutService, RolloutStart, RolloutView } from './rollouts.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The job each wave's machines get when it opens, as the edges name it. */
export type RolloutJobs = 'upgrade' | 'dist-upgrade' | 'none';

/** A rollout as the list (the history) shows it. */
export interface RolloutJson {
  id: number;
  stage: string;
  class: string;
  /** cumulative shares of the class, e.g. [20, 50, 100] */
  waves: number[];
  soakMs: number;
  /** "1" (machines) or "10%" (of the open wave) */
  halt: string;
  jobs: RolloutJobs;
  state: RolloutRow['state'];
  /** the open wave, counted from 1 */
  wave: number;
  /** when each wave opened so far (index 0: wave 1) */
  waveOpened: string[];
  createdAt: string;
  updatedAt: string;
  actor: string;
  reason: string | null;
  /** why it is halted, paused or aborted (null: running or done) */
  stateReason: string | null;
  /** per suite the stage generation before the rollout (from) and the one it moves to (to) */
  pins: RolloutPin[];
}

export interface RolloutEventJson {
  at: string;
  what: string;
  actor: string | null;
  detail: string | null;
}

/** One rollout: the row, its events, every machine's standing, the open wave's outcome. */
export interface RolloutDetailJson extends RolloutJson {
  events: RolloutEventJson[];
  /** every machine of the class, by wave (1-based): succeeded, failed, pending or not open, and why */
  machines: MachineStanding[];
  /** the open wave's machines: how many, succeeded, failed, pending */
  outcome: WaveOutcome;
  /** when the open wave's soak ends (null unless running) */
  soakEnds: string | null;
}

export function rolloutJson(r: RolloutRow): RolloutJson {
  return {
    id: r.id,
    stage: r.stage,
    class: r.className,
    waves: [...r.waves],
    soakMs: r.soakMs,
    halt: r.halt,
    jobs: r.jobKind === '' ? 'none' : r.jobKind,
    state: r.state,
    wave: r.wave + 1,
    waveOpened: r.waveOpened.map(iso),
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    actor: r.actor,
    reason: r.reason,
    stateReason: r.stateReason,
    pins: r.pins.map((p) => ({ backend: p.backend, suite: p.suite, from: p.from, to: p.to })),
  };
}

const eventJson = (e: RolloutEvent): RolloutEventJson => ({
  at: iso(e.at),
  what: e.what,
  actor: e.actor ?? null,
  detail: e.detail ?? null,
});

export function rolloutDetailJson(v: RolloutView): RolloutDetailJson {
  return {
    ...rolloutJson(v),
    events: v.events.map(eventJson),
    // code-point order: localeCompare costs ~50 ms over 14,000 host names
    machines: [...v.machines].sort(
      (a, b) => a.wave - b.wave || (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.id - b.id),
    ),
    outcome: { ...v.outcome },
    soakEnds: v.soakEnds === null ? null : iso(v.soakEnds),
  };
}

/** The rollouts, newest first (of one stage, or all): the history. */
export function listRollouts(
  rollouts: RolloutService,
  o: { stage?: string; limit?: number },
): { rollouts: RolloutJson[] } {
  return { rollouts: rollouts.list(o).map(rolloutJson) };
}

export function jobKindOf(jobs: RolloutJobs | undefined): RolloutStart['jobKind'] {
  if (jobs === undefined || jobs === 'upgrade') return 'upgrade';
  if (jobs === 'dist-upgrade') return 'dist-upgrade';
  if (jobs === 'none') return '';
  fail('USAGE', `jobs: upgrade, dist-upgrade or none, not "${String(jobs).slice(0, 20)}"`);
}

/** What a rollout started by a promotion takes (the stage is the promotion's next one). */
export interface PromoteRollout {
  className: string;
  waves: string;
  soakMs: number;
  halt: string;
  jobKind: RolloutStart['jobKind'];
}

export interface PromoteWithRolloutJson extends PromoteJson {
  /** the rollout of the promoted content to the class, started right after the promotion */
  rollout: RolloutDetailJson;
}

/**
 * Whether the rollout could start on `stage` (what RolloutService.start refuses, but "nothing
 * new", which the promotion itself settles): asked before the promotion, so a bad class or a
 * rollout of it still in force changes nothing.
 */
export function checkRolloutStart(
  ctx: GateQueryContext,
  rollouts: RolloutService,
  stage: string,
  r: PromoteRollout,
): void {
  const c = ctx.fleet.classes.all().find((x) => x.name === r.className);
  if (!c) fail('NOT_FOUND', `no class ${r.className.slice(0, 60)}`);
  if (c.stage !== stage)
    fail(
      'USAGE',
      `rollout: class ${r.className} follows ${c.stage ? `stage ${c.stage}` : 'no stage'}, not ${stage} (the stage the promotion moves to)`,
    );
  parseWaves(r.waves);
  parseHalt(r.halt);
  const last = rollouts.latestOfClass(stage, r.className);
  if (last && (last.state === 'running' || last.state === 'paused' || last.state === 'halted'))
    fail(
      'USAGE',
      `rollout ${last.id} of ${stage} to ${r.className} is ${last.state}: wait for it, or abort it (aptgate rollout abort ${last.id})`,
    );
}

/**
 * Promotes a stage and starts the rollout of the promoted content to a class of the next stage,
 * in one operation: everything the rollout needs is checked before the promotion.
 */
export async function promoteWithRollout(
  ctx: GateQueryContext,
  rollouts: RolloutService,
  stage: string,
  o: PromoteOptions,
  r: PromoteRollout,
): Promise<PromoteWithRolloutJson> {
  const ladder = ctx.config.gate.stages;
  const next = ladder[ladder.indexOf(stage) + 1];
  // the stage and --to are checked by promote(); a class needs the next stage to exist first
  let release: (() => void) | undefined;
  if (ladder.includes(stage) && next !== undefined && (o.to === undefined || o.to === next)) {
    checkRolloutStart(ctx, rollouts, next, r);
    // no other start of the class slips in while it promotes (it would be made, its rollout refused)
    release = rollouts.claim(next, r.className);
  }
  try {
    const p = await promote(ctx, stage, o);
    const started = await rollouts.start(
      {
        stage: p.to,
        className: r.className,
        waves: r.waves,
        soakMs: r.soakMs,
        halt: r.halt,
        jobKind: r.jobKind,
        actor: o.actor,
        ...(o.reason?.trim() ? { reason: o.reason.trim() } : {}),
      },
      release !== undefined,
    );
    return { ...p, rollout: rolloutDetailJson(started) };
  } finally {
    release?.();
  }
}
