// How a stage view's suite reads, for the outdated views (fleet/views.ts asks through its
// StageResolver): the generation it publishes (a stage's current one, or a rollout's pin) and the
// snapshot parts that contains.
import type { StageStore } from '../state/stages.js';
import type { ContentResolver } from './content.js';
import type { StageViews } from './stage-views.js';

export function stageResolver(store: StageStore, content: ContentResolver, views: StageViews) {
  return {
    currentGeneration: (view: string, backend: string, suite: string): number | undefined =>
      views.generation(view, backend, suite)?.id,
    parts: (genId: number) => {
      const g = store.byId(genId);
      if (!g) return [];
      return content.targets({ base: g.baseSnapshot, overrides: g.overrides }).flatMap((t) =>
        t.parts.map((p) => ({
          snapshot: p.snapshot,
          component: t.component,
          architecture: t.architecture,
          indexFileId: p.indexFileId,
          keep: p.keep,
        })),
      );
    },
  };
}
