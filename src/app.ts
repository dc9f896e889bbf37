// buildApp(deps): one fastify instance with the proxy routes (later: /RPC2, admin); it
// never listens, so tests can inject() or listen on port 0 themselves.
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import type { Db } from './state/db.js';
import { ProxyRuntime } from './proxy/runtime.js';
import { registerProxyRoutes, rewriteAbsoluteForm } from './proxy/routes.js';
import type { Dispatcher } from 'undici';
import { OutdatedService } from './fleet/outdated.js';
import { ViewLoader } from './fleet/views.js';
import { Checkpointer } from './state/checkpointer.js';
import { OutdatedThread } from './fleet/outdated-thread.js';
import { OutdatedCacheStore } from './state/outdated-cache.js';
import { ProfileStore } from './state/profiles.js';
import { MethodTable } from './rpc/methods.js';
import { registerRpcRoutes } from './rpc/routes.js';
import { VERSION } from './version.js';
import { Fleet } from './fleet/fleet.js';
import { registerAgentMethods } from './rpc/agent-methods.js';
import { BackendMap } from './proxy/target.js';
import { backendOfUri } from './fleet/source-backend.js';

// kept importable from here (the CLI takes it from source-backend.ts: no fastify to load)
export { backendOfUri };
import { buildGate, gateParts } from './app-gate.js';
import type { StageResolver } from './fleet/views.js';
import type { GateService } from './gate/service.js';
import { registerStageRoutes } from './proxy/stage-routes.js';
import { ClientFilter, registerAdmission } from './proxy/admission.js';

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
}

/** backend → host of its first mirror (what `Pin: origin` matches) */
function sites(config: Config): Record<string, string> {
  return Object.fromEntries([...config.backends.values()].map((b) => [b.name, new URL(b.mirrors[0]!).hostname]));
}

function outdatedViews(config: Config, proxy: ProxyRuntime, stages: StageResolver): ViewLoader {
  const site = sites(config);
  // the worker keeps the views; this loader only serves an answer asked for before it was prepared
  return new ViewLoader(proxy.snapshots, proxy.packageIndex, (backend) => site[backend] ?? '', stages, 1);
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
    ...(deps.config.tls.cert ? { https: { cert: readFileSync(deps.config.tls.cert), key: readFileSync(deps.config.tls.key) } } : {}),
  }) as unknown as FastifyInstance;
  const checkpointer = Checkpointer.start(deps.db, deps.dbFile, (message) => app.log.warn({ err: message }, 'database checkpoints'));
  const proxy = new ProxyRuntime({ config: deps.config, db: deps.db, dbFile: deps.dbFile, log: app.log, ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}) });
  await proxy.start();
  // server.allow before any route: refused clients reach no handler and send no body we read
  const allow = new ClientFilter(deps.config.allow);
  registerAdmission(app, allow, () => proxy.metrics.requests.inc({ result: 'refused' }));
  registerProxyRoutes(app, proxy, allow);
  const profiles = new ProfileStore(deps.db);
  const parts = gateParts(deps.db, proxy);
  // answers are computed in a worker thread (a view is ~0.7 s to load): the event loop is every client's
  const thread = new OutdatedThread(deps.dbFile, sites(deps.config));
  const outdated = new OutdatedService(profiles, outdatedViews(deps.config, proxy, parts.resolver), new OutdatedCacheStore(deps.db), proxy.packageIndex, thread);
  const fleet = new Fleet({
    db: deps.db, profiles, outdated, backendOf: backendOfUri(new BackendMap(deps.config)),
    jobs: { leaseMs: deps.config.fleet.jobLeaseMs, maxAttempts: deps.config.fleet.jobAttempts, deadlineMs: deps.config.fleet.jobDeadlineMs },
    reports: { maxPackages: deps.config.fleet.reportMaxPackages, maxBytes: deps.config.fleet.reportMaxBytes, ratePerMinute: deps.config.fleet.reportRate },
    enrolLimits: deps.config.fleet.enrolLimits,
    ...(deps.now ? { now: deps.now } : {}),
    onError: (err, what) => app.log.error({ err: err.message }, what),
  });
  // agents' XML-RPC endpoint (limits in protocol/limits.ts); answers to signed calls are signed
  const methods = new MethodTable(VERSION);
  registerAgentMethods(methods, fleet);
  registerRpcRoutes(app, methods, {
    bodyTimeoutMs: deps.config.rpcBodyTimeoutMs,
    authenticate: (h, body, client) => fleet.auth.authenticate(h, body, client),
    secretOf: (id) => fleet.auth.secretOf(id),
    waitingSecretOf: (id) => fleet.machines.pendingReenrol(id)?.secret,
  });
  const gate = buildGate(deps.config, parts, proxy, fleet, outdated, deps.now ?? Date.now);
  registerStageRoutes(app, proxy, gate);
  fleet.stageSources = (m, host) => {
    const stage = fleet.classes.stageOf(m, deps.config.gate.stages);
    if (!host || !stage) return undefined;
    const facts = JSON.parse(m.facts) as { codename?: string };
    const scheme = deps.config.tls.cert ? 'https' : 'http';
    return gate.machineSources(stage, facts.codename ?? '', `${scheme}://${host}`);
  };
  fleet.publicKey = () => gate.publicKey();
  const tick = () => {
    try {
      const created = fleet.schedules.tick();
      if (created.length) app.log.info({ jobs: created.length }, 'schedules fired');
    } catch (err) {
      // the schedules that could fire did: their jobs are in the error's details
      const created = (err as { details?: { created?: unknown[] } }).details?.created?.length ?? 0;
      app.log.error({ err: (err as Error).message, jobs: created }, 'schedule tick failed');
    }
    gate.autoPromote().then(
      (made) => { if (made.length) app.log.info({ generations: made.map((g) => `${g.stage} ${g.backend}/${g.suite}`) }, 'auto-promoted'); },
      (err: Error) => app.log.error({ err: err.message }, 'auto-promotion failed'),
    );
  };
  const ticker = setInterval(tick, deps.config.fleet.scheduleTickMs);
  ticker.unref();
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
      gate.onSnapshotIndexed(snapshotId).then(
        (made) => { if (made.length) app.log.info({ backend: snap.backend, suite: snap.suite, generations: made.map((g) => `${g.stage}:${g.kind}`) }, 'stages updated'); },
        (err: Error) => app.log.error({ backend: snap.backend, suite: snap.suite, err: err.message }, 'stage publishing failed'),
      );
      outdated.refreshInSlices(snap.backend, snap.suite).then(
        (stats) => { if (stats.recomputed || stats.carried) app.log.info({ backend: snap.backend, suite: snap.suite, ...stats }, 'outdated refreshed'); },
        (err: Error) => { app.log.error({ backend: snap.backend, suite: snap.suite, err: err.message }, 'outdated refresh failed'); },
      );
    });
  });
  proxy.addBusyProbe('outdated', () => pending.size > 0 || outdated.busy);
  app.addHook('onClose', async () => {
    closing = true;
    clearInterval(ticker);
    await proxy.close();
    await fleet.reports.retention.idle();
    await outdated.idle();
    await thread.close();
    await gate.close();
    await checkpointer?.stop();
  });
  return { app, proxy, outdated, profiles, fleet, gate, allow };
}
