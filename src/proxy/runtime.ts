// Assembles the proxy's parts around one configuration and database.
import type { Dispatcher } from 'undici';
import type { BackendConfig, Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Db } from '../state/db.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotStore } from '../state/snapshots.js';
import type { StageStore } from '../state/stages.js';
import type { UsageStore } from '../state/usage.js';
import { ClientStore } from '../state/clients.js';
import { CLIENT_FLUSH_MS, ClientTracker } from './clients.js';
import { FillRegistry } from './fill.js';
import { cleanCache, type HousekeepingDeps } from './housekeeping.js';
import { Indexer } from './indexer.js';
import { LoopDelay } from './loop-delay.js';
import { MemoryCache } from './memcache.js';
import { PoolIndex } from './pool-index.js';
import { Metrics, proxyMetrics, type ProxyMetrics } from './metrics.js';
import { Refresher } from './refresh.js';
import { transferStats, trimMemory } from './sendfile.js';
import { ProxyService } from './service.js';
import { SiteParent } from './site-parent.js';
import { SiteStages } from './site-stages.js';
import type { CacheStore } from './store.js';
import { Suites } from './suites.js';
import { BackendMap } from './target.js';
import { Upstream } from './upstream.js';

export interface ProxyOptions {
  config: Config;
  db: Db;
  /** the database file, for the indexer's worker connection */
  dbFile: string;
  log: Logger;
  /** an undici dispatcher for upstream (tests inject faults with MockAgent) */
  dispatcher?: Dispatcher;
  /** the state stores, shared with the fleet and the gate (assembly/services.ts) */
  state: Omit<HousekeepingDeps, 'config'>;
}

export class ProxyRuntime {
  readonly config: Config;
  readonly registry = new Metrics();
  readonly metrics: ProxyMetrics;
  readonly store: CacheStore;
  readonly upstream: Upstream;
  readonly backends: BackendMap;
  readonly snapshots: SnapshotStore;
  readonly packageIndex: PackageIndexStore;
  readonly usage: UsageStore;
  readonly stages: StageStore;
  readonly suites: Suites;
  readonly fills: FillRegistry;
  readonly indexer: Indexer;
  readonly service: ProxyService;
  readonly refresher: Refresher;
  readonly memory: MemoryCache;
  readonly poolIndex: PoolIndex;
  /** a site cache ([site] parent): its parent's state, and its parent's stages at /stage/ */
  readonly siteParent: SiteParent | undefined;
  readonly siteStages: SiteStages | undefined;
  /** per-client counts (aptgate clients), written in batches */
  readonly clients: ClientTracker;
  /** settles once the start-up redo of unfinished index ingests is done */
  resumed: Promise<void> = Promise.resolve();
  readonly loopDelay = new LoopDelay();
  private readonly log: Logger;
  private timers: NodeJS.Timeout[] = [];
  private readonly busyProbes = new Map<string, () => boolean>([['indexer', () => this.indexer.busy]]);
  /** settles when the start-up walk has measured the cache directory (aptgate_cache_bytes is right from then on) */
  cacheMeasured: Promise<void> = Promise.resolve();

  constructor(opts: ProxyOptions) {
    const { config, db, log } = opts;
    this.config = config;
    this.log = log;
    this.metrics = proxyMetrics(this.registry);
    this.store = opts.state.store;
    this.memory = new MemoryCache(config.proxy.memoryCacheBytes);
    this.upstream = new Upstream(config, this.metrics, log, opts.dispatcher);
    this.backends = new BackendMap(config);
    this.snapshots = opts.state.snapshots;
    this.packageIndex = opts.state.packageIndex;
    this.usage = opts.state.usage;
    this.stages = opts.state.stages;
    this.clients = new ClientTracker(new ClientStore(db), log);
    this.fills = new FillRegistry({ config, store: this.store, upstream: this.upstream, metrics: this.metrics, log });
    this.indexer = new Indexer(opts.dbFile, this.packageIndex, this.metrics, log);
    this.suites = new Suites({
      config,
      store: this.store,
      upstream: this.upstream,
      snapshots: this.snapshots,
      metrics: this.metrics,
      log,
      onSnapshot: (served) => {
        void this.refresher.ensureIndexes(served);
      },
    });
    this.service = new ProxyService({
      config,
      store: this.store,
      upstream: this.upstream,
      suites: this.suites,
      fills: this.fills,
      indexer: this.indexer,
      packageIndex: this.packageIndex,
      snapshots: this.snapshots,
      usage: this.usage,
      metrics: this.metrics,
      memory: this.memory,
      log,
      learnPoolFile: (backend, path) => this.poolIndex.learn(backend, path),
    });
    this.refresher = new Refresher({
      config,
      suites: this.suites,
      service: this.service,
      snapshots: this.snapshots,
      packageIndex: this.packageIndex,
      log,
      backendNamed: (name) => this.backends.named(name),
    });
    this.poolIndex = new PoolIndex({
      config,
      suites: this.suites,
      snapshots: this.snapshots,
      packageIndex: this.packageIndex,
      store: this.store,
      indexer: this.indexer,
      log,
      ensureIndexes: (served, targets) => this.refresher.ensureIndexes(served, targets),
      indexStored: (served, rel, file, key) => this.service.indexStored(served, rel, file, key),
    });
    const parent = config.site.parent;
    this.siteParent = parent ? new SiteParent(parent) : undefined;
    this.siteStages = parent
      ? new SiteStages({ backends: this.backends, service: this.service, parent, parentKey: config.site.parentKey })
      : undefined;
    if (this.siteParent) {
      const site = this.siteParent;
      this.upstream.watch((e) => site.record(e));
    }
    this.registry.onCollect(() => {
      // absent, not 0, until the start-up walk is done
      if (this.store.size.known) {
        this.metrics.cacheBytes.set({}, this.store.size.bytes);
        this.metrics.cacheFiles.set({}, this.store.size.files);
      }
      this.metrics.zeroCopyBytes.set({}, transferStats.zeroCopyBytes);
      this.metrics.copiedBytes.set({}, transferStats.copiedBytes);
      this.metrics.slowClientWaits.set({}, transferStats.slowClientWaits);
      this.metrics.loopDelayWindow.set({}, this.loopDelay.windowStart / 1000);
      for (const [task, busy] of this.busyProbes) this.metrics.backgroundBusy.set({ task }, busy() ? 1 : 0);
    });
    this.registry.summary(
      'aptgate_event_loop_delay_seconds',
      "How long a request would have waited for the event loop (a 10 ms timer's lateness, a hold counted for every 10 ms it lasted), since the server started or SIGUSR2",
      () => this.loopDelay.summary(),
    );
  }

  /** Background work shown in aptgate_background_busy (view loads, outdated refreshes). */
  addBusyProbe(task: string, busy: () => boolean): void {
    this.busyProbes.set(task, busy);
  }

  async start(): Promise<void> {
    await this.store.init();
    this.resumed = this.poolIndex.resume().catch((err: Error) => {
      this.log.warn({ err: err.message }, 'could not resume unfinished index ingests');
    });
    this.refresher.start();
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(30_000, () => this.service.flushUsage());
    every(CLIENT_FLUSH_MS, () => this.clients.flush());
    every(5_000, () => {
      if (this.fills.finished > 0) {
        this.fills.finished = 0;
        trimMemory();
      }
    });
    // the server's own changes keep the size current; the walk again now and then sees what
    // other processes changed (aptgate cache clean, cache verify --fix)
    every(5 * 60_000, () => {
      void this.measureCache();
    });
    if (this.config.cache.maxBytes > 0)
      every(this.config.cache.cleanIntervalMs, () => {
        void this.clean();
      });
    const started = Date.now();
    this.cacheMeasured = this.measureCache().then(() => {
      this.log.info(
        { files: this.store.size.files, bytes: this.store.size.bytes, ms: Date.now() - started },
        'cache measured',
      );
    });
  }

  /** Walks the cache directory for the size gauges (off the request path, one directory at a time). */
  async measureCache(): Promise<void> {
    try {
      await this.store.size.measure();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not measure the cache directory');
    }
  }

  async clean(): Promise<void> {
    try {
      this.service.flushUsage();
      const r = await cleanCache(this.housekeeping(), { dryRun: false });
      if (r.removed.length) this.log.info({ files: r.removed.length, bytes: r.freedBytes }, 'cache cleaned');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cache clean failed');
    }
  }

  housekeeping() {
    return {
      config: this.config,
      store: this.store,
      snapshots: this.snapshots,
      packageIndex: this.packageIndex,
      usage: this.usage,
      stages: this.stages,
    };
  }

  /**
   * Whether each backend's mirrors answer, in the background: every mirror at start (a warning
   * names each one that does not), then the unreachable ones, once their time aside is over,
   * every proxy.mirror_retry (at least 10 s) until they answer (logged then; a failed re-check
   * only at debug level). The state is the one requests keep (upstream.ts), shown in /-/health.
   */
  checkMirrors(): Promise<void> {
    const t = setInterval(
      () => {
        void this.recheckMirrors();
      },
      Math.max(10_000, this.config.proxy.mirrorRetryMs),
    );
    t.unref();
    this.timers.push(t);
    return this.probeMirrors(true);
  }

  /** One round of the re-check: the mirrors that did not answer, once their time aside is over. */
  recheckMirrors(): Promise<void> {
    return this.probeMirrors(false);
  }

  private async probeMirrors(all: boolean): Promise<void> {
    await Promise.all(
      [...this.config.backends.values()].map(async (b) => {
        const asked = b.mirrors.filter((m) => all || this.upstream.due(m));
        const results = await Promise.all(asked.map(async (m) => ({ mirror: m, r: await this.upstream.probe(b, m) })));
        for (const { mirror, r } of results) {
          if (r && !r.ok) {
            this.log[all ? 'warn' : 'debug'](
              { backend: b.name, mirror, cause: r.cause, err: r.error },
              `backend ${b.name}: mirror ${mirror} is unreachable (${r.error.includes(r.cause) ? r.error : `${r.cause}: ${r.error}`}); check backend.${b.name}.mirrors and this host's DNS, network and proxy settings`,
            );
          }
        }
        if (all && results.length > 0 && results.every(({ r }) => r && !r.ok)) {
          this.log.warn(
            { backend: b.name },
            `backend ${b.name} has no usable mirror: apt gets 502 for whatever is not cached (see /-/health)`,
          );
        }
      }),
    );
  }

  /** a site's pre-loading progress, shown in its health (set where the Preloader is made) */
  preloadProgress: (() => object) | undefined;

  health() {
    const stateOf = (b: BackendConfig) => {
      const mirrorStates = this.upstream.mirrorHealth(b);
      // degraded: every mirror failed its last request (unknown ones may still answer)
      return {
        name: b.name,
        mirrors: b.mirrors,
        status: mirrorStates.every((m) => m.state === 'failing') ? 'degraded' : 'ok',
        mirrorStates,
      };
    };
    const backends = [...this.config.backends.values()].map(stateOf);
    // a site: degraded while its parent does not answer (what it holds is still served); the
    // parent's stages it serves, as backends of their own
    const site = this.siteParent
      ? {
          ...this.siteParent.health(),
          stages: this.backends.adopted().map(stateOf),
          ...(this.preloadProgress ? { preload: this.preloadProgress() } : {}),
        }
      : undefined;
    const degraded = [...backends, ...(site?.stages ?? [])].some((b) => b.status === 'degraded');
    return {
      status: degraded || site?.reachable === false ? 'degraded' : 'ok',
      ...(site ? { site } : {}),
      backends,
      mirrors: this.upstream.health(),
      fillsInFlight: this.fills.size,
      indexerBusy: this.indexer.busy,
      // measured: false until the start-up walk is done (then aptgate_cache_bytes appears)
      cache: { measured: this.store.size.known, files: this.store.size.files, bytes: this.store.size.bytes },
    };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.loopDelay.close();
    this.refresher.stop();
    // give running fills a moment to finish; a partial one is discarded at the next start
    await Promise.race([this.fills.drain(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await this.resumed;
    await this.indexer.close();
    this.service.flushUsage();
    this.clients.flush();
    await this.upstream.close();
  }
}
