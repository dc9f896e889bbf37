// Learning a pool file's size and hash before it is filled, so nothing reaches the cache
// unverified: when no parsed index names the file yet, the Packages of the backend's current
// suites that could name it (its component, its architecture) are fetched and ingested first.
// Requests arriving meanwhile share that work; a Packages that could not be fetched or ingested
// is not tried again by pool requests for proxy.mirror_retry (each would otherwise fetch or parse
// it again, and wait for it, before passing its file through unverified).
// At start, an ingest a stopped server left unfinished (an index row still `pending:`) is
// dropped and redone from the stored Packages file.
import type { BackendConfig, Config } from '../config.js';
import { byHashRel, packagesTarget } from '../index/release.js';
import type { Logger } from '../log.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotStore } from '../state/snapshots.js';
import type { Indexer } from './indexer.js';
import type { CacheStore } from './store.js';
import type { ServedSnapshot, Suites } from './suites.js';

export interface PoolIndexDeps {
  config: Config;
  suites: Suites;
  snapshots: SnapshotStore;
  packageIndex: PackageIndexStore;
  store: CacheStore;
  indexer: Indexer;
  log: Logger;
  /** fetches (when needed) and ingests the named Packages targets of a served snapshot */
  ensureIndexes: (served: ServedSnapshot, targets: Array<{ component: string; architecture: string }>) => Promise<void>;
  /** ingests a stored Packages file of a served snapshot */
  indexStored: (
    served: ServedSnapshot,
    rel: string,
    file: { path: string; size: number; sha256: string },
    key: string,
  ) => Promise<unknown>;
}

interface Wanted {
  /** pool path segments after `pool/` */
  segments: string[];
  architecture: string;
}

/** The component segments and architecture a binary package's pool path implies. */
export function poolTarget(path: string): Wanted | undefined {
  const m = /^pool\/(.+)\/[^/]+_([a-z0-9-]+)\.(?:u|d)?deb$/.exec(path);
  return m ? { segments: m[1]!.split('/'), architecture: m[2]! } : undefined;
}

/** Failed targets remembered at most (expired ones go first). */
const MAX_FAILED = 4096;

type Target = { component: string; architecture: string };

export class PoolIndex {
  /** snapshot/component/architecture → the learning of it in progress */
  private readonly running = new Map<string, Promise<void>>();
  /** snapshot/component/architecture → until when pool requests do not try it again */
  private readonly failed = new Map<string, number>();

  constructor(private readonly deps: PoolIndexDeps) {}

  /** Fetches and ingests every not yet indexed Packages of the backend that could name `path`. */
  async learn(backend: BackendConfig, path: string): Promise<void> {
    const want = poolTarget(path);
    if (!want) return;
    const work: Array<Promise<void>> = [];
    const now = Date.now();
    for (const served of await this.servedSnapshots(backend)) {
      const missing: Array<{ t: Target; key: string }> = [];
      for (const t of this.targetsFor(served, backend, want)) {
        if (this.deps.packageIndex.isLinked(served.snapshot.id, t.component, t.architecture)) continue;
        const key = `${served.snapshot.id}\0${t.component}\0${t.architecture}`;
        const running = this.running.get(key);
        if (running) work.push(running);
        else if ((this.failed.get(key) ?? 0) <= now) missing.push({ t, key });
      }
      if (missing.length === 0) continue;
      // clients use it: keep it current from now on
      for (const { t } of missing)
        this.deps.snapshots.track(backend.name, served.snapshot.suite, t.component, t.architecture);
      const p = this.deps
        .ensureIndexes(
          served,
          missing.map((m) => m.t),
        )
        .catch(() => undefined)
        .then(() => {
          for (const { t, key } of missing) {
            this.running.delete(key);
            if (this.deps.packageIndex.isLinked(served.snapshot.id, t.component, t.architecture))
              this.failed.delete(key);
            else this.fail(key);
          }
        });
      for (const { key } of missing) this.running.set(key, p);
      work.push(p);
    }
    await Promise.all(work);
  }

  private fail(key: string): void {
    const now = Date.now();
    if (this.failed.size >= MAX_FAILED) {
      for (const [k, until] of this.failed) if (until <= now) this.failed.delete(k);
      // still full: the oldest entries go
      for (const k of this.failed.keys()) {
        if (this.failed.size < MAX_FAILED) break;
        this.failed.delete(k);
      }
    }
    this.failed.set(key, now + this.deps.config.proxy.mirrorRetryMs);
  }

  /** The backend's served snapshots (configured track_suites when none is known yet). */
  private async servedSnapshots(backend: BackendConfig): Promise<ServedSnapshot[]> {
    const suites = new Set(
      this.deps.snapshots
        .currentAll()
        .filter((r) => r.backend === backend.name)
        .map((r) => r.suite),
    );
    if (suites.size === 0) for (const s of backend.trackSuites) suites.add(s);
    const out: ServedSnapshot[] = [];
    for (const suite of suites) {
      const served = await this.deps.suites.forIndex(backend, suite, '').catch(() => undefined);
      if (served) out.push(served);
    }
    return out;
  }

  /**
   * Packages targets of a served snapshot that could list the file: same component, same architecture
   * (`all`: the tracked ones).
   */
  private targetsFor(served: ServedSnapshot, backend: BackendConfig, want: Wanted): Target[] {
    const found = new Map<string, { component: string; architecture: string }>();
    for (const rel of served.release.files.keys()) {
      const t = packagesTarget(rel);
      if (!t || t.compression === 'other') continue;
      // `main` for pool/main/..., `updates/main` for pool/updates/main/...
      if (!want.segments.slice(0, 2).includes(t.component.split('/').pop()!)) continue;
      if (want.architecture !== 'all' && t.architecture !== want.architecture) continue;
      found.set(`${t.component}\0${t.architecture}`, { component: t.component, architecture: t.architecture });
    }
    const all = [...found.values()];
    if (want.architecture !== 'all') return all;
    const tracked = new Set([
      ...backend.trackArchitectures,
      ...this.deps.snapshots
        .tracked()
        .filter((t) => t.backend === backend.name && t.suite === served.snapshot.suite)
        .map((t) => t.architecture),
    ]);
    const preferred = all.filter((t) => tracked.has(t.architecture));
    return preferred.length ? preferred : all.slice(0, 1);
  }

  /**
   * Drops unfinished index contents and ingests again every stored, not yet linked Packages of the current snapshots.
   */
  async resume(): Promise<void> {
    const { snapshots, packageIndex, store, config, log } = this.deps;
    // the worker (and its deletes) only when there is something to drop
    const dropped = packageIndex.hasUnfinished() ? await this.deps.indexer.dropUnfinished() : 0;
    if (dropped > 0)
      log.warn({ dropped }, 'package index contents left unfinished by a stopped server: ingesting them again');
    for (const row of snapshots.currentAll()) {
      const backend = config.backends.get(row.backend);
      if (!backend) continue;
      const served = await this.deps.suites
        .root(backend, row.suite, row.kind, { revalidate: false })
        .catch(() => undefined);
      if (!served || served.snapshot.id !== row.id) continue;
      for (const [rel, file] of served.release.files) {
        const t = packagesTarget(rel);
        if (!t || t.compression === 'other' || packageIndex.isLinked(row.id, t.component, t.architecture)) continue;
        const key = `${row.backend}/dists/${row.suite}/${byHashRel(rel, file.sha256)}`;
        if (!(await store.stat(key))) continue;
        await this.deps.indexStored(served, rel, file, key);
      }
    }
  }
}
