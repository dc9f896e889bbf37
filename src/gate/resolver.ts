// How a stage's suite reads, for the outdated views (fleet/views.ts asks through its
// StageResolver): the stage's current generation and the snapshot parts it contains.
import type { StageStore } from '../state/stages.js';
import type { ContentResolver } from './content.js';

export function stageResolver(store: StageStore, content: ContentResolver) {
  return {
    currentGeneration: (stage: string, backend: string, suite: string): number | undefined =>
      store.current(stage, backend, suite)?.id,
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
