// Outdated on the server: per (profile, view), cached, and kept current when a suite gets a new
// snapshot by recomputing only the profiles that have a package whose versions changed.
import type { OutdatedResult } from '../index/outdated.js';
import { fail } from '../errors.js';
import type { OutdatedCacheStore } from '../state/outdated-cache.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { ProfileStore } from '../state/profiles.js';
import { nextTurn, TimeSlicer } from '../sys/time-slice.js';
import { OutdatedCalc, comparable } from './outdated-calc.js';
import { decodeResult, decodeResultInSlices, encodeResult, encodeResultInSlices, isCurrent } from './outdated-text.js';
import type { OutdatedThread, ThreadAnswer, ThreadRefresh } from './outdated-thread.js';
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

// cached answers of one view sent to the worker at once (their answers come back together)
const REFRESH_BATCH = 200;

export class OutdatedService {
  readonly stats = { computed: 0, carried: 0, hits: 0 };
  private readonly calc: OutdatedCalc;

  constructor(
    private readonly profiles: ProfileStore,
    private readonly views: ViewLoader,
    private readonly cache: OutdatedCacheStore,
    private readonly packageIndex: PackageIndexStore,
    /** the server's worker: refreshes and prepared answers are computed there, off the event loop */
    private readonly thread?: OutdatedThread,
  ) {
    this.calc = new OutdatedCalc(profiles);
  }

  defineView(spec: ViewSpec): number {
    checkViewSpec(spec);
    return this.cache.defineView(viewSpecHash(spec), JSON.stringify(spec));
  }

  /** The view of this spec if one is defined already (nothing is created). */
  viewOf(spec: ViewSpec): number | undefined {
    return this.cache.viewIdByHash(viewSpecHash(spec));
  }

  spec(viewId: number): ViewSpec {
    const s = this.cache.view(viewId);
    if (s === undefined) fail('NOT_FOUND', `no view ${viewId}`);
    return JSON.parse(s) as ViewSpec;
  }

  private compute(profileId: number, viewId: number, loaded: LoadedView): OutdatedResult {
    return this.store(profileId, viewId, loaded, this.calc.result(profileId, loaded));
  }

  /** Reads a profile's installed set in slices ahead of computing on this thread, which then finds it in memory. */
  async warm(profileId: number, slicer: TimeSlicer): Promise<void> {
    if (this.calc.has(profileId) || !this.profiles.byId(profileId)) return;
    this.calc.remember(profileId, await this.profiles.installedInSlices(profileId, slicer));
  }

  /**
   * Profiles that were deleted (their ids may be given to new ones), and records (theirs, or a failed ingest's:
   * record ids are given again): nothing of them stays in memory, here or in the worker.
   */
  forget(profileIds: Iterable<number>, recordsGone = false): void {
    const ids = [...profileIds];
    // records collected without a profile (a failed ingest's) free ids too
    if (!ids.length && !recordsGone) return;
    this.calc.forget(ids);
    this.thread?.forget(ids);
  }

  /**
   * Deletes the given views when no machine reads them any more (their cached answers go with
   * them), and the upstream views upstreamOf() made of them unless a view in use makes the same.
   * Returns how many were deleted.
   */
  async pruneViews(candidates: Iterable<number>, slicer: TimeSlicer): Promise<number> {
    const upstreamHash = (spec: ViewSpec) =>
      viewSpecHash({ ...spec, sources: spec.sources.map(({ stage: _stage, ...rest }) => rest) });
    const hasStage = (spec: ViewSpec) => spec.sources.some((x) => x.stage);
    const byId = (id: number) => {
      const t = this.cache.view(id);
      return t === undefined ? undefined : (JSON.parse(t) as ViewSpec);
    };
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
    this.cache.transaction(() => {
      for (const id of drop) if (this.cache.deleteViewIfUnused(id)) n++;
    });
    return n;
  }

  private store(profileId: number, viewId: number, loaded: LoadedView, result: OutdatedResult): OutdatedResult {
    this.stats.computed++;
    // an answer from a view still being indexed is not kept: it would outlive the indexing
    if (!loaded.complete) return result;
    this.cache.put({
      profileId,
      viewId,
      snapshots: loaded.snapshots,
      computedAt: Date.now(),
      result: encodeResult(result),
    });
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
    const bypass = spec.sources
      .filter((s) => !s.stage && gated.has(`${s.backend}/${s.suite}`))
      .map((s) => `${s.backend}/${s.suite}`);
    return {
      stage,
      bypass,
      viewId: this.defineView({ ...spec, sources: spec.sources.map(({ stage: _stage, ...rest }) => rest) }),
    };
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
    if (hit && hit.snapshots.join(',') === current.join(',') && isCurrent(hit.result)) {
      this.stats.hits++;
      return { result: decodeResult(hit.result), snapshots: hit.snapshots, cached: true, complete: true };
    }
    const loaded = this.views.load(spec);
    return {
      result: this.compute(profileId, viewId, loaded),
      snapshots: loaded.snapshots,
      cached: false,
      complete: loaded.complete,
    };
  }

  /**
   * get() for a running server, never computing on the event loop in one go: a cached answer is
   * read in slices; else the server's worker computes it (kept when final); without a worker
   * (tools) the installed set is read and the answer computed here, in slices.
   */
  async getInSlices(profileId: number, viewId: number, slicer: TimeSlicer): Promise<OutdatedAnswer> {
    const a = await this.answerInSlices(profileId, viewId, slicer);
    if (a.complete) this.onAnswer?.(a.result);
    return a;
  }

  /** Called with each final answer getInSlices gives (the server queues work on its entries). */
  onAnswer: ((result: OutdatedResult) => void) | undefined;

  private async answerInSlices(profileId: number, viewId: number, slicer: TimeSlicer): Promise<OutdatedAnswer> {
    const spec = this.spec(viewId);
    const current = this.views.currentIds(spec);
    const hit = this.cache.get(profileId, viewId);
    if (hit && hit.snapshots.join(',') === current.join(',') && isCurrent(hit.result)) {
      this.stats.hits++;
      return {
        result: await decodeResultInSlices(hit.result, slicer),
        snapshots: hit.snapshots,
        cached: true,
        complete: true,
      };
    }
    if (this.thread) {
      const a = await this.inWorker(this.thread, profileId, viewId, spec);
      return {
        result: await decodeResultInSlices(a.result, slicer),
        snapshots: a.snapshots,
        cached: false,
        complete: a.complete,
      };
    }
    this.profiles.pin(profileId);
    try {
      await this.warm(profileId, slicer);
      const loaded = this.views.load(spec);
      const steps = this.calc.resultSteps(profileId, loaded);
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
        if (this.cache.view(viewId) !== undefined)
          this.cache.put({ profileId, viewId, snapshots: loaded.snapshots, computedAt: Date.now(), result: text });
      }
      return { result, snapshots: loaded.snapshots, cached: false, complete: loaded.complete };
    } finally {
      this.profiles.unpin(profileId);
    }
  }

  /**
   * The worker's answer (JSON lines, as cached), kept when final. The profile is pinned while
   * the worker computes; the view may be deleted meanwhile (no machine reads it): then nothing is kept.
   */
  private async inWorker(
    thread: OutdatedThread,
    profileId: number,
    viewId: number,
    spec: ViewSpec,
  ): Promise<ThreadAnswer> {
    this.profiles.pin(profileId);
    try {
      const a = await thread.answer(spec, profileId);
      this.stats.computed++;
      if (a.complete && this.cache.view(viewId) !== undefined && this.profiles.byId(profileId)) {
        this.cache.put({ profileId, viewId, snapshots: a.snapshots, computedAt: Date.now(), result: a.result });
      }
      return a;
    } finally {
      this.profiles.unpin(profileId);
    }
  }

  /**
   * After a suite got a new snapshot: every cached result of a view reading that suite is either
   * carried over (the profile has none of the packages whose versions changed) or recomputed.
   */
  refresh(backend: string, suite: string): RefreshStats {
    const stats: RefreshStats = { recomputed: 0, carried: 0, deferred: 0 };
    const steps = this.refreshSteps(backend, suite, stats);
    // one transaction: thousands of small writes, one commit
    this.cache.transaction(() => {
      for (const step of steps) step();
    });
    return stats;
  }

  /**
   * refresh() for a running server, without holding the event loop: with the server's worker,
   * views are loaded, snapshots compared and answers computed there, and only the writes are
   * done here, in short slices (at most `slice` each, each its own transaction); without it
   * (tools), the same steps as refresh(), in slices of `slice`. Refreshes run one after
   * another; idle() resolves when none is pending.
   */
  refreshInSlices(backend: string, suite: string, slice = 100): Promise<RefreshStats> {
    this.refreshing++;
    const run = this.queue
      .then(async () => {
        const stats: RefreshStats = { recomputed: 0, carried: 0, deferred: 0 };
        if (this.thread) {
          await this.refreshInWorker(this.thread, backend, suite, slice, stats);
          return stats;
        }
        const steps = this.refreshSteps(backend, suite, stats);
        for (let i = 0; i < steps.length; i += slice) {
          this.cache.transaction(() => {
            for (const step of steps.slice(i, i + slice)) step();
          });
          await nextTurn();
        }
        return stats;
      })
      .finally(() => {
        this.refreshing--;
      });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async refreshInWorker(
    thread: OutdatedThread,
    backend: string,
    suite: string,
    slice: number,
    stats: RefreshStats,
  ): Promise<void> {
    const slicer = new TimeSlicer();
    for (const v of this.cache.views()) {
      const spec = JSON.parse(v.spec) as ViewSpec;
      if (!spec.sources.some((s) => s.backend === backend && s.suite === suite)) continue;
      const rows = this.cache.byView(v.id);
      for (let i = 0; i < rows.length; i += REFRESH_BATCH) {
        const r = await thread.refresh(
          spec,
          rows.slice(i, i + REFRESH_BATCH).map((x) => ({ profileId: x.profileId, snapshots: x.snapshots })),
        );
        if (!r.complete) {
          stats.deferred++;
          break;
        }
        await this.applyRefresh(v.id, r, slice, slicer, stats);
      }
    }
  }

  /** Writes what the worker found, a slice at a time. */
  private async applyRefresh(
    viewId: number,
    r: ThreadRefresh,
    slice: number,
    slicer: TimeSlicer,
    stats: RefreshStats,
  ): Promise<void> {
    for (let i = 0; i < r.rows.length;) {
      this.cache.transaction(() => {
        for (let n = 0; i < r.rows.length && n < slice && (n === 0 || !slicer.due()); n++) {
          const { profileId, result } = r.rows[i++]!;
          if (result === null) {
            this.cache.carry(profileId, viewId, r.snapshots);
            this.stats.carried++;
            stats.carried++;
          } else {
            this.cache.put({ profileId, viewId, snapshots: r.snapshots, computedAt: Date.now(), result });
            this.stats.computed++;
            stats.recomputed++;
          }
        }
      });
      await slicer.pause();
    }
  }

  /**
   * Makes get() of (profile, view) an answer from the cache, computed in the server's worker,
   * when it is not cached and current yet and the view is indexed (without a worker: nothing).
   */
  async prepare(profileId: number, viewId: number): Promise<void> {
    if (!this.thread) return;
    const spec = this.spec(viewId);
    const current = this.views.currentIds(spec);
    if (this.views.notReady(spec, current) !== undefined) return;
    const hit = this.cache.get(profileId, viewId);
    if (hit && hit.snapshots.join(',') === current.join(',') && isCurrent(hit.result)) return;
    await this.inWorker(this.thread, profileId, viewId, spec);
  }

  idle(): Promise<void> {
    return this.queue;
  }

  /** Runs `fn` between refreshes (a refresh never sees a profile or view disappear under it). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** A refresh is queued or running, or the worker is computing. */
  get busy(): boolean {
    return this.refreshing > 0 || (this.thread?.busy ?? false);
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
          const r = this.calc.refreshed(
            row.profileId,
            loaded,
            comparable(row.snapshots, loaded.snapshots) ? changedBetween(row.snapshots) : undefined,
          );
          if (r === 'carry') {
            this.cache.carry(row.profileId, v.id, loaded.snapshots);
            this.stats.carried++;
            stats.carried++;
          } else {
            this.store(row.profileId, v.id, loaded, r);
            stats.recomputed++;
          }
        });
      }
    }
    return steps;
  }
}
