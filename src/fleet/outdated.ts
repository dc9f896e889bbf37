// Outdated on the server: per (profile, view), cached, and kept current when a suite gets a new
// snapshot by recomputing only the profiles that have a package whose versions changed.
import { outdated, outdatedSteps, type OutdatedResult } from '../index/outdated.js';
import { Policy } from '../index/policy.js';
import type { InstalledPackage } from '../index/status.js';
import { fail } from '../errors.js';
import type { OutdatedCacheStore } from '../state/outdated-cache.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { ProfileStore } from '../state/profiles.js';
import type { TimeSlicer } from '../sys/time-slice.js';
import { decodeResult, decodeResultInSlices, encodeResult, encodeResultInSlices } from './outdated-text.js';
import { checkViewSpec, viewSpecHash, type LoadedView, type ViewLoader, type ViewSpec } from './views.js';

export interface OutdatedAnswer {
  result: OutdatedResult;
  snapshots: number[];
  cached: boolean;
  /** false while a source has no snapshot or its Packages are not all indexed yet: not final */
  complete: boolean;
}

export interface RefreshStats {
  /** (profile, view) pairs computed again */
  recomputed: number;
  /** pairs whose result still held and was moved to the new snapshots */
  carried: number;
  /** views not refreshed because the new snapshot's indexes are not all parsed yet */
  deferred: number;
}

export class OutdatedService {
  readonly stats = { computed: 0, carried: 0, hits: 0 };
  private readonly policies = new WeakMap<LoadedView, Policy>();
  private readonly installedCache = new Map<number, InstalledPackage[]>();

  constructor(
    private readonly profiles: ProfileStore,
    private readonly views: ViewLoader,
    private readonly cache: OutdatedCacheStore,
    private readonly packageIndex: PackageIndexStore,
  ) {}

  defineView(spec: ViewSpec): number {
    checkViewSpec(spec);
    return this.cache.defineView(viewSpecHash(spec), JSON.stringify(spec));
  }

  spec(viewId: number): ViewSpec {
    const s = this.cache.view(viewId);
    if (s === undefined) fail('NOT_FOUND', `no view ${viewId}`);
    return JSON.parse(s) as ViewSpec;
  }

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

  /** Reads a profile's installed set in slices ahead of get(), which then finds it in memory. */
  async warm(profileId: number, slicer: TimeSlicer): Promise<void> {
    if (this.installedCache.has(profileId) || !this.profiles.byId(profileId)) return;
    const i = await this.profiles.installedInSlices(profileId, slicer);
    this.installedCache.set(profileId, i);
    if (this.installedCache.size > 5000) this.installedCache.delete(this.installedCache.keys().next().value!);
  }

  /** Profiles that were deleted: nothing of them stays in memory. */
  forget(profileIds: Iterable<number>): void {
    for (const id of profileIds) this.installedCache.delete(id);
  }

  /**
   * Deletes the given views when no machine reads them any more (their cached answers go with
   * them), and the upstream views upstreamOf() made of them unless a view in use makes the same.
   * Returns how many were deleted.
   */
  async pruneViews(candidates: Iterable<number>, slicer: TimeSlicer): Promise<number> {
    const upstreamHash = (spec: ViewSpec) => viewSpecHash({ ...spec, sources: spec.sources.map(({ stage: _stage, ...rest }) => rest) });
    const hasStage = (spec: ViewSpec) => spec.sources.some((x) => x.stage);
    const byId = (id: number) => { const t = this.cache.view(id); return t === undefined ? undefined : JSON.parse(t) as ViewSpec; };
    const drop = new Set<number>();
    for (const id of candidates) {
      const spec = byId(id);
      if (!spec) continue;
      drop.add(id);
      const up = hasStage(spec) ? this.cache.viewIdByHash(upstreamHash(spec)) : undefined;
      if (up !== undefined) drop.add(up);
    }
    if (!drop.size) return 0;
    const inUse = this.cache.viewsInUse();
    for (const id of inUse) {
      await slicer.tick();
      drop.delete(id);
      const spec = byId(id);
      if (spec && hasStage(spec)) {
        const up = this.cache.viewIdByHash(upstreamHash(spec));
        if (up !== undefined) drop.delete(up);
      }
    }
    let n = 0;
    this.cache.transaction(() => { for (const id of drop) if (this.cache.deleteViewIfUnused(id)) n++; });
    return n;
  }

  private policyOf(loaded: LoadedView): Policy {
    let policy = this.policies.get(loaded);
    if (!policy) {
      policy = new Policy(loaded.view, loaded.pins);
      this.policies.set(loaded, policy);
    }
    return policy;
  }

  private compute(profileId: number, viewId: number, loaded: LoadedView): OutdatedResult {
    const result = outdated(this.installed(profileId), loaded.view, { policy: this.policyOf(loaded) });
    this.stats.computed++;
    // an answer from a view still being indexed is not kept: it would outlive the indexing
    if (!loaded.complete) return result;
    this.cache.put({ profileId, viewId, snapshots: loaded.snapshots, computedAt: Date.now(), result: encodeResult(result) });
    return result;
  }

  /**
   * For a view read through a stage of the release gate: the stage, the same view read from
   * upstream (what is available, against what is approved), and the suites the view also reads
   * directly around its stage (apt sees upstream through them). Undefined for other views.
   */
  upstreamOf(viewId: number): { stage: string; viewId: number; bypass: string[] } | undefined {
    const spec = this.spec(viewId);
    const stage = spec.sources.find((s) => s.stage)?.stage;
    if (!stage) return undefined;
    const gated = new Set(spec.sources.filter((s) => s.stage).map((s) => `${s.backend}/${s.suite}`));
    const bypass = spec.sources.filter((s) => !s.stage && gated.has(`${s.backend}/${s.suite}`)).map((s) => `${s.backend}/${s.suite}`);
    return { stage, bypass, viewId: this.defineView({ ...spec, sources: spec.sources.map(({ stage: _stage, ...rest }) => rest) }) };
  }

  /** Whether a view's sources all have their current snapshot indexed (answers are final). */
  ready(viewId: number): boolean {
    return this.views.ready(this.spec(viewId));
  }

  /** The outdated answer for a profile in a view, from the cache when it is current. */
  get(profileId: number, viewId: number): OutdatedAnswer {
    const spec = this.spec(viewId);
    const current = this.views.currentIds(spec);
    const hit = this.cache.get(profileId, viewId);
    if (hit && hit.snapshots.join(',') === current.join(',')) {
      this.stats.hits++;
      return { result: decodeResult(hit.result), snapshots: hit.snapshots, cached: true, complete: true };
    }
    const loaded = this.views.load(spec);
    return { result: this.compute(profileId, viewId, loaded), snapshots: loaded.snapshots, cached: false, complete: loaded.complete };
  }

  /**
   * get() for a running server: the installed set is read and the answer computed in slices
   * (a large installed set is hundreds of milliseconds of work). The caller keeps the profile
   * pinned meanwhile.
   */
  async getInSlices(profileId: number, viewId: number, slicer: TimeSlicer): Promise<OutdatedAnswer> {
    const spec = this.spec(viewId);
    const current = this.views.currentIds(spec);
    const hit = this.cache.get(profileId, viewId);
    if (hit && hit.snapshots.join(',') === current.join(',')) {
      this.stats.hits++;
      return { result: await decodeResultInSlices(hit.result, slicer), snapshots: hit.snapshots, cached: true, complete: true };
    }
    await this.warm(profileId, slicer);
    const installed = this.installed(profileId);
    const loaded = this.views.load(spec);
    const steps = outdatedSteps(installed, loaded.view, { policy: this.policyOf(loaded) });
    let r = steps.next();
    while (!r.done) {
      if (slicer.due()) await slicer.pause();
      r = steps.next();
    }
    const result = r.value;
    this.stats.computed++;
    if (loaded.complete) {
      const text = await encodeResultInSlices(result, slicer);
      // the view may have been deleted meanwhile (no machine reads it any more): nothing to keep
      if (this.cache.view(viewId) !== undefined) this.cache.put({ profileId, viewId, snapshots: loaded.snapshots, computedAt: Date.now(), result: text });
    }
    return { result, snapshots: loaded.snapshots, cached: false, complete: loaded.complete };
  }

  /**
   * After a suite got a new snapshot: every cached result of a view reading that suite is either
   * carried over (the profile has none of the packages whose versions changed) or recomputed.
   */
  refresh(backend: string, suite: string): RefreshStats {
    const stats: RefreshStats = { recomputed: 0, carried: 0, deferred: 0 };
    const steps = this.refreshSteps(backend, suite, stats);
    // one transaction: thousands of small writes, one commit
    this.cache.transaction(() => { for (const step of steps) step(); });
    return stats;
  }

  /**
   * refresh() for a running server: the work is done in slices, each its own transaction, with
   * the event loop free in between (a proxy must not stop serving for a fleet recompute).
   * Refreshes run one after another; idle() resolves when none is pending.
   */
  refreshInSlices(backend: string, suite: string, slice = 100): Promise<RefreshStats> {
    const run = this.queue.then(async () => {
      const stats: RefreshStats = { recomputed: 0, carried: 0, deferred: 0 };
      const steps = this.refreshSteps(backend, suite, stats);
      for (let i = 0; i < steps.length; i += slice) {
        this.cache.transaction(() => { for (const step of steps.slice(i, i + slice)) step(); });
        await new Promise<void>((r) => setImmediate(r));
      }
      return stats;
    });
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  idle(): Promise<void> {
    return this.queue;
  }

  /** Runs `fn` between refreshes (a refresh never sees a profile or view disappear under it). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private queue: Promise<void> = Promise.resolve();

  /** What a new snapshot of (backend, suite) asks for: one step per cached (profile, view) pair. */
  private refreshSteps(backend: string, suite: string, stats: RefreshStats): Array<() => void> {
    const steps: Array<() => void> = [];
    for (const v of this.cache.views()) {
      const spec = JSON.parse(v.spec) as ViewSpec;
      if (!spec.sources.some((s) => s.backend === backend && s.suite === suite)) continue;
      const rows = this.cache.byView(v.id);
      if (!rows.length) continue;
      const loaded = this.views.load(spec);
      if (!loaded.complete) {
        stats.deferred++;
        continue;
      }
      const changedCache = new Map<string, Set<string>>();
      const changedBetween = (from: readonly number[]): Set<string> => {
        const key = from.join(',');
        let names = changedCache.get(key);
        if (!names) {
          names = new Set();
          loaded.snapshots.forEach((to, i) => {
            const was = from[i];
            if (was === undefined || was === 0 || to === 0) return;
            if (was !== to) for (const n of this.packageIndex.changedPackages(was, to)) names!.add(n);
          });
          changedCache.set(key, names);
        }
        return names;
      };
      for (const row of rows) {
        if (row.snapshots.join(',') === loaded.snapshots.join(',')) continue;
        steps.push(() => {
          // stage generations (negative ids) and missing sources are not compared: computed again
          const comparable = row.snapshots.length === loaded.snapshots.length && [...row.snapshots, ...loaded.snapshots].every((s) => s > 0);
          const changed = comparable ? changedBetween(row.snapshots) : undefined;
          if (changed && !this.hasAny(row.profileId, changed)) {
            this.cache.carry(row.profileId, v.id, loaded.snapshots);
            this.stats.carried++;
            stats.carried++;
          } else {
            this.compute(row.profileId, v.id, loaded);
            stats.recomputed++;
          }
        });
      }
    }
    return steps;
  }

  private hasAny(profileId: number, names: ReadonlySet<string>): boolean {
    if (!names.size) return false;
    // records are shared between profiles and kept once read, so this is mostly memory
    return this.installed(profileId).some((p) => names.has(p.package));
  }
}
