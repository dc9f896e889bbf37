// The fleet side of the server: the operations agents call (through rpc/agent-methods.ts) and
// the services the administrator's CLI uses, over one database.
import { fail } from '../errors.js';
import type { OutdatedResult } from '../index/outdated.js';
import { TimeSlicer } from '../sys/time-slice.js';
import { ClassStore, type ClassRow } from '../state/classes.js';
import type { Db } from '../state/db.js';
import { JobStore, type JobOutcome } from '../state/jobs.js';
import { MachineStore, type MachineBrief, type MachineRow } from '../state/machines.js';
import type { ProfileStore } from '../state/profiles.js';
import type { CheckInAnswer, CollectedExtras } from '../protocol/wire.js';
import { AgentAuth, type MachineRef } from './auth.js';
import { ClassService } from './classes.js';
import { Enrolment, type EnrolLimits, type Enrolled, type MachineFacts } from './enrolment.js';
import type { ReenrolProof } from '../protocol/identity-proof.js';
import { JobService, type Delivery, type JobSettings } from './jobs.js';
import type { OutdatedService } from './outdated.js';
import { ReportService, type PackagesPayload, type ReportSettings } from './reports.js';
import { ScheduleService } from './schedules.js';
import { aptProxyOfSite } from './site-membership.js';

export interface FleetDeps {
  db: Db;
  profiles: ProfileStore;
  outdated: OutdatedService;
  backendOf: (uri: string, serverHost: string | undefined) => { backend: string; stage?: string } | undefined;
  jobs: JobSettings;
  /** limits on agent reports (defaults: DEFAULT_REPORT_SETTINGS) */
  reports?: ReportSettings;
  /** enrolment rate limits (default: enrolment.ts) */
  enrolLimits?: EnrolLimits;
  now?: () => number;
  /** cross-check failures and other background errors */
  onError?: (err: Error, what: string) => void;
  /** the release gate's side: the sources of the stage a machine follows, and their key */
  gate: FleetGate;
  /** the URL of the site a machine belongs to (its classes asked for only when a site lists classes; fleet/sites.ts) */
  siteUrlOf?: (machine: number, classes: () => readonly string[]) => string | undefined;
}

/** What the release gate gives the fleet (the gate in turn reads the fleet's evidence). */
export interface FleetGate {
  /** the stages, first to last (gate.stages): a machine follows the first one its classes name */
  stages: readonly string[];
  /**
   * the apt sources of a stage view for a machine of this release (codename, '' when unknown), reached at `host`, or at
   * `siteUrl` (its site's) when given
   */
  sources(view: string, codename: string, host: string, siteUrl?: string): StageSources;
  /** the stage view a machine following `stage` through `className` reads (a rollout's side, or the stage) */
  viewOf?(machine: number, stage: string, className: string): string;
  /** the server's public key (armored), which signs the stages */
  publicKey(): Promise<string>;
  /** what may move into `stage` (from the stage before it); null for the first stage (it follows upstream) */
  pendingFor?(stage: string): StagePending | null;
  /** why a machine reading a rollout's `from` side lacks a version the rollout brings (undefined: it does not) */
  rolloutWhy?(
    view: string,
    machine: number,
    source: string,
    version: string,
  ): { text: string; until: string | null } | undefined;
}

/** The stage before one, its gate, and its updates waiting for promotion (with their cooldown). */
export interface StagePending {
  from: string;
  holds: boolean;
  missing: string[];
  updates: Array<{
    source: string;
    to: string;
    firstSeen: string;
    eligibleAt: string;
    inCooldown: boolean;
    fastLane: string | null;
  }>;
}

/** The apt sources the release gate gives a machine (its stage), and their hash. */
export interface StageSources {
  entries: Array<{ uri: string; suites: string[]; components: string[] }>;
  hash: string;
}

export interface OutdatedList {
  counts: OutdatedResult['counts'];
  entries: Array<{
    package: string;
    architecture: string;
    installed: string;
    candidate: string;
    security: boolean;
    held: boolean;
  }>;
}

function listOf(r: OutdatedResult): OutdatedList {
  return {
    counts: r.counts,
    entries: r.entries.map((e) => ({
      package: e.package,
      architecture: e.architecture,
      installed: e.installedVersion,
      candidate: e.candidateVersion,
      security: e.security,
      held: e.held,
    })),
  };
}

/** What callers may read of the machine store; changes go through the fleet's operations. */
export type MachineReads = Pick<
  MachineStore,
  | 'byId'
  | 'byMachineId'
  | 'byHostname'
  | 'all'
  | 'brief'
  | 'hostnames'
  | 'childrenOf'
  | 'report'
  | 'pendingReenrol'
  | 'tokens'
  | 'tokenById'
>;

export class Fleet {
  /** read-only: the store itself stays inside the fleet */
  readonly machines: MachineReads;
  private readonly store: MachineStore;
  readonly classes: ClassService;
  readonly enrolment: Enrolment;
  readonly auth: AgentAuth;
  readonly jobs: JobService;
  readonly schedules: ScheduleService;
  readonly reports: ReportService;
  private readonly now: () => number;
  private readonly crossChecks = new Set<number>();

  constructor(private readonly deps: FleetDeps) {
    this.now = deps.now ?? Date.now;
    this.store = new MachineStore(deps.db);
    this.machines = this.store;
    const classStore = new ClassStore(deps.db);
    this.classes = new ClassService(classStore);
    const jobStore = new JobStore(deps.db);
    this.enrolment = new Enrolment({
      machines: this.store,
      joinClass: (name, id) => {
        const c = classStore.byName(name);
        if (c) classStore.addMember(c.id, id);
      },
      endLeases: (id) => jobStore.endLeases(id),
      ...(deps.enrolLimits ? { limits: deps.enrolLimits } : {}),
    });
    // signatures are checked against the real clock: the agents' clocks are real
    this.auth = new AgentAuth(this.store);
    this.jobs = new JobService(
      jobStore,
      this.classes,
      deps.jobs,
      this.now,
      (id) => this.store.byId(id)?.parentId ?? null,
    );
    this.schedules = new ScheduleService(classStore, this.classes, this.jobs, jobStore, this.now);
    this.reports = new ReportService(this.store, deps.profiles, deps.outdated, deps.backendOf, deps.reports, (err) =>
      deps.onError?.(err, 'collecting unused profiles'),
    );
  }

  enrol(token: string, facts: MachineFacts, o: { client?: string; proof?: ReenrolProof } = {}): Enrolled {
    return this.enrolment.enrol(token, facts, o);
  }

  /** An LTSP chroot of an approved host, enrolled by that host's agent (agent.enrollChroot). */
  enrolChroot(
    host: MachineRef,
    hostMachineId: unknown,
    chroot: { name: string; path: string },
    facts: MachineFacts,
    client = '',
  ): Enrolled {
    return this.enrolment.enrolChroot(this.approved(host, hostMachineId), chroot, facts, client);
  }

  /** `who`: the verified row from the call's context, or an id (tests, the command line). */
  private approved(who: MachineRef, machineId: unknown): MachineRow {
    const m = this.auth.identify(who, machineId);
    if (m.status !== 'approved') fail('MACHINE_PENDING', 'this machine waits for approval (aptgate machines approve)');
    return m;
  }

  checkIn(who: MachineRef, a: { machineId: unknown; state: string; packages: string; host?: string }): CheckInAnswer {
    const m = this.auth.identify(who, a.machineId);
    const id = m.id;
    if (m.status !== 'approved')
      return {
        status: m.status,
        stateKnown: false,
        packagesKnown: false,
        packagesBase: '',
        jobsWaiting: false,
        pullNow: false,
        sources: '',
        aptProxy: '',
      };
    const stateKnown = m.stateHash !== null && m.stateHash === a.state;
    // after a job the unchanged state counts as reported again (the gate's evidence)
    if (stateKnown && this.jobs.finishedSince(id, m.reportedAt ?? 0)) this.store.confirmState(id);
    const base = m.profileId === null ? undefined : this.deps.profiles.byId(m.profileId);
    const site = this.siteUrlOf(m);
    return {
      status: m.status,
      stateKnown,
      packagesKnown: stateKnown || base?.sha256 === a.packages || this.deps.profiles.byHash(a.packages) !== undefined,
      packagesBase: base?.sha256 ?? '',
      jobsWaiting: this.jobs.waiting(id),
      pullNow: m.pullNow,
      sources: this.stageSources(m, a.host, site)?.hash ?? '',
      // apt of a machine of a site goes through it for every http source (not only its stage)
      aptProxy: aptProxyOfSite(site),
    };
  }

  async report(
    who: MachineRef,
    a: {
      machineId: unknown;
      state: string;
      packages: PackagesPayload;
      extras: CollectedExtras;
      agentVersion?: string;
      serverHost?: string;
    },
  ): Promise<{ profile: number }> {
    const m = this.approved(who, a.machineId);
    const id = m.id;
    const facts = JSON.parse(m.facts) as MachineFacts;
    // an upgraded agent says so in its next report, an upgraded release too (its stage sources follow)
    const next = { ...facts };
    if (a.agentVersion && /^[A-Za-z0-9][A-Za-z0-9 ._+~:()-]{0,99}$/.test(a.agentVersion))
      next.agentVersion = a.agentVersion;
    // an os-release that could not be read says nothing: the known release stays
    if (a.extras.os?.codename) next.codename = a.extras.os.codename;
    if (a.extras.os?.distribution) next.distribution = a.extras.os.distribution;
    if (
      next.agentVersion !== facts.agentVersion ||
      next.codename !== facts.codename ||
      next.distribution !== facts.distribution
    ) {
      this.store.setFacts(
        id,
        JSON.stringify(next),
        next.codename !== facts.codename ? next.codename || null : undefined,
      );
    }
    const { profileId } = await this.reports.store(m, a.state, a.packages, a.extras, a.serverHost);
    this.crossCheckSoon(id);
    return { profile: profileId };
  }

  /** Compares with the machine's apt after the report was answered (it may load a view). */
  private crossCheckSoon(id: number): void {
    if (this.crossChecks.has(id)) return;
    this.crossChecks.add(id);
    setImmediate(() => {
      // its answers are computed off the event loop first (the server's worker): the check finds them cached
      void this.prepareOutdated(id)
        .catch(() => undefined)
        .then(() => {
          this.crossChecks.delete(id);
          return this.reports.crossCheck(id);
        })
        .catch((err: Error) => this.deps.onError?.(err, `cross-check of machine ${id}`));
    });
  }

  /**
   * The outdated answers of a machine's last report (its view, and upstream of its stage),
   * computed off the event loop and cached: outdatedListsInSlices() and the cross-check then only read.
   */
  async prepareOutdated(id: number): Promise<void> {
    const m = this.machines.byId(id);
    const r = this.machines.report(id);
    if (!m || !r || r.viewId === null || m.profileId === null) return;
    await this.deps.outdated.prepare(m.profileId, r.viewId);
    const upstream = this.deps.outdated.upstreamOf(r.viewId);
    if (upstream) await this.deps.outdated.prepare(m.profileId, upstream.viewId);
  }

  /** What may move into a stage, for explaining why a version is not approved (null: the first stage). */
  stagePending(stage: string): StagePending | null {
    return this.deps.gate.pendingFor?.(stage) ?? null;
  }

  /** Why a machine in a wave not open yet lacks a version its stage has (undefined: no rollout holds it back). */
  rolloutWhy(
    view: string,
    machine: number,
    source: string,
    version: string,
  ): { text: string; until: string | null } | undefined {
    return this.deps.gate.rolloutWhy?.(view, machine, source, version);
  }

  /** The URL of the site a machine belongs to (undefined: none, or a site without a URL). */
  private siteUrlOf(m: MachineRow): string | undefined {
    return this.deps.siteUrlOf?.(m.id, () => this.classes.classesOf(m).map((c) => c.name));
  }

  /** The stage sources of a machine reached at `host` (none when it follows no stage); `site`: its site's URL. */
  private stageSources(
    m: MachineRow,
    host: string | undefined,
    site: string | undefined = this.siteUrlOf(m),
  ): StageSources | undefined {
    const bound = this.classes.stageClassOf(m, this.deps.gate.stages);
    if (!host || !bound?.stage) return undefined;
    // a rollout of the stage to its class may keep it on the content before (its wave not open yet)
    const view = this.deps.gate.viewOf?.(m.id, bound.stage, bound.name) ?? bound.stage;
    const facts = JSON.parse(m.facts) as { codename?: string };
    // a machine of a site reads its stage through the site (its URL changes the sources' hash: the agent refetches)
    return this.deps.gate.sources(view, facts.codename ?? '', host, site);
  }

  async sourcesOf(
    who: MachineRef,
    machineId: unknown,
    host: string | undefined,
  ): Promise<StageSources & { key: string }> {
    const m = this.approved(who, machineId);
    const s = this.stageSources(m, host) ?? { entries: [], hash: '' };
    return { ...s, key: s.entries.length ? await this.deps.gate.publicKey() : '' };
  }

  fetchJob(who: MachineRef, machineId: unknown): Delivery | undefined {
    const m = this.approved(who, machineId);
    const d = this.jobs.next(m);
    if (m.pullNow) this.store.setPullNow([m.id], false);
    return d;
  }

  jobStarted(who: MachineRef, machineId: unknown, jobId: number): { leaseSeconds: number } {
    const m = this.approved(who, machineId);
    return this.jobs.started(m.id, jobId, m.credentialVersion);
  }

  jobFinished(who: MachineRef, machineId: unknown, jobId: number, o: JobOutcome): { state: string } {
    const m = this.approved(who, machineId);
    return this.jobs.finished(m.id, jobId, o, m.credentialVersion);
  }

  /**
   * Both outdated answers of a machine: *approved* in the view it reads (its stage, when its
   * sources go through the release gate) and *available* in the same sources read from the
   * newest upstream snapshots. Undefined parts are not known yet (no report, or not indexed).
   * Answers not cached yet are computed off the event loop (the server's worker) or in slices.
   */
  async outdatedListsInSlices(
    machine: number,
  ): Promise<{ stage: string | null; approved: OutdatedList | undefined; available: OutdatedList | undefined }> {
    const m = this.machines.byId(machine);
    const r = this.machines.report(machine);
    if (!m || !r || r.viewId === null || m.profileId === null)
      return { stage: null, approved: undefined, available: undefined };
    const profileId = m.profileId;
    const upstream = this.deps.outdated.upstreamOf(r.viewId);
    const slicer = new TimeSlicer();
    const list = async (viewId: number): Promise<OutdatedList | undefined> => {
      if (!this.deps.outdated.ready(viewId)) return undefined;
      return listOf((await this.deps.outdated.getInSlices(profileId, viewId, slicer)).result);
    };
    this.deps.profiles.pin(profileId);
    try {
      return {
        stage: upstream?.stage ?? null,
        approved: await list(r.viewId),
        available: await list(upstream?.viewId ?? r.viewId),
      };
    } finally {
      this.deps.profiles.unpin(profileId);
    }
  }

  /** A machine by id or hostname (NOT_FOUND; USAGE when a hostname is ambiguous). */
  machine(ref: string): MachineRow {
    const byId = /^\d+$/.test(ref) ? this.machines.byId(Number(ref)) : undefined;
    if (byId) return byId;
    const hits = this.machines.byHostname(ref);
    if (hits.length > 1)
      fail('USAGE', `${hits.length} machines are called ${ref}: use the id (${hits.map((h) => h.id).join(', ')})`);
    if (!hits[0]) fail('NOT_FOUND', `no machine "${ref.slice(0, 80)}"`);
    return hits[0];
  }

  /** Machines named by class names, ids or hostnames (a name that is both: the class). */
  targets(refs: readonly string[]): MachineBrief[] {
    const out = new Map<number, MachineBrief>();
    let all: MachineBrief[] | undefined;
    let byId: Map<number, MachineBrief> | undefined;
    for (const ref of refs) {
      const c = this.classes.byName(ref);
      if (c) {
        // the fleet is read once, briefly, and only when a class is named (a Map: classes of 20,000 machines)
        all ??= this.machines.brief();
        byId ??= new Map(all.map((m) => [m.id, m]));
        for (const id of this.classes.membersOf(c.id, all)) out.set(id, byId.get(id)!);
      } else {
        const m = this.machine(ref);
        out.set(m.id, m);
      }
    }
    return [...out.values()];
  }

  /**
   * targets() without holding the event loop: the members of the classes named are found in one
   * pass over the fleet in slices (a class of 20,000 machines), machines named alone by a lookup.
   */
  async targetsInSlices(refs: readonly string[], slicer = new TimeSlicer()): Promise<MachineBrief[]> {
    const named = refs.map((ref) => this.classes.byName(ref) ?? this.machine(ref));
    const classIds = named.filter((x): x is ClassRow => 'priority' in x).map((c) => c.id);
    const members = classIds.length
      ? await this.classes.machinesInSlices(classIds, slicer)
      : new Map<number, MachineBrief[]>();
    // in the order targets() gives: each class's members in id order, class by class, or the machine
    const out = new Map<number, MachineBrief>();
    for (const x of named) {
      if ('priority' in x) for (const m of members.get(x.id)!) out.set(m.id, m);
      else out.set(x.id, x);
    }
    return [...out.values()];
  }

  /** Sets or clears the pull-now flag of machines (push; an agent's next check-in reads it). */
  setPullNow(ids: readonly number[], on: boolean): void {
    this.store.setPullNow(ids, on);
  }

  /** Forgets a machine (its chroots and jobs go with it); false when it was gone already. */
  removeMachine(id: number): boolean {
    return this.store.remove(id);
  }

  /** Revokes an enrolment token; false when it was revoked already. */
  revokeToken(id: number): boolean {
    return this.store.revokeToken(id);
  }
}
