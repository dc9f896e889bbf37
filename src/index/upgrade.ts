// What `apt-get upgrade` (apt 2.6 pkgAllUpgradeNoNewPackages) would do with the candidates:
// mark every installed, not held, not phase-deferred instance for its candidate, then resolve by
// keeping (pkgProblemResolver::ResolveByKeep): a broken instance that is being upgraded is kept
// at its version; otherwise the upgrades of the instances its broken relations point at are.
// "Broken" is what apt checks: Pre-Depends/Depends unsatisfied, Breaks/Conflicts hit,
// Multi-Arch: same siblings at another version, and a Recommends newly unsatisfied.
import { criticalBreakage, recommendsSatisfied, StateIndex, type Breakage, type Slot } from './deps.js';
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

export interface UpgradeSlot extends Slot {
  /** installed version's data (from the status file) */
  info: VersionInfo;
  /** the candidate, when it is newer than the installed version */
  candidate: VersionInfo | undefined;
  /** not marked at all (held, or phase-deferred) */
  keep: boolean;
}

export interface UpgradeResult {
  /** slot index → whether the upgrade happens */
  upgraded: boolean[];
  /** slot index → why a marked upgrade was kept back */
  reasons: Map<number, { reason: KeepReason; because?: number }>;
}

export function simulateUpgrade(slots: readonly UpgradeSlot[], nativeArch: string): UpgradeResult {
  const marked = slots.map((s) => s.candidate !== undefined && !s.keep);
  const reasons = new Map<number, { reason: KeepReason; because?: number }>();
  const now = (i: number): VersionInfo => slots[i]!.info;
  const future = (i: number): VersionInfo => (marked[i] ? slots[i]!.candidate! : slots[i]!.info);
  const providersOf = (i: number): VersionInfo[] => {
    const s = slots[i]!;
    return s.candidate ? [s.info, s.candidate] : [s.info];
  };
  const nowIdx = new StateIndex(slots, nativeArch, now, providersOf);
  const futIdx = new StateIndex(slots, nativeArch, future, providersOf);

  // apt only counts a Recommends as newly broken when the installed version had all of its own
  const recommendsWereMet = slots.map((s) => recommendsSatisfied(nowIdx, s.info, s.instanceArch));

  const breakage = (i: number): Breakage[] | 'recommends' | undefined => {
    const s = slots[i]!;
    const info = future(i);
    const b = criticalBreakage(futIdx, i, info, s.instanceArch, (j) => future(j).version);
    if (b.length) return b;
    if (marked[i] && recommendsWereMet[i] && !recommendsSatisfied(futIdx, info, s.instanceArch)) return 'recommends';
    return undefined;
  };

  const reasonFor = (b: Breakage[] | 'recommends'): KeepReason => {
    if (b === 'recommends') return 'new-recommends';
    const first = b[0]!;
    if (first.kind === 'depends') return 'new-packages';
    if (first.kind === 'conflicts') return 'removals';
    return 'multiarch';
  };

  let guard = 0;
  const limit = slots.length * 4 + 16;
  outer: for (let k = 0; k < slots.length; k++) {
    const b = breakage(k);
    if (b === undefined) continue;
    if (marked[k]) {
      marked[k] = false;
      reasons.set(k, { reason: reasonFor(b) });
      if (breakage(k) === undefined) {
        if (++guard > limit) break;
        k = -1;
        continue;
      }
    }
    const still = breakage(k);
    if (still === undefined || still === 'recommends') continue;
    for (const br of still) {
      const targets = br.kind === 'depends'
        ? br.group.flatMap((r) => futIdx.owners(r))
        : br.kind === 'conflicts' ? br.hits : br.siblings;
      for (const t of targets) {
        if (!marked[t]) continue;
        marked[t] = false;
        reasons.set(t, { reason: br.kind === 'multiarch' ? 'multiarch' : 'blocked', because: k });
        if (breakage(k) === undefined) break;
      }
      if (breakage(k) === undefined) break;
    }
    if (breakage(k) !== undefined) continue;
    if (++guard > limit) break outer;
    k = -1;
  }
  return { upgraded: marked, reasons };
}
