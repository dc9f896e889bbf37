// The server's own refresh of tracked suites, so snapshots and the package index stay
// current without client traffic: revalidate each root, then fetch and index the tracked
// Packages files the new snapshot names.
import type { BackendConfig, Config } from '../config.js';
import type { Logger } from '../log.js';
import { byHashRel } from '../index/release.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotStore } from '../state/snapshots.js';
import { contentType } from './paths.js';
import type { ProxyService } from './service.js';
import type { ServedSnapshot, Suites } from './suites.js';

export interface RefreshDeps {
  config: Config;
  suites: Suites;
  service: ProxyService;
  snapshots: SnapshotStore;
  packageIndex: PackageIndexStore;
  log: Logger;
  /** a backend by name, configured or made on demand (a site's stages); default: the configured ones */
  backendNamed?: (name: string) => BackendConfig | undefined;
}

const PREFERENCE = ['.xz', '.gz', ''];

export class Refresher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: RefreshDeps) {}

  private backend(name: string): BackendConfig | undefined {
    return this.deps.backendNamed ? this.deps.backendNamed(name) : this.deps.config.backends.get(name);
  }

  start(): void {
    const every = this.deps.config.proxy.refreshIntervalMs;
    if (every > 0) {
      this.timer = setInterval(() => {
        void this.refreshAll();
      }, every);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Targets to keep current: what clients used plus what the configuration lists. */
  targets(): Map<string, Array<{ component: string; architecture: string }>> {
    const out = new Map<string, Array<{ component: string; architecture: string }>>();
    const add = (backend: string, suite: string, component: string, architecture: string) => {
      const k = `${backend}\0${suite}`;
      const list = out.get(k) ?? [];
      if (!list.some((t) => t.component === component && t.architecture === architecture))
        list.push({ component, architecture });
      out.set(k, list);
    };
    for (const t of this.deps.snapshots.tracked()) add(t.backend, t.suite, t.component, t.architecture);
    for (const b of this.deps.config.backends.values()) {
      for (const suite of b.trackSuites)
        for (const c of b.trackComponents) for (const a of b.trackArchitectures) add(b.name, suite, c, a);
    }
    return out;
  }

  /** One pass over every tracked suite; concurrent calls share the pass. */
  refreshAll(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    for (const [k, targets] of this.targets()) {
      const [backendName, suite] = k.split('\0') as [string, string];
      const backend = this.backend(backendName);
      if (!backend) continue;
      try {
        const served =
          (await this.deps.suites.root(backend, suite, 'inrelease', { revalidate: true, force: true })) ??
          (await this.deps.suites.root(backend, suite, 'release', { revalidate: true, force: true }));
        if (served) await this.ensureIndexes(served, targets);
      } catch (err) {
        this.deps.log.warn({ backend: backendName, suite, err: (err as Error).message }, 'refresh failed');
      }
    }
  }

  /** Fetches (if needed) and indexes the tracked Packages files a served snapshot names. */
  async ensureIndexes(
    served: ServedSnapshot,
    targets?: Array<{ component: string; architecture: string }>,
  ): Promise<void> {
    const { backend: backendName, suite } = served.snapshot;
    const backend = this.backend(backendName);
    if (!backend) return;
    const list = targets ?? this.targets().get(`${backendName}\0${suite}`) ?? [];
    for (const { component, architecture } of list) {
      const base = `${component}/binary-${architecture}/Packages`;
      // the uncompressed name is listed by Debian but usually not published: it comes last
      const rel = PREFERENCE.map((ext) => base + ext).find((r) => served.release.files.has(r));
      if (!rel) continue;
      const file = served.release.files.get(rel)!;
      const byHashPath = `dists/${suite}/${byHashRel(rel, file.sha256)}`;
      const key = `${backendName}/${byHashPath}`;
      const known = this.deps.packageIndex.byAlias(backendName, file.sha256);
      if (known === undefined) {
        const stored = await this.deps.service
          .ensureStored({
            backend,
            key,
            sources: served.release.acquireByHash ? [byHashPath, `dists/${suite}/${rel}`] : [`dists/${suite}/${rel}`],
            expect: { size: file.size, sha256: file.sha256 },
            contentType: contentType(rel),
          })
          .catch((err: Error) => {
            this.deps.log.warn(
              { backend: backendName, suite, rel, err: err.message },
              'could not fetch a tracked index',
            );
            return false;
          });
        if (!stored) continue;
      }
      await this.deps.service.indexStored(served, rel, file, key);
    }
  }
}
