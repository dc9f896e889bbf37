// Outdated on the server: per (profile, view), cached, and kept current when a suite gets a new
// snapshot by recomputing only the profiles that have a package whose versions changed.
import { outdated, type OutdatedResult } from '../index/outdated.js';
import { Policy } from '../index/policy.js';
import type { InstalledPackage } from '../index/status.js';
import { fail } from '../errors.js';
import type { OutdatedCacheStore } from '../state/outdated-cache.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { ProfileStore } from '../state/profiles.js';
import { Slicer } from './slices.js';
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

  private compute(profileId: number, viewId: number, loaded: LoadedView): OutdatedResult {
    let policy = this.policies.get(loaded);
    if (!policy) {
      policy = new Policy(loaded.view, loaded.pins);
      this.policies.set(loaded, policy);
    }
    const result = outdated(this.installed(profileId), loaded.view, { policy });
    this.stats.computed++;
    // an answer from a view still being indexed is not kept: it would outlive the indexing
    if (!loaded.complete) return result;
    this.cache.put({ profileId, viewId, snapshots: loaded.snapshots, computedAt: Date.now(), result: JSON.stringify(result) });
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
      return { result: JSON.parse(hit.result) as OutdatedResult, snapshots: hit.snapshots, cached: true, complete: true };
    }
    const loaded = this.views.load(spec);
    return { result: this.compute(profileId, viewId, loaded), snapshots: loaded.snapshots, cached: false, complete: loaded.complete };
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
   * refresh() for a running server, without holding the event loop: views are loaded by
   * loadAsync (rows read in a worker, built in slices), the differences between snapshots are
   * read off this thread, and the (profile, view) pairs are redone in short slices of at most
   * `slice` each, each slice its own transaction. Refreshes run one after another; idle()
   * resolves when none is pending.
   */
  refreshInSlices(backend: string, suite: string, slice = 100): Promise<RefreshStats> {
    this.refreshing++;
    const run = this.queue.then(() => this.refreshAsync(backend, suite, slice)).finally(() => { this.refreshing--; });
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private async refreshAsync(backend: string, suite: string, slice: number): Promise<RefreshStats> {
    const stats: RefreshStats = { recomputed: 0, carried: 0, deferred: 0 };
    const slicer = new Slicer();
    // the names that changed between two snapshots, shared by every view of this refresh
    const diffs = new Map<string, Promise<Set<string>>>();
    const changed = async (from: readonly number[], to: readonly number[]): Promise<Set<string>> => {
      const names = new Set<string>();
      for (const [i, now] of to.entries()) {
        const was = from[i];
        if (was === undefined || was === 0 || now === 0 || was === now) continue;
        const key = `${was}>${now}`;
        const diff = diffs.get(key) ?? this.views.changedPackages(was, now);
        diffs.set(key, diff);
        for (const n of await diff) names.add(n);
      }
      return names;
    };
    for (const v of this.cache.views()) {
      const spec = JSON.parse(v.spec) as ViewSpec;
      if (!spec.sources.some((s) => s.backend === backend && s.suite === suite)) continue;
      if (!this.cache.byView(v.id).length) continue;
      const loaded = await this.views.loadAsync(spec);
      if (!loaded.complete) {
        stats.deferred++;
        continue;
      }
      const byFrom = new Map<string, Set<string>>();
      const steps: Array<() => void> = [];
      for (const row of this.cache.byView(v.id)) {
        if (row.snapshots.join(',') === loaded.snapshots.join(',')) continue;
        // stage generations (negative ids) and missing sources are not compared: computed again
        const comparable = row.snapshots.length === loaded.snapshots.length && [...row.snapshots, ...loaded.snapshots].every((s) => s > 0);
        let names: Set<string> | undefined;
        if (comparable) {
          const key = row.snapshots.join(',');
          names = byFrom.get(key);
          if (!names) byFrom.set(key, (names = await changed(row.snapshots, loaded.snapshots)));
        }
        steps.push(() => this.refreshRow(row.profileId, v.id, loaded, names, stats));
      }
      for (let i = 0; i < steps.length;) {
        this.cache.transaction(() => {
          for (let n = 0; i < steps.length && n < slice && (n === 0 || !slicer.due()); n++) steps[i++]!();
        });
        await slicer.next();
      }
    }
    return stats;
  }

  /** One (profile, view) pair after a new snapshot: carried over when none of its packages changed, else computed. */
  private refreshRow(profileId: number, viewId: number, loaded: LoadedView, changed: Set<string> | undefined, stats: RefreshStats): void {
    if (changed && !this.hasAny(profileId, changed)) {
      this.cache.carry(profileId, viewId, loaded.snapshots);
      this.stats.carried++;
      stats.carried++;
    } else {
      this.compute(profileId, viewId, loaded);
      stats.recomputed++;
    }
  }

  /**
   * Loads, without holding the event loop, the view an answer of the view needs (none when the
   * profile's answer is cached and current, or the view is not indexed yet): get() then finds it.
   */
  async prepare(viewId: number, profileId?: number): Promise<void> {
    const spec = this.spec(viewId);
    if (!this.views.ready(spec)) return;
    if (profileId !== undefined) {
      const hit = this.cache.get(profileId, viewId);
      if (hit && hit.snapshots.join(',') === this.views.currentIds(spec).join(',')) return;
    }
    await this.views.loadAsync(spec);
  }

  idle(): Promise<void> {
    return this.queue;
  }

  /** A refresh is queued or running. */
  get busy(): boolean {
    return this.refreshing > 0;
  }

  private refreshing = 0;

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
          this.refreshRow(row.profileId, v.id, loaded, comparable ? changedBetween(row.snapshots) : undefined, stats);
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
