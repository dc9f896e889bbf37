// The release gate in the graph: its stores, the stage contents the outdated views read, the
// fleet evidence the gate weighs, the signing key (made at first need, by the server only), the
// published files the proxy serves under /stage/, and what the gate gives the fleet in turn.
import path from 'node:path';
import type { Config } from '../config.js';
import type { Fleet, FleetGate } from '../fleet/fleet.js';
import type { OutdatedService } from '../fleet/outdated.js';
import type { StageResolver } from '../fleet/views.js';
import { ContentResolver } from '../gate/content.js';
import { ServerKey } from '../gate/key.js';
import { stageResolver } from '../gate/resolver.js';
import { StageViews } from '../gate/stage-views.js';
import { GateService, type GateFleet } from '../gate/service.js';
import type { RolloutService } from '../gate/rollouts.js';
import { rolloutWhy } from '../gate/rollout-explain.js';
import type { FixedCve, FixesOf } from '../gate/cooldown.js';
import { urgencyRank } from '../index/exposures.js';
import { compareVersions } from '../index/version.js';
import type { AdvisoryStore } from '../state/advisories.js';
import { StageService } from '../gate/stages.js';
import type { CacheStore } from '../proxy/store.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotStore } from '../state/snapshots.js';
import type { SourceSeenStore } from '../state/source-seen.js';
import type { StageStore } from '../state/stages.js';
import type { CollectedExtras } from '../protocol/wire.js';

/** Where the server's signing key lives: next to its database (state, not cache). */
export function keyDir(config: Config): string {
  return path.join(path.dirname(path.resolve(config.db)), 'aptgate-gnupg');
}

/** The stores the gate reads. */
export interface GateStores {
  store: CacheStore;
  snapshots: SnapshotStore;
  packageIndex: PackageIndexStore;
  stages: StageStore;
  seen: SourceSeenStore;
}

export interface GateParts {
  content: ContentResolver;
  resolver: StageResolver;
  views: StageViews;
}

export function gateParts(state: GateStores, ladder: readonly string[]): GateParts {
  const content = new ContentResolver(state.snapshots, state.packageIndex);
  const views = new StageViews(state.stages, ladder);
  return { content, resolver: stageResolver(state.stages, content, views), views };
}

/** `fleet` is asked only once the graph is built (the fleet is made after the gate: it gets the gate's side). */
function gateFleet(config: Config, fleet: () => Fleet, outdated: OutdatedService): GateFleet {
  const ladder = config.gate.stages;
  return {
    testMachines: (stage) =>
      fleet()
        .classes.testMachines(stage, ladder)
        .map((id) => ({ id, hostname: fleet().machines.byId(id)!.hostname })),
    upgradeJobs: (machine) =>
      fleet()
        .jobs.list({ machineId: machine, limit: 50 })
        .filter((j) => j.kind === 'upgrade' || j.kind === 'dist-upgrade'),
    evidence: (machine) => {
      const m = fleet().machines.byId(machine);
      const r = fleet().machines.report(machine);
      if (!m || !r || m.reportedAt === null) return undefined;
      const extras = JSON.parse(r.extras) as CollectedExtras;
      let list: string[] | undefined;
      if (r.viewId !== null && m.profileId !== null && outdated.ready(r.viewId)) {
        list = outdated
          .get(m.profileId, r.viewId)
          .result.entries.filter((e) => !e.held)
          .map((e) => `${e.package} ${e.installedVersion} → ${e.candidateVersion}`);
      }
      return {
        at: m.reportedAt,
        dpkgClean: extras.dpkg.audit.trim() === '' && !extras.dpkg.interrupted,
        outdated: list,
      };
    },
  };
}

/** createKey false: the key is opened, never made (the CLI: only serve creates state). */
export function buildGate(
  config: Config,
  parts: GateParts,
  state: GateStores,
  fleet: () => Fleet,
  outdated: OutdatedService,
  now: () => number,
  createKey: boolean,
  fixesOf?: FixesOf,
): GateService {
  let key: Promise<ServerKey> | undefined;
  return new GateService({
    stages: new StageService(
      config.gate.stages,
      state.stages,
      state.snapshots,
      parts.content,
      now,
      state.seen,
      config.gate,
      fixesOf,
    ),
    store: state.stages,
    snapshots: state.snapshots,
    content: parts.content,
    key: () => (key ??= ServerKey.open(keyDir(config), { create: createKey })),
    cachedPath: async (k) => ((await state.store.stat(k)) ? state.store.pathOf(k) : undefined),
    snapshotFile: (s) => state.store.snapshotFile(s.backend, s.suite, s.sha256),
    publishDir: path.join(config.cacheDir, '.stages'),
    fleet: gateFleet(config, fleet, outdated),
    views: parts.views,
    autoPromote: config.gate.autoPromote,
    now,
    indexed: (id) => state.packageIndex.hasLinks(id),
    closeKey: async () => {
      if (key) await (await key.catch(() => undefined))?.close();
    },
  });
}

/**
 * What an update fixes by the imported advisories (the fast lane): the records of its source in
 * its release whose fixed version it reaches and the next stage's version does not.
 */
export function fixesFrom(advisories: AdvisoryStore): FixesOf {
  // the gate asks about every pending update on each status (API, promotions, every machine's
  // explanation): the answers are kept until an import switches a feed's load
  let loads = '';
  const memo = new Map<string, FixedCve[]>();
  return ({ source, from, to, codename }) => {
    // a source the next stage lacks had none of its flaws there: the tracker keeps the issues of
    // sources long gone, and an upload reviving such a name would "fix" them all (the fast lane)
    if (!codename || from === null) return [];
    // the trackers name a release (bookworm); its security and updates suites say bookworm-security
    const release = codename.replace(/-(security|updates|backports|proposed-updates)$/, '');
    const now = advisories.loadsKey();
    if (now !== loads || memo.size >= 10_000) {
      loads = now;
      memo.clear();
    }
    const key = `${source}\0${release}\0${from}\0${to}`;
    const known = memo.get(key);
    if (known) return known;
    const out = new Map<string, FixedCve>();
    // per fixed version (the kernel's 10,000 issues share a few hundred): the versions compared
    // once each, the issues read only for the versions the update reaches
    for (const f of advisories.fixesFor(source, release)) {
      if (compareVersions(to, f.fixedVersion) < 0 || compareVersions(from, f.fixedVersion) >= 0) continue;
      for (const item of f.issues.split(' ')) {
        const at = item.lastIndexOf(':');
        const cve = item.slice(0, at);
        const urgency = item.slice(at + 1) as FixedCve['urgency'];
        // feeds may disagree (a DSA list's record has no urgency): the most urgent one counts
        const had = out.get(cve);
        if (!had || urgencyRank(urgency) < urgencyRank(had.urgency)) out.set(cve, { cve, urgency });
      }
    }
    const fixes = [...out.values()].sort((a, b) => (a.cve < b.cve ? -1 : a.cve > b.cve ? 1 : 0));
    memo.set(key, fixes);
    return fixes;
  };
}

/** The gate's side of the fleet: stage sources at the URL machines reach the server by. */
export function fleetGate(
  config: Config,
  gate: GateService,
  rollouts: RolloutService,
  explain: Parameters<typeof rolloutWhy>[0],
): FleetGate {
  const scheme = config.tls.cert ? 'https' : 'http';
  return {
    stages: config.gate.stages,
    sources: (view, codename, host, siteUrl) => gate.machineSources(view, codename, siteUrl ?? `${scheme}://${host}`),
    viewOf: (machine, stage, className) => rollouts.viewOf(machine, stage, className),
    rolloutWhy: (view, machine, source, version) => rolloutWhy(explain, view, machine, source, version),
    publicKey: () => gate.publicKey(),
    pendingFor: (stage) => {
      const i = config.gate.stages.indexOf(stage);
      if (i <= 0) return null;
      const from = config.gate.stages[i - 1]!;
      const st = gate.status(from);
      return { from, holds: st.holds, missing: st.missing, updates: st.updates };
    },
  };
}
