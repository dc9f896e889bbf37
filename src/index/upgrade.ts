// What `apt-get upgrade` (apt 2.6 pkgAllUpgradeNoNewPackages) would do with the candidates:
// mark every installed, not held, not phase-deferred instance for its candidate, then resolve by
// keeping (pkgProblemResolver::ResolveByKeep): a broken instance that is being upgraded is kept
// at its version; otherwise the upgrades of the instances its broken relations point at are.
// "Broken" is what apt checks: Pre-Depends/Depends unsatisfied, Breaks/Conflicts hit,
// Multi-Arch: same siblings at another version, and a Recommends newly unsatisfied.
import {
  criticalBreakage,
  indexProvides,
  indexRefs,
  provides,
  recommendsSatisfied,
  StateIndex,
  type Breakage,
  type InstalledIndex,
} from './deps.js';
import type { Relation } from './relations.js';
import type { VersionInfo } from './view.js';

export type KeepReason =
  /** the candidate depends on packages that are not installed */
  | 'new-packages'
  /** the candidate breaks or conflicts with installed packages */
  | 'removals'
  /** the candidate recommends packages that are not installed */
  | 'new-recommends'
  /** the upgrade would break an installed package kept at its version (a held one, for example) */
  | 'blocked'
  /** Multi-Arch: same siblings could not move together */
  | 'multiarch';

export interface UpgradeResult {
  /** slot index → whether the upgrade happens */
  upgraded: boolean[];
  /** slot index → why a marked upgrade was kept back */
  reasons: Map<number, { reason: KeepReason; because?: number }>;
}

/**
 * `base` indexes the installed set (slots with their installed versions); `candidates[i]` is
 * slot i's candidate when it is an upgrade; `unmarked[i]` leaves it alone (held, phase-deferred).
 */
export function simulateUpgrade(
  base: InstalledIndex,
  candidates: readonly (VersionInfo | undefined)[],
  unmarked: readonly boolean[],
  nativeArch: string,
): UpgradeResult {
  return runSteps(simulateUpgradeSteps(base, candidates, unmarked, nativeArch));
}

/** Runs a resumable computation to its end in one go. */
export function runSteps<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** Units of work between two pauses of a resumable computation (each a few microseconds). */
export const STEP = 256;

/**
 * simulateUpgrade() as a resumable computation: it pauses (yields) every STEP units of work, so
 * that a server can spread a large installed set over several turns of its event loop.
 */
export function* simulateUpgradeSteps(
  base: InstalledIndex,
  candidates: readonly (VersionInfo | undefined)[],
  unmarked: readonly boolean[],
  nativeArch: string,
): Generator<void, UpgradeResult> {
  const slots = base.slots;
  const marked = slots.map((_, i) => candidates[i] !== undefined && !unmarked[i]);
  if (!marked.includes(true)) return { upgraded: marked, reasons: new Map() };
  let work = 0;
  const reasons = new Map<number, { reason: KeepReason; because?: number }>();
  // what the candidates add: their provides now; the names their relations mention only once a
  // keep needs them (a slot reaching t through its candidate is marked, hence already examined)
  const extraProvide = new Map<string, number[]>();
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i];
    if (c) indexProvides(c, i, extraProvide);
    if (++work % STEP === 0) yield;
  }
  let extraRefs: Map<string, number[]> | undefined;
  const candidateRefs = (): Map<string, number[]> => {
    if (!extraRefs) {
      extraRefs = new Map();
      candidates.forEach((c, i) => {
        if (c) indexRefs(c, i, extraRefs!);
      });
    }
    return extraRefs;
  };
  /** The names through which slot t's change reaches others: its own, what either version provides. */
  const namesOf = (t: number): string[] => [
    slots[t]!.name,
    ...provides(slots[t]!.info.provides).map((p) => p.name),
    ...provides(candidates[t]?.provides).map((p) => p.name),
  ];
  const now = (i: number): VersionInfo => slots[i]!.info;
  const future = (i: number): VersionInfo => (marked[i] ? candidates[i]! : slots[i]!.info);
  let nowIdx: StateIndex | undefined;
  const futIdx = new StateIndex(base, nativeArch, future, extraProvide);

  // apt only counts a Recommends as newly broken when the installed version had all of its own
  const metCache = new Map<number, boolean>();
  const recommendsWereMet = (i: number): boolean => {
    let v = metCache.get(i);
    if (v === undefined) {
      nowIdx ??= new StateIndex(base, nativeArch, now, extraProvide);
      v = recommendsSatisfied(nowIdx, slots[i]!.info, slots[i]!.instanceArch);
      metCache.set(i, v);
    }
    return v;
  };

  // names whose state can differ from the installed one: what was marked, and what it provides
  const changed = new Set<string>();
  for (let t = 0; t < marked.length; t++) {
    if (marked[t]) for (const n of namesOf(t)) changed.add(n);
    if (++work % STEP === 0) yield;
  }

  // per slot, the installed relation groups that mention a changed name: all an instance at its
  // installed version can break through
  const relevant: Array<Array<{ negative: boolean; group: Relation[] }> | undefined> = new Array(slots.length);
  for (const n of changed) {
    for (const ref of base.groupRefs.get(n) ?? []) {
      const list = relevant[ref.slot];
      if (!list) relevant[ref.slot] = [ref];
      else if (!list.some((x) => x.group === ref.group && x.negative === ref.negative)) list.push(ref);
      if (++work % STEP === 0) yield;
    }
  }
  const siblingVersion = (j: number) => future(j).version;
  const installedBreakage = (i: number): Breakage[] => {
    const out: Breakage[] = [];
    const arch = slots[i]!.instanceArch;
    for (const { negative, group } of relevant[i] ?? []) {
      if (!negative) {
        if (!group.some((r) => futIdx.satisfied(r, arch))) out.push({ kind: 'depends', group });
        continue;
      }
      for (const rel of group) {
        if (!changed.has(rel.name)) continue;
        const hits = futIdx.hits(rel, i);
        if (hits.length) out.push({ kind: 'conflicts', rel, hits });
      }
    }
    const info = slots[i]!.info;
    if (info.multiArch === 'same') {
      const bad = futIdx.siblings(i).filter((j) => future(j).version !== info.version);
      if (bad.length) out.push({ kind: 'multiarch', siblings: bad });
    }
    return out;
  };

  const breakage = (i: number): Breakage[] | 'recommends' | undefined => {
    const s = slots[i]!;
    const info = future(i);
    // only relations naming a change can break, unless they are new (a candidate's own)
    const b = marked[i]
      ? criticalBreakage(futIdx, i, info, s.instanceArch, siblingVersion, changed, s.info)
      : installedBreakage(i);
    if (b.length) return b;
    if (marked[i] && info.recommends && !recommendsSatisfied(futIdx, info, s.instanceArch) && recommendsWereMet(i))
      return 'recommends';
    return undefined;
  };

  const reasonFor = (b: Breakage[] | 'recommends'): KeepReason => {
    if (b === 'recommends') return 'new-recommends';
    const first = b[0]!;
    if (first.kind === 'depends') return 'new-packages';
    if (first.kind === 'conflicts') return 'removals';
    return 'multiarch';
  };

  // Who can change state when slot t is kept: t, its Multi-Arch siblings, and every slot with a
  // relation naming t or something t provides. Only those are re-examined after a keep.
  const affected = (t: number): Set<number> => {
    const out = new Set<number>([t]);
    const extra = candidateRefs();
    for (const n of namesOf(t)) {
      for (const i of base.refs.get(n) ?? []) out.add(i);
      for (const i of extra.get(n) ?? []) out.add(i);
    }
    for (const j of futIdx.siblings(t)) out.add(j);
    return out;
  };

  // A consistent system only breaks where something changes: the marked slots and the slots
  // whose relations reach them.
  const state: Array<ReturnType<typeof breakage>> = new Array(slots.length).fill(undefined);
  // the union of what the marked slots reach, without a Set (most reach the same few hundred)
  const seen = new Uint8Array(slots.length);
  const reach = (i: number) => {
    if (seen[i] === 0) {
      seen[i] = 1;
      state[i] = breakage(i);
    }
  };
  for (let t = 0; t < marked.length; t++) {
    if (!marked[t]) continue;
    reach(t);
    for (const n of namesOf(t)) {
      for (const i of base.refs.get(n) ?? []) {
        reach(i);
        if (++work % STEP === 0) yield;
      }
    }
    for (const j of futIdx.siblings(t)) reach(j);
    if (++work % STEP === 0) yield;
  }
  function* keep(t: number, reason: { reason: KeepReason; because?: number }): Generator<void, void> {
    marked[t] = false;
    reasons.set(t, reason);
    for (const i of affected(t)) {
      state[i] = breakage(i);
      if (++work % STEP === 0) yield;
    }
  }

  // apt's loop: take the first broken slot in order; when it is fixed, start over from the top
  let k = 0;
  let guard = 0;
  const limit = slots.length * 4 + 16;
  while (guard++ < limit) {
    while (k < slots.length && state[k] === undefined) {
      k++;
      if (++work % STEP === 0) yield;
    }
    if (k >= slots.length) break;
    const b = state[k]!;
    if (marked[k]) {
      yield* keep(k, { reason: reasonFor(b) });
      if (state[k] === undefined) {
        k = 0;
        continue;
      }
    }
    const still = state[k];
    if (still === undefined || still === 'recommends') {
      k = still === undefined ? 0 : k + 1;
      continue;
    }
    for (const br of still) {
      const targets =
        br.kind === 'depends'
          ? br.group.flatMap((r) => futIdx.owners(r))
          : br.kind === 'conflicts'
            ? br.hits
            : br.siblings;
      for (const t of targets) {
        if (!marked[t]) continue;
        yield* keep(t, { reason: br.kind === 'multiarch' ? 'multiarch' : 'blocked', because: k });
        if (state[k] === undefined) break;
      }
      if (state[k] === undefined) break;
    }
    k = state[k] === undefined ? 0 : k + 1;
  }
  return { upgraded: marked, reasons };
}
