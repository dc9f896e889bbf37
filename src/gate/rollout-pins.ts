// What a rollout pins per suite of its stage (the content before it, what it moves to), and
// whether the stage withdrew what it moves to since (a rollback to content from before it).
import type { RolloutPin, RolloutRow, RolloutStore } from '../state/rollouts.js';
import type { StageGeneration, StageStore } from '../state/stages.js';

/** Generations of one change of a stage (a promotion's suites) are made within this of each other. */
const SAME_CHANGE_MS = 5_000;

/**
 * Per suite, what the class reads now (from) and the stage's current content (to): after an
 * aborted rollout the content before it, after one done what it rolled out, a suite an earlier
 * rollout left alone the stage's current content (the class read it all along), else (the
 * class's first rollout) for the suites of the stage's last change (a promotion makes each
 * suite's generation at once) the generation before it: older changes reached the class already.
 */
export function pinsFrom(stages: StageStore, stage: string, last: RolloutRow | undefined): RolloutPin[] {
  const current = stages.currentAll(stage);
  const newest = current.reduce<StageGeneration | undefined>((a, g) => (!a || g.id > a.id ? g : a), undefined);
  const lastChange = (g: StageGeneration) =>
    g.kind === newest!.kind && g.actor === newest!.actor && newest!.createdAt - g.createdAt < SAME_CHANGE_MS;
  return current.map((g) => {
    const had = last?.pins.find((p) => p.backend === g.backend && p.suite === g.suite);
    const from = had
      ? last!.state === 'aborted'
        ? had.from
        : had.to
      : last || !lastChange(g)
        ? g.id
        : (stages.before(g)?.id ?? g.id);
    return { backend: g.backend, suite: g.suite, from, to: g.id };
  });
}

/**
 * A suite the rollout moves whose stage was rolled back since to content from before it: what
 * it rolls out was withdrawn (the class, pinned, would not see the rollback otherwise).
 */
export function withdrawn(stages: StageStore, store: RolloutStore, r: RolloutRow): StageGeneration | undefined {
  for (const p of r.pins) {
    if (p.from === p.to) continue;
    // also when the stage took new content after the rollback: what the rollout pins stays withdrawn
    const by = store.withdrawnBy(r.stage, p.backend, p.suite, p.to);
    if (by !== undefined) return stages.byId(by);
  }
  return undefined;
}
