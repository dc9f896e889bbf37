// Machines for the administrator and the API (tokens: tokens.ts; packages: packages.ts): plain
// functions over the fleet's services that return the documented JSON shapes (docs/cli-fleet.md);
// cli/fleet-format.ts turns them into tables.
import { withRefs, type UpdateRefs } from '../../advisories/changelog-answers.js';
import { fail } from '../../errors.js';
import type { MachineFacts } from '../enrolment.js';
import type { StagePending } from '../fleet.js';
import {
  compareWithApt,
  differences,
  disagreementStrings,
  explainByEarlierSnapshots,
  type AptComparison,
} from '../apt-compare.js';
import { backendOfUri } from '../source-backend.js';
import { SiteStore } from '../../state/sites.js';
import { parseSourcesFile } from '../../index/sources.js';
import { BackendMap } from '../../proxy/target.js';
import type { OutdatedEntry, OutdatedResult } from '../../index/outdated.js';
import type { CollectedExtras } from '../../protocol/wire.js';
import type { MachineRow, ReenrolRow } from '../../state/machines.js';
import { SnapshotStore } from '../../state/snapshots.js';
import { iso, viewNotReady, type FleetQueryContext } from './context.js';
import { whyOfEntry, whyWaiting, type Why } from './explain.js';
import { parseStageView } from '../../index/stage-view.js';
import { jobInfo, type JobInfo } from './jobs.js';

// ---- outdated per machine ----

/** One outdated package of a machine as the commands show it (`machines outdated`, `machines show`). */
export interface OutdatedRow {
  package: string;
  architecture: string;
  installed: string;
  candidate: string;
  security: boolean;
  action: string;
}

export interface MachineOutdated {
  /** false when the server cannot tell yet; `reason` says why */
  known: boolean;
  reason: string | null;
  counts: OutdatedResult['counts'] | null;
  entries: OutdatedEntry[];
}

/** Outdated for one machine in the view its sources define (cached per profile and view). */
export function machineOutdated(
  ctx: FleetQueryContext,
  m: MachineRow,
  memo = new Map<string, MachineOutdated>(),
): MachineOutdated {
  const report = m.profileId === null ? undefined : ctx.fleet.machines.report(m.id);
  if (m.profileId === null || !report) return unknownOutdated('no report yet');
  return outdatedIn(ctx, m.profileId, report.viewId, memo);
}

const unknownOutdated = (reason: string): MachineOutdated => ({ known: false, reason, counts: null, entries: [] });

/** Outdated for an installed set (profile) in a view (null: none of the machine's sources goes through this server). */
export function outdatedIn(
  ctx: FleetQueryContext,
  profileId: number,
  viewId: number | null,
  memo = new Map<string, MachineOutdated>(),
): MachineOutdated {
  if (viewId === null) return unknownOutdated('no apt source of this machine goes through this server');
  const key = `${profileId}/${viewId}`;
  let r = memo.get(key);
  if (!r) {
    const why = viewNotReady(ctx, viewId);
    if (why) r = unknownOutdated(why);
    else {
      const a = ctx.outdated.get(profileId, viewId);
      r = { known: true, reason: null, counts: a.result.counts, entries: a.result.entries };
    }
    memo.set(key, r);
  }
  return r;
}

// ---- machines ----

export interface MachineSummary {
  id: number;
  hostname: string;
  status: MachineRow['status'];
  /** set when another machine-id signed with this identity's secret (a cloned disk) */
  clone: { machineId: string; at: string } | null;
  parentId: number | null;
  architecture: string;
  codename: string | null;
  lastSeen: string | null;
  reportedAt: string | null;
  /** null when unknown (no report, no view, no snapshot yet) */
  outdated: number | null;
  security: number | null;
  rebootRequired: boolean | null;
  /** packages the server and the machine's apt disagree about (null: not compared yet) */
  disagreements: number | null;
  openJobs: number;
  pullNow: boolean;
  /** a new credential for this machine-id, enrolled on a token alone, waiting for approval */
  reenrolment: ReenrolmentInfo | null;
  /** its classes, in precedence order (classes.list counts members, it does not list them) */
  classes: string[];
}

function extrasOf(
  ctx: FleetQueryContext,
  id: number,
): { extras: CollectedExtras; reportedAt: number; viewId: number | null } | undefined {
  const r = ctx.fleet.machines.report(id);
  if (!r) return undefined;
  return { extras: JSON.parse(r.extras) as CollectedExtras, reportedAt: r.reportedAt, viewId: r.viewId };
}

/**
 * The server's answer now against the machine's apt in its last report, whenever both are known
 * (computed here: it does not wait for the server's check after a report, which finds nothing to
 * compare while a view is still being indexed).
 */
function comparison(
  m: MachineRow,
  o: MachineOutdated,
  r: { extras: CollectedExtras } | undefined,
): AptComparison | null {
  if (!o.known || !r) return null;
  return compareWithApt(o.entries, r.extras.aptUpgradable, m.architecture);
}

/** "URI SUITE" of the machine's apt sources that do not go through this server (the server cannot see them). */
function unservedSources(ctx: FleetQueryContext, extras: CollectedExtras): string[] {
  const sites = new SiteStore(ctx.db);
  const backendOf = backendOfUri(new BackendMap(ctx.config), () => sites.urls());
  const out = new Set<string>();
  for (const f of extras.sources) {
    for (const e of parseSourcesFile(f.path, f.content)) {
      if (!e.types.includes('deb')) continue;
      for (const uri of e.uris) {
        // the host the agent reached this server by is not kept: a remap URI naming a backend counts as ours
        const host = /^[a-z][a-z0-9+.-]*:\/\/([^/]+)/i.exec(uri)?.[1];
        if (!backendOf(uri, host)) for (const suite of e.suites) out.add(`${uri} ${suite}`);
      }
    }
  }
  return [...out];
}

export function summarize(ctx: FleetQueryContext, m: MachineRow, memo?: Map<string, MachineOutdated>): MachineSummary {
  const o = machineOutdated(ctx, m, memo);
  const r = extrasOf(ctx, m.id);
  const d = comparison(m, o, r);
  return {
    id: m.id,
    hostname: m.hostname,
    status: m.status,
    clone: m.cloneMachineId ? { machineId: m.cloneMachineId, at: iso(m.cloneAt)! } : null,
    parentId: m.parentId,
    architecture: m.architecture,
    codename: m.codename,
    lastSeen: iso(m.lastSeen),
    reportedAt: iso(m.reportedAt),
    outdated: o.counts?.outdated ?? null,
    security: o.counts?.security ?? null,
    rebootRequired: r ? r.extras.reboot.required : null,
    disagreements: d ? differences(d) : null,
    openJobs: ctx.fleet.jobs.open(m.id).length,
    pullNow: m.pullNow,
    reenrolment: reenrolmentInfo(ctx.fleet.machines.pendingReenrol(m.id)),
    classes: ctx.fleet.classes.classesOf(m).map((c) => c.name),
  };
}

export function listMachines(ctx: FleetQueryContext, o: { pending?: boolean; class?: string } = {}): MachineSummary[] {
  ctx.fleet.jobs.sweep(ctx.now());
  let machines = ctx.fleet.machines.all();
  if (o.class !== undefined) {
    const members = new Set(ctx.fleet.classes.membersOf(ctx.fleet.classes.get(o.class).id, machines));
    machines = machines.filter((m) => members.has(m.id));
  }
  if (o.pending) machines = machines.filter((m) => m.status === 'pending' || ctx.fleet.machines.pendingReenrol(m.id));
  const memo = new Map<string, MachineOutdated>();
  return machines.map((m) => summarize(ctx, m, memo));
}

export interface MachineDetail {
  machine: MachineSummary & {
    machineId: string;
    foreignArchitectures: string[];
    distribution: string;
    kernel: string;
    agentVersion: string;
    enrolledAt: string;
    approvedAt: string | null;
  };
  classes: string[];
  report: null | {
    reportedAt: string;
    holds: string[];
    /** paths of the apt source files */
    sources: string[];
    preferences: string[];
    reboot: { required: boolean; packages: string[] };
    dpkg: { audit: string; interrupted: boolean };
    /** how many packages the machine's own apt calls upgradable */
    aptUpgradable: number;
    /**
     * the server's outdated answer against the machine's apt, as "name version" (null: the server's answer is unknown)
     */
    disagreements: null | { onlyApt: string[]; onlyServer: string[]; checkedAt: string };
    /** the same, in full: counts on both sides, each difference and what the server knows of its cause */
    comparison: null | (AptComparison & { checkedAt: string });
  };
  outdated: {
    known: boolean;
    reason: string | null;
    counts: OutdatedResult['counts'] | null;
    packages: OutdatedRow[];
  };
  jobs: JobInfo[];
}

export function showMachine(ctx: FleetQueryContext, ref: string, jobs = 10): MachineDetail {
  ctx.fleet.jobs.sweep(ctx.now());
  const m = ctx.fleet.machine(ref);
  const facts = JSON.parse(m.facts) as Partial<MachineFacts>;
  const r = extrasOf(ctx, m.id);
  const o = machineOutdated(ctx, m);
  const hostnames = new Map([[m.id, m.hostname]]);
  const c = comparison(m, o, r);
  if (c && r && differences(c)) {
    const profileId = m.profileId!;
    explainByEarlierSnapshots(
      { views: ctx.views, snapshots: new SnapshotStore(ctx.db), installed: () => ctx.profiles.installed(profileId) },
      ctx.outdated.spec(r.viewId!),
      c,
      m.architecture,
    );
    const unserved = unservedSources(ctx, r.extras);
    if (unserved.length && [...c.onlyApt, ...c.different].some((x) => !x.cause)) {
      c.causes.push(
        `the machine's apt also reads ${unserved.join(', ')}, not through this server: the server's view lacks what ${unserved.length === 1 ? 'it offers' : 'they offer'}`,
      );
    }
  }
  const checkedAt = iso(ctx.now())!;
  return {
    machine: {
      ...summarize(ctx, m),
      machineId: m.machineId,
      foreignArchitectures: facts.foreignArchitectures ?? [],
      distribution: facts.distribution ?? '',
      kernel: facts.kernel ?? '',
      agentVersion: facts.agentVersion ?? '',
      enrolledAt: iso(m.enrolledAt)!,
      approvedAt: iso(m.approvedAt),
    },
    classes: ctx.fleet.classes.classesOf(m).map((c) => c.name),
    report: r
      ? {
          reportedAt: iso(r.reportedAt)!,
          holds: r.extras.holds,
          sources: r.extras.sources.map((s) => s.path),
          preferences: r.extras.preferences.map((p) => p.path),
          reboot: r.extras.reboot,
          dpkg: r.extras.dpkg,
          aptUpgradable: r.extras.aptUpgradable.length,
          disagreements: c ? { ...disagreementStrings(c), checkedAt } : null,
          comparison: c ? { ...c, checkedAt } : null,
        }
      : null,
    outdated: {
      known: o.known,
      reason: o.reason,
      counts: o.counts,
      packages: o.entries.map((e) => ({
        package: e.package,
        architecture: e.architecture,
        installed: e.installedVersion,
        candidate: e.candidateVersion,
        security: e.security,
        action: e.action,
      })),
    },
    jobs: ctx.fleet.jobs.list({ machineId: m.id, limit: jobs }).map((j) => jobInfo(j, hostnames)),
  };
}

/** `machines outdated REF --json`: the entries in the shape of `aptgate outdated --json`. */
/**
 * Outdated for a machine behind the release gate, read from the newest upstream snapshots
 * instead of its stage (what is *available*, against what is *approved*); undefined when the
 * machine reads no stage.
 */
export function machineAvailable(
  ctx: FleetQueryContext,
  m: MachineRow,
): { stage: string; outdated: MachineOutdated; bypass: string[] } | undefined {
  const report = ctx.fleet.machines.report(m.id);
  if (m.profileId === null || !report || report.viewId === null) return undefined;
  const upstream = ctx.outdated.upstreamOf(report.viewId);
  if (!upstream) return undefined;
  const { stage, bypass, viewId } = upstream;
  const why = viewNotReady(ctx, viewId);
  if (why) return { stage, bypass, outdated: { known: false, reason: why, counts: null, entries: [] } };
  const a = ctx.outdated.get(m.profileId, viewId);
  return { stage, bypass, outdated: { known: true, reason: null, counts: a.result.counts, entries: a.result.entries } };
}

export function outdatedOfMachine(
  ctx: FleetQueryContext,
  ref: string,
): {
  format: 1;
  machine: { id: number; hostname: string };
  known: boolean;
  reason: string | null;
  counts: OutdatedResult['counts'] | null;
  /** each with what its changelog names since the installed version, and why it is pending (issue 17) */
  packages: Array<OutdatedEntry & UpdateRefs & { why: Why }>;
  /** behind the release gate: its stage (the lists above are what it may install) and what upstream has */
  stage: string | null;
  /** during a rollout of its stage to its class: the side it reads (production--r3-from, -to) */
  view?: string;
  available: {
    known: boolean;
    reason: string | null;
    counts: OutdatedResult['counts'] | null;
    /** `why`: the stage's reason when it approves the same version, else why it does not yet */
    packages: Array<OutdatedEntry & UpdateRefs & { why: Why }>;
  } | null;
  /** backend/suite the machine also reads directly, around its stage (the gate does not bind it there) */
  bypass: string[];
} {
  const m = ctx.fleet.machine(ref);
  const o = machineOutdated(ctx, m);
  const av = machineAvailable(ctx, m);
  const memo = new Map();
  // why each is pending: apt's part for what the stage approves; the gate's for what only upstream has
  const approved = new Map(o.entries.map((e) => [e.instance, e]));
  let pending: StagePending | null | undefined;
  // what the machine reads: its stage, or a side of a rollout of it (production--r3-from)
  const view = av?.stage ?? '';
  const stage = parseStageView(view)?.stage ?? view;
  const waiting = (e: OutdatedEntry): Why => {
    const a = approved.get(e.instance);
    if (a && a.candidateVersion === e.candidateVersion) return whyOfEntry(a);
    // the machine reads a side of a rollout (its view is not the stage's name)
    const inWave = view !== stage ? ctx.fleet.rolloutWhy(view, m.id, e.source, e.sourceVersion) : undefined;
    if (inWave) return { status: 'later-wave', ...inWave };
    if (pending === undefined) pending = ctx.fleet.stagePending(stage);
    return whyWaiting(view, e, pending);
  };
  return {
    format: 1,
    machine: { id: m.id, hostname: m.hostname },
    known: o.known,
    reason: o.reason,
    counts: o.counts,
    packages: withRefs(ctx.changelogRefs, o.entries, memo).map((e) => ({ ...e, why: whyOfEntry(e) })),
    stage: av ? stage : null,
    ...(av && view !== stage ? { view } : {}),
    available: av
      ? {
          known: av.outdated.known,
          reason: av.outdated.reason,
          counts: av.outdated.counts,
          packages: withRefs(ctx.changelogRefs, av.outdated.entries, memo).map((e) => ({ ...e, why: waiting(e) })),
        }
      : null,
    bypass: av?.bypass ?? [],
  };
}

export interface Changed {
  id: number;
  hostname: string;
  changed: boolean;
}

/** A re-enrolment waiting for approval: a new credential for an enrolled machine-id, given on a token alone. */
export interface ReenrolmentInfo {
  /** the agent prints it: compare before approving */
  code: string;
  requestedAt: string;
  /** the client address it came from */
  from: string;
  hostname: string;
  tokenId: number | null;
}

export function reenrolmentInfo(r: ReenrolRow | undefined | null): ReenrolmentInfo | null {
  return r
    ? { code: r.code, requestedAt: iso(r.requestedAt)!, from: r.client, hostname: r.hostname, tokenId: r.tokenId }
    : null;
}

/**
 * `machines approve`: a pending machine is approved; a machine with a waiting re-enrolment
 * switches to the new credential only with that re-enrolment's `code`.
 */
export function approveMachines(
  ctx: FleetQueryContext,
  refs: readonly string[],
  code?: string,
): Array<Changed & { reenrolment: ReenrolmentInfo | null }> {
  const ms = refs.map((r) => ctx.fleet.machine(r));
  if (code !== undefined && ms.length !== 1) fail('USAGE', '--code names the re-enrolment of one machine');
  // a waiting re-enrolment needs its --code: refused before any machine of the list changes
  const waiting = code === undefined ? ms.find((m) => ctx.fleet.machines.pendingReenrol(m.id)) : undefined;
  if (waiting) ctx.fleet.enrolment.approve(waiting.id);
  return ms.map((m) => {
    const r = ctx.fleet.enrolment.approve(m.id, code);
    return { id: m.id, hostname: m.hostname, changed: r.changed, reenrolment: reenrolmentInfo(r.reenrolment) };
  });
}

/** `machines reject`: drops waiting re-enrolments; the machines keep their current identity. */
export function rejectReenrolments(
  ctx: FleetQueryContext,
  refs: readonly string[],
): Array<Changed & { reenrolment: ReenrolmentInfo | null }> {
  const ms = refs.map((r) => ctx.fleet.machine(r));
  return ms.map((m) => {
    const r = ctx.fleet.enrolment.reject(m.id);
    return { id: m.id, hostname: m.hostname, changed: r !== undefined, reenrolment: reenrolmentInfo(r) };
  });
}

export function removeMachines(
  ctx: FleetQueryContext,
  refs: readonly string[],
): Array<Changed & { jobs: number; chroots: string[] }> {
  const ms = refs.map((r) => ctx.fleet.machine(r));
  const all = ctx.fleet.machines.all();
  return ms.map((m) => {
    // what goes with it (ON DELETE CASCADE): its jobs and its LTSP chroots
    const jobs = ctx.fleet.jobs.list({ machineId: m.id, limit: 1_000_000 }).length;
    const chroots = all.filter((c) => c.parentId === m.id).map((c) => c.hostname);
    return { id: m.id, hostname: m.hostname, changed: ctx.fleet.removeMachine(m.id), jobs, chroots };
  });
}
