// What a stage view (index/stage-view.ts) publishes per suite: a stage's current generation, or
// for one side of a rollout the generation it pins (the stage's current one where it pins none:
// a suite the stage took after the rollout began; what a rollback of the stage returned to
// where it withdrew the pinned one). The published files, the pool files allowed,
// the machines' sources and the outdated views all resolve through here.
import { parseStageView, type StageView } from '../index/stage-view.js';
import { pinnedGeneration, withdrawnBy } from '../state/rollouts.js';
import type { StageGeneration, StageStore } from '../state/stages.js';

export class StageViews {
  constructor(
    private readonly store: StageStore,
    /** the stages of [gate] stages (the outdated worker, which has no configuration, takes any) */
    private readonly ladder?: readonly string[],
  ) {}

  /** The generation a view publishes for one suite (undefined: none, or not a view of the ladder). */
  generation(view: string, backend: string, suite: string): StageGeneration | undefined {
    const v = this.parse(view);
    const current = v && this.store.current(v.stage, backend, suite);
    return current && this.side(v, current);
  }

  /** Every suite a view publishes. */
  all(view: string): StageGeneration[] {
    const v = this.parse(view);
    if (!v) return [];
    return this.store.currentAll(v.stage).flatMap((g) => this.side(v, g) ?? []);
  }

  private parse(view: string): StageView | undefined {
    const v = parseStageView(view);
    return v && (!this.ladder || this.ladder.includes(v.stage)) ? v : undefined;
  }

  /** What the view publishes for the suite of the stage's current generation `current`. */
  private side(v: StageView, current: StageGeneration): StageGeneration | undefined {
    if (!v.rollout) return current;
    const { backend, suite } = current;
    const pinned = pinnedGeneration(this.store.db, v.rollout.id, v.stage, backend, suite, v.rollout.side);
    if (pinned === null) return undefined; // no such rollout of this stage
    if (pinned === undefined || pinned === current.id) return current;
    // a rollback of the stage since, to content from before the pin, reaches the view at once:
    // withdrawn content is offered to no one (what the stage returned to is, rolled back further
    // if it was)
    let gen = pinned;
    for (let by = withdrawnBy(this.store.db, v.stage, backend, suite, gen); by !== undefined;) {
      gen = by;
      by = withdrawnBy(this.store.db, v.stage, backend, suite, gen);
    }
    return gen === current.id ? current : this.store.byId(gen);
  }
}
