// The computing part of outdated on the server: a profile's answer in a loaded view, and what a
// new snapshot asks of a cached answer. No writes: the server runs it in its outdated worker
// (outdated-work.ts) as well as on its own thread.
import { outdated, outdatedSteps, type OutdatedResult } from '../index/outdated.js';
import { Policy } from '../index/policy.js';
import type { InstalledPackage } from '../index/status.js';
import { fail } from '../errors.js';
import type { ProfileStore } from '../state/profiles.js';
import type { LoadedView } from './views.js';

export class OutdatedCalc {
  private readonly policies = new WeakMap<LoadedView, Policy>();
  private readonly installedCache = new Map<number, InstalledPackage[]>();

  constructor(private readonly profiles: ProfileStore) {}

  private installed(profileId: number): InstalledPackage[] {
    let i = this.installedCache.get(profileId);
    if (!i) {
      if (!this.profiles.byId(profileId)) fail('NOT_FOUND', `no profile ${profileId}`);
      i = this.profiles.installed(profileId);
      this.installedCache.set(profileId, i);
      if (this.installedCache.size > 5000) this.installedCache.delete(this.installedCache.keys().next().value!);
    }
    return i;
  }

  /** Keeps an installed set read ahead (in slices) by the caller: result() then finds it. */
  remember(profileId: number, installed: InstalledPackage[]): void {
    this.installedCache.set(profileId, installed);
    if (this.installedCache.size > 5000) this.installedCache.delete(this.installedCache.keys().next().value!);
  }

  has(profileId: number): boolean {
    return this.installedCache.has(profileId);
  }

  /** Profiles that were deleted (their ids may be given to new ones): nothing of them stays. */
  forget(profileIds: Iterable<number>): void {
    for (const id of profileIds) this.installedCache.delete(id);
    // their records went with them, and record ids are given again: a record read here before
    // could now be another package (the worker's answers named versions machines no longer had)
    this.profiles.forgetRecords();
  }

  private policyOf(loaded: LoadedView): Policy {
    let policy = this.policies.get(loaded);
    if (!policy) {
      policy = new Policy(loaded.view, loaded.pins);
      this.policies.set(loaded, policy);
    }
    return policy;
  }

  result(profileId: number, loaded: LoadedView): OutdatedResult {
    return outdated(this.installed(profileId), loaded.view, { policy: this.policyOf(loaded) });
  }

  /** result() as resumable steps (the caller runs them in slices of the event loop). */
  resultSteps(profileId: number, loaded: LoadedView): Generator<void, OutdatedResult> {
    return outdatedSteps(this.installed(profileId), loaded.view, { policy: this.policyOf(loaded) });
  }

  /**
   * A cached answer after a new snapshot: `changed` are the names whose versions changed since
   * the answer's snapshots (undefined: not comparable). Carried over when the profile has none
   * of them, else computed again.
   */
  refreshed(profileId: number, loaded: LoadedView, changed: ReadonlySet<string> | undefined): 'carry' | OutdatedResult {
    if (changed && !this.hasAny(profileId, changed)) return 'carry';
    return this.result(profileId, loaded);
  }

  private hasAny(profileId: number, names: ReadonlySet<string>): boolean {
    if (!names.size) return false;
    // records are shared between profiles and kept once read, so this is mostly memory
    return this.installed(profileId).some((p) => names.has(p.package));
  }
}

/** Stage generations (negative ids) and missing sources are not compared: computed again. */
export function comparable(from: readonly number[], to: readonly number[]): boolean {
  return from.length === to.length && [...from, ...to].every((s) => s > 0);
}
