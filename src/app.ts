// buildApp(deps): one fastify instance with the proxy routes (later: /RPC2, admin); it
// never listens, so tests can inject() or listen on port 0 themselves.
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { Db } from './state/db.js';
import { ProxyRuntime } from './proxy/runtime.js';
import { registerProxyRoutes, rewriteAbsoluteForm } from './proxy/routes.js';
import type { Dispatcher } from 'undici';

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
  app.addHook('onClose', async () => { await proxy.close(); });
  return { app, proxy };
}
