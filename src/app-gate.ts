// Wiring of the release gate into the server: its stores, the stage content the outdated views
// read, the fleet evidence the gate weighs, the signing key (made at first need), and the
// published files the proxy serves under /stage/.
import path from 'node:path';
import type { Config } from './config.js';
import type { Fleet } from './fleet/fleet.js';
import type { OutdatedService } from './fleet/outdated.js';
import type { StageResolver } from './fleet/views.js';
import { ContentResolver } from './gate/content.js';
import { ServerKey } from './gate/key.js';
import { GateService, type GateFleet } from './gate/service.js';
import { StageService } from './gate/stages.js';
import type { CacheStore } from './proxy/store.js';
import type { PackageIndexStore } from './state/package-index.js';
import type { SnapshotStore } from './state/snapshots.js';
import type { Db } from './state/db.js';
import { StageStore } from './state/stages.js';
import type { CollectedExtras } from './protocol/wire.js';

/** Where the server's signing key lives: next to its database (state, not cache). */
export function keyDir(config: Config): string {
  return path.join(path.dirname(path.resolve(config.db)), 'aptgate-gnupg');
}

export interface GateParts {
  store: StageStore;
  content: ContentResolver;
  resolver: StageResolver;
}

/** The stores the gate reads: the proxy's, or (the CLI) the same opened without a proxy. */
export interface GateStores {
  store: CacheStore;
  snapshots: SnapshotStore;
  packageIndex: PackageIndexStore;
}

export function gateParts(db: Db, proxy: GateStores): GateParts {
  const store = new StageStore(db);
  const content = new ContentResolver(proxy.snapshots, proxy.packageIndex);
  const resolver: StageResolver = {
    currentGen: (stage, backend, suite) => store.current(stage, backend, suite)?.id,
    parts: (genId) => {
      const g = store.byId(genId);
      if (!g) return [];
      return content.targets({ base: g.baseSnapshot, overrides: g.overrides })
        .flatMap((t) => t.parts.map((p) => ({ snapshot: p.snapshot, component: t.component, architecture: t.architecture, indexFileId: p.indexFileId, keep: p.keep })));
    },
  };
  return { store, content, resolver };
}

function gateFleet(config: Config, fleet: Fleet, outdated: OutdatedService): GateFleet {
  const ladder = config.gate.stages;
  return {
    testMachines: (stage) => fleet.classes.testMachines(stage, ladder).map((id) => ({ id, hostname: fleet.machines.byId(id)!.hostname })),
    upgradeJobs: (machine) => fleet.jobs.store.list({ machineId: machine, limit: 50 }).filter((j) => j.kind === 'upgrade' || j.kind === 'dist-upgrade'),
    evidence: (machine) => {
      const m = fleet.machines.byId(machine);
      const r = fleet.machines.report(machine);
      if (!m || !r || m.reportedAt === null) return undefined;
      const extras = JSON.parse(r.extras) as CollectedExtras;
      let list: string[] | undefined;
      if (r.viewId !== null && m.profileId !== null && outdated.ready(r.viewId)) {
        list = outdated.get(m.profileId, r.viewId).result.entries.filter((e) => !e.held).map((e) => `${e.package} ${e.installedVersion} → ${e.candidateVersion}`);
      }
      return { at: m.reportedAt, dpkgClean: extras.dpkg.audit.trim() === '' && !extras.dpkg.interrupted, outdated: list };
    },
  };
}

/** createKey false: the CLI opens the server's key, never makes one (only serve creates state). */
export function buildGate(config: Config, parts: GateParts, proxy: GateStores, fleet: Fleet, outdated: OutdatedService, now: () => number, opts: { createKey?: boolean } = {}): GateService {
  let key: Promise<ServerKey> | undefined;
  return new GateService({
    stages: new StageService(config.gate.stages, parts.store, proxy.snapshots, parts.content, now),
    store: parts.store,
    snapshots: proxy.snapshots,
    content: parts.content,
    key: () => (key ??= ServerKey.open(keyDir(config), { create: opts.createKey ?? true })),
    cachedPath: async (k) => ((await proxy.store.stat(k)) ? proxy.store.pathOf(k) : undefined),
    snapshotFile: (s) => proxy.store.snapshotFile(s.backend, s.suite, s.sha256),
    publishDir: path.join(config.cacheDir, '.stages'),
    fleet: gateFleet(config, fleet, outdated),
    autoPromote: config.gate.autoPromote,
    now,
    closeKey: async () => { if (key) await (await key.catch(() => undefined))?.close(); },
  });
}
