// The server's graph: the services (services.ts) with the proxy over the same state stores,
// and the lifecycle of what runs on its own: database checkpoints off the main thread, the
// proxy's timers, the schedule tick and the new-snapshot fan-out (background.ts).
import type { Dispatcher } from 'undici';
import { poolFetcher } from '../advisories/pool-fetch.js';
import type { Config } from '../config.js';
import { siteBackends } from '../config-site.js';
import type { Logger } from '../log.js';
import { ProxyRuntime } from '../proxy/runtime.js';
import { TrafficSampler } from '../proxy/traffic.js';
import { Checkpointer } from '../state/checkpointer.js';
import type { Db } from '../state/db.js';
import { ProxyHistoryStore } from '../state/proxy-history.js';
import { warmExposures } from '../fleet/queries/exposures.js';
import { startBackground } from './background.js';
import { startSiteReports } from './site-report.js';
import { Preloader, type PreloadProgress } from '../proxy/preload.js';
import { resolveTarget } from '../proxy/target.js';
import { queryContext } from './queries.js';
import { assemble, type Services } from './services.js';

export interface ServerOptions {
  db: Db;
  dbFile: string;
  log: Logger;
  /** an undici dispatcher for upstream (tests inject faults with MockAgent) */
  dispatcher?: Dispatcher;
  /** the clock of the fleet and the gate; tests move it */
  now?: () => number;
}

export interface ServerServices extends Services {
  proxy: ProxyRuntime;
  /** the proxy's counters into the traffic history (background.ts samples every 5 minutes; tests call it) */
  traffic: TrafficSampler;
  /** Checkpoints, the proxy (its cache, indexes, timers) and the background turns. */
  start(): Promise<void>;
  /** Ends what start() began, then the services'. */
  stop(): Promise<void>;
  /** a site cache: its report now, then the parent's pre-load list (the timer does it every [site] report_interval) */
  reportToParent(): Promise<void>;
  /** a site cache's pre-loading (undefined elsewhere, and before start) */
  preloader(): Preloader | undefined;
}

export function assembleServer(configured: Config, o: ServerOptions): ServerServices {
  const { db, dbFile, log } = o;
  // a site cache ([site] parent): every backend through the parent, once, for every service
  const config = siteBackends(configured);
  const services = assemble(config, { db, dbFile, mode: 'server', log, ...(o.now ? { now: o.now } : {}) });
  const proxy = new ProxyRuntime({
    config,
    db,
    dbFile,
    log,
    state: services.state,
    ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
  });
  // pending updates' changelogs: from .debs fetched through the proxy, cached ones only, or none
  if (config.advisories.changelogs !== 'off')
    services.changelogRefs.attach(poolFetcher(proxy, config.advisories.changelogs === 'cached'));
  // a stage's files are written only once the Packages being indexed are in: a stage read just
  // after an apt update would otherwise publish without them until the next read
  services.gate.waitForIndexing(() => proxy.indexer.idle());
  const traffic = new TrafficSampler(proxy.metrics, new ProxyHistoryStore(db), services.now);
  let checkpointer: Checkpointer | undefined;
  let stopBackground: (() => void) | undefined;
  let siteReports: ReturnType<typeof startSiteReports>;
  let preloader: Preloader | undefined;
  return {
    ...services,
    proxy,
    traffic,
    reportToParent: () => siteReports?.reportNow() ?? Promise.resolve(),
    preloader: () => preloader,
    start: async () => {
      checkpointer = Checkpointer.start(db, dbFile, (message) => log.warn({ err: message }, 'database checkpoints'));
      await proxy.start();
      const ctx = queryContext(services);
      stopBackground = startBackground({
        ...services,
        proxy,
        traffic,
        log,
        tickMs: config.fleet.scheduleTickMs,
        warmExposures: () => warmExposures(ctx),
      });
      // a site cache reports to its parent and pre-loads what its machines will install (issue 18)
      const stages = proxy.siteStages;
      preloader = config.site.parent
        ? Preloader.forRuntime(proxy, {
            log,
            // the parent's stage views resolve to the site's backends of them
            resolve: (p) => (stages && p.startsWith('/stage/') ? stages.target(p) : resolveTarget(p, proxy.backends)),
          })
        : undefined;
      if (preloader) proxy.preloadProgress = () => preloader!.progress();
      siteReports = startSiteReports(
        config,
        {
          metrics: proxy.metrics,
          health: () => {
            const h = proxy.health() as {
              status: string;
              reason?: unknown;
              backends?: Array<{ name: string; status: string }>;
            };
            const down = (h.backends ?? []).filter((b) => b.status !== 'ok').map((b) => b.name);
            return {
              status: h.status,
              reason: h.reason ?? (down.length ? `degraded backends: ${down.join(', ')}` : ''),
            };
          },
          ...(preloader ? { preloader, preload: () => preloadOf(preloader!.progress()) } : {}),
        },
        log,
      );
    },
    stop: async () => {
      stopBackground?.();
      await siteReports?.stop();
      await preloader?.stop();
      const reading = services.changelogRefs.close();
      await proxy.close();
      await reading;
      await services.stop();
      await checkpointer?.stop();
    },
  };
}

/** The pre-load's progress as a site report carries it. */
function preloadOf(p: PreloadProgress): {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
} {
  return { filesDone: p.files_done, filesTotal: p.files_total, bytesDone: p.bytes_done, bytesTotal: p.bytes_total };
}
