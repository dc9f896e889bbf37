// The one place the services are built, from a configuration over one open database: the state
// stores, then the outdated answers, the release gate and the fleet (each gives the other its
// side), the accounts and the audit log. The server (server.ts) adds the proxy over the same
// stores and the background work; the administrator's commands (cli/fleet-context.ts) open this
// graph alone: no proxy, no timers, no worker, fastify and undici never loaded, the signing key
// never made.
import { SiteRegistry } from '../fleet/sites.js';
import { SiteStore } from '../state/sites.js';
import { AccessService } from '../access/accounts.js';
import { AuditLog } from '../access/audit.js';
import { AdvisoryFeeds } from '../advisories/feeds.js';
import { ChangelogRefsService } from '../advisories/changelog-refs.js';
import type { Config } from '../config.js';
import { Fleet } from '../fleet/fleet.js';
import { OutdatedService } from '../fleet/outdated.js';
import { OutdatedThread } from '../fleet/outdated-thread.js';
import { backendOfUri } from '../fleet/source-backend.js';
import { ViewLoader } from '../fleet/views.js';
import type { GateService } from '../gate/service.js';
import type { Logger } from '../log.js';
import type { HousekeepingDeps } from '../proxy/housekeeping.js';
import { CacheStore } from '../proxy/store.js';
import { BackendMap } from '../proxy/target.js';
import { AdvisoryStore } from '../state/advisories.js';
import type { Db } from '../state/db.js';
import { OutdatedCacheStore } from '../state/outdated-cache.js';
import { PackageIndexStore } from '../state/package-index.js';
import { ProfileStore } from '../state/profiles.js';
import { SnapshotStore } from '../state/snapshots.js';
import { SourceSeenStore } from '../state/source-seen.js';
import { StageStore } from '../state/stages.js';
import { UsageStore } from '../state/usage.js';
import { buildGate, fixesFrom, fleetGate, gateParts } from './gate.js';
import { buildRollouts } from './rollouts.js';
import type { RolloutService } from '../gate/rollouts.js';
import { RolloutStore } from '../state/rollouts.js';

/** The stores over the database (and the cache directory) every service shares. */
export interface StateStores extends Omit<HousekeepingDeps, 'config'> {
  profiles: ProfileStore;
  /** the outdated views and their cached answers */
  viewDefs: OutdatedCacheStore;
  /** when each source version was first seen upstream (the gate's cooldown) */
  seen: SourceSeenStore;
}

export function stateStores(config: Config, db: Db): StateStores {
  return {
    store: new CacheStore(config.cacheDir),
    snapshots: new SnapshotStore(db),
    packageIndex: new PackageIndexStore(db),
    usage: new UsageStore(db),
    stages: new StageStore(db),
    profiles: new ProfileStore(db),
    viewDefs: new OutdatedCacheStore(db),
    seen: new SourceSeenStore(db),
  };
}

/** backend → host of its first mirror (what apt's `Pin: origin` matches) */
export function sitesOf(config: Config): Record<string, string> {
  return Object.fromEntries([...config.backends.values()].map((b) => [b.name, new URL(b.mirrors[0]!).hostname]));
}

export interface AssembleOptions {
  db: Db;
  /** the database file (the server's outdated worker opens its own connection) */
  dbFile: string;
  /**
   * server: answers are computed in a worker thread (the event loop keeps one view, for an
   * answer asked for before the worker prepared it) and the signing key is made at first need;
   * cli: answers are computed in the process, the key only opened
   */
  mode: 'server' | 'cli';
  /** the clock of the fleet and the gate (jobs, leases, schedules, soak times); tests move it */
  now?: () => number;
  /** where background errors go (cross-checks, collecting profiles); default: nowhere */
  log?: Logger;
}

export interface Services {
  config: Config;
  db: Db;
  now: () => number;
  state: StateStores;
  views: ViewLoader;
  outdated: OutdatedService;
  gate: GateService;
  /** rollouts of a stage's content to a class in waves (the server's tick moves them on) */
  rollouts: RolloutService;
  fleet: Fleet;
  /** the site caches registered under this server (issue 18) */
  sites: SiteRegistry;
  /** users, sessions, API tokens and the login limits (admin.session_idle, admin.session_max) */
  access: AccessService;
  /** who did what: every state-changing operation, from the CLI, the API or the console */
  audit: AuditLog;
  /** the security advisory feeds: status, refresh, import (the server's timer: background.ts) */
  advisories: AdvisoryFeeds;
  /** pending updates' changelog references (issue 17); the server attaches the proxy to read .debs */
  changelogRefs: ChangelogRefsService;
  /**
   * Waits for background work, then ends the worker and the signing key's agent; the database stays open (its opener
   * closes it).
   */
  stop(): Promise<void>;
}

export function assemble(config: Config, o: AssembleOptions): Services {
  const { db } = o;
  const now = o.now ?? Date.now;
  const server = o.mode === 'server';
  const state = stateStores(config, db);
  const site = sitesOf(config);
  const parts = gateParts(state, config.gate.stages);
  const views = new ViewLoader(
    state.snapshots,
    state.packageIndex,
    (backend) => site[backend] ?? '',
    parts.resolver,
    server ? 1 : undefined,
  );
  // on the server a view is loaded in the worker (~0.7 s): the event loop is every client's
  const thread = server
    ? new OutdatedThread(new URL('./outdated-worker.js', import.meta.url), o.dbFile, site)
    : undefined;
  const outdated = new OutdatedService(state.profiles, views, state.viewDefs, state.packageIndex, thread);
  // the gate weighs the fleet's evidence and the fleet hands out the gate's sources: the gate
  // asks for the fleet only once both exist
  // one store: its imports know each other's loads (a sweep never takes one being written)
  const advisoryStore = new AdvisoryStore(db);
  const gate = buildGate(config, parts, state, () => fleet, outdated, now, server, fixesFrom(advisoryStore));
  const rolloutStore = new RolloutStore(db);
  const rollouts = buildRollouts(config, rolloutStore, state.stages, () => fleet, now);
  const sites: SiteRegistry = new SiteRegistry({
    store: new SiteStore(db),
    membersOf: (name): number[] => {
      const c = fleet.classes.byName(name);
      return c ? fleet.classes.membersOf(c.id) : [];
    },
    rate: config.fleet.enrolLimits.address,
    now,
  });
  const fleet = new Fleet({
    db,
    siteUrlOf: (machine, classes): string | undefined => sites.urlFor(machine, classes),
    profiles: state.profiles,
    outdated,
    backendOf: backendOfUri(new BackendMap(config), () => sites.store.urls()),
    jobs: {
      leaseMs: config.fleet.jobLeaseMs,
      maxAttempts: config.fleet.jobAttempts,
      deadlineMs: config.fleet.jobDeadlineMs,
    },
    reports: {
      maxPackages: config.fleet.reportMaxPackages,
      maxBytes: config.fleet.reportMaxBytes,
      ratePerMinute: config.fleet.reportRate,
    },
    enrolLimits: config.fleet.enrolLimits,
    now,
    ...(o.log ? { onError: (err: Error, what: string) => o.log!.error({ err: err.message }, what) } : {}),
    gate: fleetGate(config, gate, rollouts, { store: rolloutStore, stages: state.stages, content: parts.content }),
  });
  const access = new AccessService(
    db,
    { sessionIdleMs: config.admin.sessionIdleMs, sessionMaxMs: config.admin.sessionMaxMs },
    now,
  );
  const advisories = new AdvisoryFeeds({ config, store: advisoryStore, now, ...(o.log ? { log: o.log } : {}) });
  return {
    config,
    db,
    now,
    state,
    views,
    outdated,
    gate,
    rollouts,
    fleet,
    sites,
    access,
    audit: new AuditLog(db, now),
    advisories,
    changelogRefs: new ChangelogRefsService(db, { now, ...(o.log ? { log: o.log } : {}) }),
    stop: async () => {
      await advisories.close();
      await fleet.reports.retention.idle();
      await outdated.idle();
      await thread?.close();
      await gate.close();
    },
  };
}
