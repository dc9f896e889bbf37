// buildApp(deps): one fastify instance with the proxy routes (later: /RPC2, admin); it
// never listens, so tests can inject() or listen on port 0 themselves.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { Db } from './state/db.js';
import { ProxyRuntime } from './proxy/runtime.js';
import { registerProxyRoutes, rewriteAbsoluteForm } from './proxy/routes.js';
import type { Dispatcher } from 'undici';
import { OutdatedService } from './fleet/outdated.js';
import { ViewLoader } from './fleet/views.js';
import { OutdatedCacheStore } from './state/outdated-cache.js';
import { ProfileStore } from './state/profiles.js';
import { MethodTable } from './rpc/methods.js';
import { registerRpcRoutes } from './rpc/routes.js';
import { VERSION } from './version.js';

export interface AppDeps {
  config: Config;
  db: Db;
  dbFile: string;
  /** pino options or false; default: the configured level to stdout */
  logger?: boolean | object;
  dispatcher?: Dispatcher;
}

export interface App {
  app: FastifyInstance;
  proxy: ProxyRuntime;
  outdated: OutdatedService;
  profiles: ProfileStore;
}

function outdatedViews(config: Config, proxy: ProxyRuntime): ViewLoader {
  const siteOf = (backend: string) => {
    const b = config.backends.get(backend);
    return b ? new URL(b.mirrors[0]!).hostname : '';
  };
  return new ViewLoader(proxy.snapshots, proxy.packageIndex, siteOf);
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = Fastify({
    logger: deps.logger ?? { level: deps.config.logLevel },
    // one access line per request is written by the proxy itself
    logController: new LogController({ disableRequestLogging: true }),
    rewriteUrl: (req) => rewriteAbsoluteForm(req.url ?? '/'),
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 4096 },
    keepAliveTimeout: 65_000,
    trustProxy: false,
  });
  const proxy = new ProxyRuntime({ config: deps.config, db: deps.db, dbFile: deps.dbFile, log: app.log, ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}) });
  await proxy.start();
  registerProxyRoutes(app, proxy);
  // agents' XML-RPC endpoint; reports of a few thousand packages stay far below the limit
  registerRpcRoutes(app, new MethodTable(VERSION), { bodyLimit: 8 * 1024 * 1024 });
  const profiles = new ProfileStore(deps.db);
  const outdated = new OutdatedService(profiles, outdatedViews(deps.config, proxy), new OutdatedCacheStore(deps.db), proxy.packageIndex);
  // a new snapshot's Packages linked: bring cached outdated answers of that suite up to date
  // (once per suite per turn of the event loop, however many indexes were linked)
  const pending = new Set<string>();
  let closing = false;
  proxy.indexer.onLinked((snapshotId) => {
    if (closing) return;
    const snap = proxy.snapshots.byId(snapshotId);
    if (!snap) return;
    const key = `${snap.backend}\0${snap.suite}`;
    if (pending.has(key)) return;
    pending.add(key);
    setImmediate(() => {
      pending.delete(key);
      if (closing) return;
      outdated.refreshInSlices(snap.backend, snap.suite).then(
        (stats) => { if (stats.recomputed || stats.carried) app.log.info({ backend: snap.backend, suite: snap.suite, ...stats }, 'outdated refreshed'); },
        (err: Error) => { app.log.error({ backend: snap.backend, suite: snap.suite, err: err.message }, 'outdated refresh failed'); },
      );
    });
  });
  app.addHook('onClose', async () => {
    closing = true;
    await proxy.close();
    await outdated.idle();
  });
  return { app, proxy, outdated, profiles };
}
