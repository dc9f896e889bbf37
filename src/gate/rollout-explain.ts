// Why a machine does not read a version its stage has: a rollout of the stage to its class keeps
// it on the content before (its wave is not open yet, the rollout halted or was aborted). Part of
// the one explanation of every pending update (fleet/queries/explain.ts asks through the fleet's
// gate port).
import { parseStageView } from '../index/stage-view.js';
import { compareVersions } from '../index/version.js';
import type { RolloutStore } from '../state/rollouts.js';
import type { StageStore } from '../state/stages.js';
import type { ContentResolver } from './content.js';

export interface RolloutWhy {
  /** in words, for people */
  text: string;
  /** when the wave opens at the earliest (its soak's end), when known */
  until: string | null;
}

/** undefined: the machine reads no rollout's `from` side, or the rollout's content lacks that version too. */
export function rolloutWhy(
  d: { store: RolloutStore; stages: StageStore; content: ContentResolver },
  view: string,
  machine: number,
  source: string,
  version: string,
): RolloutWhy | undefined {
  const v = parseStageView(view);
  if (v?.rollout?.side !== 'from') return undefined;
  const r = d.store.byId(v.rollout.id);
  if (!r) return undefined;
  const offers = r.pins.some((p) => {
    const g = d.stages.byId(p.to);
    const s = g && d.content.sources({ base: g.baseSnapshot, overrides: g.overrides }).get(source);
    return s !== undefined && compareVersions(s.version, version) >= 0;
  });
  if (!offers) return undefined;
  const of = `rollout ${r.id} of ${r.stage} to class ${r.className}`;
  if (r.state === 'aborted')
    return {
      text: `${of} was aborted${r.stateReason ? ` (${r.stateReason})` : ''}: the class reads the content before it`,
      until: null,
    };
  const wave = (d.store.waveOfMachine(r.id, machine) ?? r.waves.length - 1) + 1;
  const open = r.wave + 1;
  const opened = r.waveOpened[r.wave] ?? r.createdAt;
  const soakEnds = opened + r.soakMs;
  const state =
    r.state === 'halted'
      ? `halted at wave ${open}: ${r.stateReason ?? ''}`
      : r.state === 'paused'
        ? `paused at wave ${open}`
        : `wave ${open} open since ${new Date(opened).toISOString()}, its soak ends ${new Date(soakEnds).toISOString()}`;
  return {
    text: `in wave ${wave} of ${r.waves.length} of ${of}, not open yet (${state})`,
    until: r.state === 'running' && wave === open + 1 ? new Date(soakEnds).toISOString() : null,
  };
}
