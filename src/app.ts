// buildApp(deps): the fastify edge over the assembled server (assembly/server.ts): the proxy
// routes, /RPC2 for the agents, /stage/ for the release gate, /api/v1 for administrators and
// /console/ for the web console — the last two on a listener of their own when `admin.listen` is
// set (the management network), else beside apt's. It never listens, so tests can inject() or
// listen on port 0 themselves.
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Dispatcher } from 'undici';
import { apiRoutes } from './api/routes.js';
import { assembleServer, type ServerServices } from './assembly/server.js';
import type { Config } from './config.js';
import { consoleDir, consoleRoutes } from './console/routes.js';
import type { Fleet } from './fleet/fleet.js';
import type { OutdatedService } from './fleet/outdated.js';
import type { GateService } from './gate/service.js';
import { ClientFilter, registerAdmission } from './proxy/admission.js';
import { registerProxyRoutes, rewriteAbsoluteForm } from './proxy/routes.js';
import type { ProxyRuntime } from './proxy/runtime.js';
import { registerStageRoutes } from './proxy/stage-routes.js';
import { registerAgentMethods } from './rpc/agent-methods.js';
import { agentExposures, sitePreload } from './assembly/queries.js';
import { MethodTable } from './rpc/methods.js';
import { registerRpcRelay } from './rpc/relay.js';
import { registerRpcRoutes } from './rpc/routes.js';
import { registerSiteMethods } from './rpc/site-methods.js';
import type { Db } from './state/db.js';
import type { ProfileStore } from './state/profiles.js';
import { VERSION } from './version.js';

export interface AppDeps {
  config: Config;
  db: Db;
  dbFile: string;
  /** pino options or false; default: the configured level to stdout */
  logger?: boolean | object;
  dispatcher?: Dispatcher;
  /** the clock of the fleet (jobs, leases, schedules, signatures); tests move it */
  now?: () => number;
}

export interface App {
  app: FastifyInstance;
  proxy: ProxyRuntime;
  outdated: OutdatedService;
  profiles: ProfileStore;
  fleet: Fleet;
  gate: GateService;
  /** server.allow, for other listeners (server.metrics_listen) */
  allow: ClientFilter;
  services: ServerServices;
  /** the API's and the console's own listener (admin.listen); undefined when they share apt's */
  admin?: FastifyInstance;
}

/** A fastify instance of the edge: TLS as configured, JSON schemas that refuse unknown fields. */
function edge(config: Config, logger: AppDeps['logger'] | { loggerInstance: unknown }, rewrite: boolean) {
  return Fastify({
    ...(logger && typeof logger === 'object' && 'loggerInstance' in logger
      ? logger
      : { logger: logger ?? { level: config.logLevel } }),
    // one access line per request is written by the proxy itself
    logController: new LogController({ disableRequestLogging: true }),
    ...(rewrite ? { rewriteUrl: (req: { url?: string }) => rewriteAbsoluteForm(req.url ?? '/') } : {}),
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 4096 },
    keepAliveTimeout: 65_000,
    trustProxy: false,
    // the API's schemas: a field the schema does not name is an error, not silently dropped
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: false, allErrors: false } },
    ...(config.tls.cert ? { https: { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } } : {}),
  } as never) as unknown as FastifyInstance;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const app = edge(deps.config, deps.logger, true);
  // missing console files stop the start before any service runs
  const consoleFiles = deps.config.admin.console ? consoleDir() : undefined;
  const services = assembleServer(deps.config, {
    db: deps.db,
    dbFile: deps.dbFile,
    log: app.log,
    ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const { proxy, fleet, gate, outdated } = services;
  await services.start();
  // server.allow before any route: refused clients reach no handler and send no body we read
  const allow = new ClientFilter(deps.config.allow);
  registerAdmission(app, allow, () => proxy.metrics.requests.inc({ result: 'refused' }));
  registerProxyRoutes(app, proxy, allow);
  if (deps.config.site.parent) {
    // a site cache: agents that reach only the site call the central server through it (issue 18)
    registerRpcRelay(app, { parent: deps.config.site.parent, bodyTimeoutMs: deps.config.rpcBodyTimeoutMs });
  } else {
    // agents' XML-RPC endpoint (limits in protocol/limits.ts); answers to signed calls are signed
    const methods = new MethodTable(VERSION);
    registerAgentMethods(methods, fleet, { exposuresOf: agentExposures(services) });
    registerSiteMethods(methods, services.sites, { preloadFor: sitePreload(services) });
    registerRpcRoutes(app, methods, {
      bodyTimeoutMs: deps.config.rpcBodyTimeoutMs,
      authenticate: (h, body, client) => fleet.auth.authenticate(h, body, client),
      secretOf: (id) => fleet.auth.secretOf(id),
      waitingSecretOf: (id) => fleet.auth.waitingSecretOf(id),
      authenticateSite: (h, body) => services.sites.authenticate(h, body),
      siteSecretOf: (id) => services.sites.secretOf(id),
    });
    // the public key that signs the stages, for a site joining (aptgate site join checks its fingerprint)
    app.get('/key', async (request, reply) => {
      const armor = Object.hasOwn(request.query as object, 'armor');
      const k = await gate.exportKey(!armor);
      return reply
        .header('x-aptgate-fingerprint', k.fingerprint)
        .type(armor ? 'text/plain; charset=utf-8' : 'application/pgp-keys')
        .send(k.data);
    });
  }
  registerStageRoutes(app, proxy, gate);
  // the API and the console's files (whose data comes from the API): on admin.listen when set
  const tls = Boolean(deps.config.tls.cert);
  const admin = deps.config.admin.listen ? edge(deps.config, { loggerInstance: app.log }, false) : undefined;
  if (admin) registerAdmission(admin, allow, () => proxy.metrics.requests.inc({ result: 'refused' }));
  const adminEdge = admin ?? app;
  await apiRoutes(adminEdge, { services, tls });
  // on apt's listener GET / stays apt's page; on the console's own, it leads to the console
  if (consoleFiles) await consoleRoutes(adminEdge, { tls, dir: consoleFiles, redirectRoot: admin !== undefined });
  app.addHook('onClose', async () => {
    if (admin) await admin.close();
    await services.stop();
  });
  return {
    app,
    proxy,
    outdated,
    profiles: services.state.profiles,
    fleet,
    gate,
    allow,
    services,
    ...(admin ? { admin } : {}),
  };
}
