// One explanation for every pending update of a machine (issue 17, `machines outdated M --why`,
// the API's `why` on each entry, the console's machine page): what apt-get upgrade does with it
// (upgradable now; kept back and which dependency, as apt would say; held; phased), its pin,
// and behind the release gate why upstream's newer version is not approved yet (not in the
// stage before; in its cooldown until when; waiting at the gate and for what; in a wave of a
// rollout not open yet).
import type { OutdatedEntry } from '../../index/outdated.js';
import { parseStageView } from '../../index/stage-view.js';
import { compareVersions } from '../../index/version.js';
import type { StagePending } from '../fleet.js';

export type WhyStatus = 'upgradable' | 'kept-back' | 'held' | 'phased' | 'waiting-at-gate' | 'cooldown' | 'later-wave';

export interface Why {
  status: WhyStatus;
  /** in words, for people */
  text: string;
  /** when it changes by itself (the cooldown's end), else null */
  until: string | null;
}

const KEPT: Record<string, string> = {
  'new-packages': 'kept back: the new version needs packages that are not installed (apt-get upgrade installs none)',
  removals: 'kept back: upgrading would remove installed packages (it breaks or conflicts with them)',
  'new-recommends': 'kept back: the new version recommends packages that are not installed',
  blocked: 'kept back: an installed package that stays at its version (a held one, for example) needs this version',
  multiarch: 'kept back: its other architectures (Multi-Arch: same) cannot move to the new version together',
};

// apt's default priorities: 500 (an archive), 990 (the target release), 100 (NotAutomatic, the installed version)
const DEFAULT_PRIORITIES = new Set([100, 500, 990]);

/** What apt-get upgrade does with an entry the machine may install (its stage's, or upstream's without a gate). */
export function whyOfEntry(e: OutdatedEntry): Why {
  const pin = !DEFAULT_PRIORITIES.has(e.priority) ? `; pinned at priority ${e.priority}` : '';
  if (e.action === 'held')
    return { status: 'held', text: `held (apt-mark hold): apt leaves it at its version${pin}`, until: null };
  if (e.action === 'phased')
    return {
      status: 'phased',
      text: `phased update: apt defers it until the rollout reaches this machine${pin}`,
      until: null,
    };
  if (e.action === 'kept-back') {
    const k = e.keptBack ?? { reason: 'blocked' as const };
    const because = k.because ? `; because of ${k.because}` : '';
    return { status: 'kept-back', text: `${KEPT[k.reason] ?? `kept back (${k.reason})`}${because}${pin}`, until: null };
  }
  return { status: 'upgradable', text: `upgradable now${pin}`, until: null };
}

/**
 * Why upstream's candidate of a machine in `stage` (a stage view: a side of a rollout too) is
 * not approved: the update into the stage (`pending`: the stage before it, its gate and its
 * updates; null for the first stage, which follows upstream), or the rollout that keeps the
 * machine on a pinned content.
 */
export function whyWaiting(view: string, e: OutdatedEntry, pending: StagePending | null): Why {
  const v = parseStageView(view);
  const stage = v?.stage ?? view;
  const waiting = pending?.updates.some((x) => x.source === e.source && compareVersions(x.to, e.sourceVersion) >= 0);
  // not waiting to move into the stage: the rollout's pin is what keeps it from this machine
  if (v?.rollout && !waiting)
    return {
      status: 'waiting-at-gate',
      text:
        v.rollout.side === 'from'
          ? `this machine reads ${stage} as it was before rollout ${v.rollout.id} (its wave is not open yet, or the rollout was aborted)`
          : `this machine reads what rollout ${v.rollout.id} of ${stage} rolls out, which does not have ${e.sourceVersion}`,
      until: null,
    };
  return whyWaitingInStage(stage, e, pending);
}

function whyWaitingInStage(stage: string, e: OutdatedEntry, pending: StagePending | null): Why {
  if (!pending)
    return {
      status: 'waiting-at-gate',
      text: `${stage} follows upstream: it takes ${e.sourceVersion} with the next snapshot the server indexes`,
      until: null,
    };
  const u = pending.updates.find((x) => x.source === e.source && compareVersions(x.to, e.sourceVersion) >= 0);
  if (!u)
    return {
      status: 'waiting-at-gate',
      text: `not approved: ${pending.from} (the stage before ${stage}) does not have ${e.source} ${e.sourceVersion} yet`,
      until: null,
    };
  const lane = u.fastLane ? ` (fast lane: ${u.fastLane})` : '';
  if (u.inCooldown)
    return {
      status: 'cooldown',
      text: `in its cooldown for ${stage} until ${u.eligibleAt} (first seen upstream ${u.firstSeen})${lane}`,
      until: u.eligibleAt,
    };
  return {
    status: 'waiting-at-gate',
    text: pending.holds
      ? `waiting at the gate: ${pending.from} → ${stage} may promote it (the gate holds)${lane}`
      : `waiting at the gate of ${pending.from}: ${pending.missing[0] ?? 'it does not hold'}${lane}`,
    until: null,
  };
}
