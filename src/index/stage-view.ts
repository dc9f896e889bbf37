// The name of what a machine reads through the release gate: a stage ("production"), or one side
// of a rollout of that stage ("production--r12-from": the content before rollout 12, "-to": the
// content it rolls out). It is the path segment after /stage/ and the `stage` of a view's source,
// so a machine in a wave not yet open reads a repository of its own, signed like the stage's.
// The form fits what agents before rollouts accept in a stage URI ([a-z0-9_-]); stage names
// never hold "--" ([gate] stages), so a side is never taken for a stage. Pure.

/** A stage's name: lower-case letters, digits, _ and - (never "--"), up to 32 characters. */
export const STAGE_NAME_RE = /^(?!.*--)[a-z0-9][a-z0-9_-]{0,31}$/;
/** A stage view's name as it appears in URLs and views (for embedding in other patterns). */
export const STAGE_VIEW = '[a-z0-9][a-z0-9_-]{0,31}(?:--r[1-9][0-9]{0,8}-(?:from|to))?';

const VIEW_RE = /^([a-z0-9][a-z0-9_-]{0,31}?)(?:--r([1-9][0-9]{0,8})-(from|to))?$/;

export interface StageView {
  stage: string;
  /** the rollout whose side this is (absent: the stage's current content) */
  rollout?: { id: number; side: 'from' | 'to' };
}

export function parseStageView(name: string): StageView | undefined {
  const m = VIEW_RE.exec(name);
  if (!m || !STAGE_NAME_RE.test(m[1]!)) return undefined;
  return m[2] ? { stage: m[1]!, rollout: { id: Number(m[2]), side: m[3] as 'from' | 'to' } } : { stage: m[1]! };
}

export function stageViewName(stage: string, rollout?: { id: number; side: 'from' | 'to' }): string {
  return rollout ? `${stage}--r${rollout.id}-${rollout.side}` : stage;
}
