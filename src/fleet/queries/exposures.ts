// Exposures for the administrator and the API: per machine, the advisories its installed sources
// are exposed to and where each fix stands (its view's outdated answer; behind the gate the same
// view read from upstream); the issues of the fleet, per CVE and source (one CVE in detail:
// exposures-cve.ts). Worked out per group of machines with the same installed set, view and
// release (200 profiles serve 20,000 machines), kept per state of the feeds and of the views'
// snapshots, in time slices. Shapes: docs/cli-fleet.md.
import { ExposureService, type ProfileExposures } from '../../advisories/exposures.js';
import { StageLadder } from '../../advisories/exposures-stages.js';
import { fail } from '../../errors.js';
import { isCveId, URGENCIES, type AdvisoryUrgency } from '../../index/advisories/types.js';
import {
  bySource,
  byUrgency,
  fixStatus,
  FIX_STATUSES,
  type EntriesBySource,
  type FixAnswers,
  type FixStatus,
  type Issue,
} from '../../index/exposures.js';
import { AdvisoryStore } from '../../state/advisories.js';
import { cached, type Db } from '../../state/db.js';
import { SnapshotStore } from '../../state/snapshots.js';
import { StageStore } from '../../state/stages.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import { viewNotReady, type FleetQueryContext } from './context.js';

/** One exposure of a machine (`machines show --json` .exposures.list, `cves --machine`). */
export interface Exposure {
  cve: string;
  urgency: AdvisoryUrgency;
  source: string;
  /** the lowest installed version of the source */
  installed: string;
  /** null: not fixed (open in the tracker) */
  fixed: string | null;
  status: FixStatus;
  /** the source version that brings the fix where the machine can get it (its view, or upstream of its stage) */
  candidate: string | null;
  /** the binaries of the source installed */
  packages: string[];
  advisories: string[];
}

export type StatusCounts = Record<FixStatus, number>;

export interface MachineExposures {
  /** false when the server cannot tell the machine's exposures (no report, release unknown) */
  known: boolean;
  reason: string | null;
  release: string | null;
  total: number;
  statuses: StatusCounts;
  list: Exposure[];
}

interface Parts {
  service: ExposureService;
  ladder: StageLadder;
  groups: Map<string, GroupAnswer>;
  /** the feeds' state the groups were last all worked out for (warmExposures) */
  warmed?: string;
}

/** Group answers kept (per profile, view and release). */
const GROUPS_KEPT = 2000;
const parts = new WeakMap<Db, Parts>();

export function partsOf(ctx: FleetQueryContext): Parts {
  let p = parts.get(ctx.db);
  if (!p) {
    p = {
      service: new ExposureService(new AdvisoryStore(ctx.db), ctx.profiles),
      ladder: new StageLadder(ctx.db, new StageStore(ctx.db), new SnapshotStore(ctx.db)),
      groups: new Map(),
    };
    parts.set(ctx.db, p);
  }
  return p;
}

/** Zero per status, in FIX_STATUSES' order (a literal: a fleet's list makes thousands). */
export const noCounts = (): StatusCounts => ({
  upgradable: 0,
  'kept-back': 0,
  held: 0,
  'waiting-at-gate': 0,
  'not-fixed': 0,
  'not-available': 0,
  unknown: 0,
});

/**
 * What one question reads once, not per group: the feeds' state and each view's snapshots (a
 * question is answered as of its start; a change meanwhile is seen by the next one).
 */
export interface Probe {
  feeds?: string;
  views: Map<number | null, string>;
}
export const newProbe = (): Probe => ({ views: new Map() });

/** What the outdated answers say: the view's, and behind the gate upstream's (asked only when needed). */
async function answers(
  ctx: FleetQueryContext,
  profileId: number,
  viewId: number | null,
  slicer: TimeSlicer,
): Promise<{ entries: EntriesBySource | null; upstream: () => Promise<FixAnswers['upstream']> }> {
  const none = { entries: null, upstream: () => Promise.resolve(null) };
  if (viewId === null || viewNotReady(ctx, viewId)) return none;
  const entries = bySource((await ctx.outdated.getInSlices(profileId, viewId, slicer)).result.entries);
  return {
    entries,
    upstream: async () => {
      const up = ctx.outdated.upstreamOf(viewId);
      if (!up) return undefined;
      if (viewNotReady(ctx, up.viewId)) return null;
      return bySource((await ctx.outdated.getInSlices(profileId, up.viewId, slicer)).result.entries);
    },
  };
}

/** What the answers of a (profile, view) pair rest on: the snapshots or stage generations read, here and upstream. */
function viewStamp(ctx: FleetQueryContext, viewId: number | null): string {
  if (viewId === null || ctx.viewDefs.view(viewId) === undefined) return '-';
  const spec = ctx.outdated.spec(viewId);
  const upstream = { ...spec, sources: spec.sources.map(({ stage: _stage, ...rest }) => rest) };
  return `${ctx.views.currentIds(spec).join(',')}|${ctx.views.currentIds(upstream).join(',')}`;
}

/** A group's exposures: the profile's, with each fix's status (an index of FIX_STATUSES) and candidate. */
interface GroupAnswer {
  stamp: string;
  x: ProfileExposures;
  status: Uint8Array;
  candidate: Array<string | null>;
}

export function exposureAt(g: GroupAnswer, i: number): Exposure {
  const issue = g.x.issues[i]!;
  const installed = g.x.installed[i]!;
  return {
    cve: issue.cve,
    urgency: issue.urgency,
    source: issue.source,
    installed: installed.version,
    fixed: issue.fixed,
    status: FIX_STATUSES[g.status[i]!]!,
    candidate: g.candidate[i] ?? null,
    packages: installed.packages,
    advisories: issue.advisories,
  };
}

/** The exposures of an installed set in a view and release, with where each fix stands. */
export async function groupExposures(
  ctx: FleetQueryContext,
  profileId: number,
  viewId: number | null,
  release: string,
  slicer: TimeSlicer,
  probe: Probe = newProbe(),
): Promise<GroupAnswer> {
  const p = partsOf(ctx);
  const key = `${profileId}/${viewId ?? '-'}/${release}`;
  probe.feeds ??= p.service.stamp();
  let views = probe.views.get(viewId);
  if (views === undefined) probe.views.set(viewId, (views = viewStamp(ctx, viewId)));
  const stamp = `${probe.feeds}|${ctx.profiles.byId(profileId)?.sha256 ?? ''}|${views}`;
  const kept = p.groups.get(key);
  if (kept?.stamp === stamp) return kept;
  const x = await p.service.ofProfile(profileId, release, slicer);
  const n = x.issues.length;
  const g: GroupAnswer = { stamp, x, status: new Uint8Array(n), candidate: new Array<string | null>(n).fill(null) };
  if (n) {
    const a = await answers(ctx, profileId, viewId, slicer);
    let fix: FixAnswers = { entries: a.entries };
    for (let pass = 0; pass < 2; pass++) {
      let waiting = false;
      for (let i = 0; i < n; i++) {
        const r = fixStatus(x.issues[i]!, fix);
        g.status[i] = FIX_STATUSES.indexOf(r.status);
        g.candidate[i] = r.candidate;
        if (r.status === 'not-available') waiting = true;
        if ((i & 255) === 255) await slicer.tick();
      }
      // behind the gate, a fix the stage lacks may wait upstream: asked only then
      if (!waiting || pass === 1) break;
      const upstream = await a.upstream();
      if (upstream === undefined) break;
      fix = { entries: a.entries, upstream };
    }
  }
  if (p.groups.size >= GROUPS_KEPT) p.groups.delete(p.groups.keys().next().value!);
  p.groups.set(key, g);
  return g;
}

/** What a machine's exposures depend on: installed set, view and release. */
interface Group {
  profileId: number | null;
  viewId: number | null;
  codename: string | null;
  /** machines in the group */
  machines: number;
}

/**
 * The fleet as groups of machines with the same installed set, view and release (20,000 machines
 * are a few hundred groups), in the order of their first machine; their members are read only
 * when listed. One statement read from two indexes (machine_by_profile_release, and the report's
 * view from machine_report_compact: the rows are wide), about 10 ms at 20,000 machines.
 */
export async function fleetGroups(ctx: FleetQueryContext, slicer: TimeSlicer): Promise<Group[]> {
  await slicer.tick();
  return cached<[], Group & { first: number }>(
    ctx.db,
    `SELECT m.profile_id AS profileId, r.view_id AS viewId, m.codename, count(*) AS machines, min(m.id) AS first
     FROM machine m LEFT JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = m.id
     WHERE m.profile_id IS NOT NULL AND m.codename IS NOT NULL
     GROUP BY m.profile_id, r.view_id, m.codename ORDER BY first`,
  )
    .all()
    .map(({ first: _first, ...g }) => g);
}

export function membersOf(ctx: FleetQueryContext, g: Group): Array<{ id: number; hostname: string }> {
  return cached<[number | null, string | null, number | null], { id: number; hostname: string }>(
    ctx.db,
    `SELECT m.id, m.hostname FROM machine m
     LEFT JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = m.id
     WHERE m.profile_id = ? AND m.codename = ? AND r.view_id IS ?`,
  ).all(g.profileId, g.codename, g.viewId);
}

/**
 * Works out every group's exposures once the feeds changed (an import, a fetch), in time slices
 * in the background: a machine's question is then a lookup, not the first reading of its
 * installed set against 400,000 records. Returns the groups worked out (0: nothing changed).
 */
export async function warmExposures(ctx: FleetQueryContext, slicer = new TimeSlicer()): Promise<number> {
  const p = partsOf(ctx);
  const stamp = p.service.stamp();
  if (p.warmed === stamp) return 0;
  let n = 0;
  for (const g of await fleetGroups(ctx, slicer)) {
    // as many as are kept: more would push out the ones worked out first
    if (n >= GROUPS_KEPT - 100) break;
    if (g.profileId === null || !g.codename) continue;
    await groupExposures(ctx, g.profileId, g.viewId, g.codename, slicer);
    n++;
  }
  // the feeds changed meanwhile: the next turn works them out again
  if (p.service.stamp() === stamp) p.warmed = stamp;
  return n;
}

/** Why the server cannot tell a machine's exposures (null: it can). */
const unknownWhy = (m: Group): string | null =>
  m.profileId === null ? 'no report yet' : !m.codename ? "the machine's release is unknown" : null;

async function exposuresOf(ctx: FleetQueryContext, m: Group, slicer: TimeSlicer): Promise<MachineExposures> {
  const why = unknownWhy(m);
  if (why !== null || m.profileId === null || !m.codename)
    return { known: false, reason: why, release: m.codename, total: 0, statuses: noCounts(), list: [] };
  const g = await groupExposures(ctx, m.profileId, m.viewId, m.codename, slicer);
  const statuses = noCounts();
  const list: Exposure[] = [];
  for (let i = 0; i < g.status.length; i++) {
    const e = exposureAt(g, i);
    statuses[e.status]++;
    list.push(e);
  }
  return { known: true, reason: null, release: m.codename, total: list.length, statuses, list };
}

function machineRow(ctx: FleetQueryContext, ref: string): Group & { id: number; hostname: string } {
  const m = ctx.fleet.machine(ref);
  const r = ctx.fleet.machines.report(m.id);
  return {
    id: m.id,
    hostname: m.hostname,
    codename: m.codename,
    profileId: m.profileId,
    viewId: r?.viewId ?? null,
    machines: 1,
  };
}

/** `machines show`: the machine's exposures. */
export function machineExposures(ctx: FleetQueryContext, ref: string): Promise<MachineExposures> {
  return exposuresOf(ctx, machineRow(ctx, ref), new TimeSlicer());
}

// ---- input ----

export function checkCve(cve: string): string {
  if (!isCveId(cve))
    fail('USAGE', `not a CVE id (CVE-YYYY-NNNN or TEMP-NNNNNNN-XXXXXX): ${JSON.stringify(String(cve).slice(0, 60))}`);
  return cve;
}

export function checkUrgency(u: string): AdvisoryUrgency {
  if (!(URGENCIES as readonly string[]).includes(u))
    fail('USAGE', `urgency: expected one of ${URGENCIES.join(', ')}, got ${JSON.stringify(u.slice(0, 40))}`);
  return u as AdvisoryUrgency;
}

export function paging(o: { page?: number; limit?: number }): { page: number; limit: number } {
  const page = o.page ?? 1;
  const limit = o.limit ?? 100;
  if (!Number.isInteger(page) || page < 1) fail('USAGE', 'page: a whole number from 1');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) fail('USAGE', 'limit: a whole number from 1 to 1000');
  return { page, limit };
}

// ---- cves.list ----

/** One issue of one source across the machines asked about (`cves --json` .cves). */
export interface CveRow {
  cve: string;
  urgency: AdvisoryUrgency;
  source: string;
  release: string;
  fixed: string | null;
  /** machines exposed */
  machines: number;
  statuses: StatusCounts;
  /** with a machine: its installed version and the fix's status; else null */
  installed: string | null;
  status: FixStatus | null;
}

export interface CveList {
  machine: { id: number; hostname: string; known: boolean; reason: string | null; release: string | null } | null;
  cves: CveRow[];
  total: number;
  page: number;
  limit: number;
  /** machines exposed to at least one issue listed (before paging) */
  machinesExposed: number;
}

export async function listCves(
  ctx: FleetQueryContext,
  o: { machine?: string; cve?: string; urgency?: string; page?: number; limit?: number },
): Promise<CveList> {
  const cve = o.cve === undefined ? undefined : checkCve(o.cve);
  const urgency = o.urgency === undefined ? undefined : checkUrgency(o.urgency);
  const { page, limit } = paging(o);
  const one = o.machine === undefined ? undefined : machineRow(ctx, o.machine);
  const slicer = new TimeSlicer();
  const probe = newProbe();
  const rows = new Map<Issue, CveRow>();
  let exposed = 0;
  let about: CveList['machine'] = null;
  for (const g of one ? [one] : await fleetGroups(ctx, slicer)) {
    await slicer.tick();
    if (one) {
      const why = unknownWhy(one);
      about = { id: one.id, hostname: one.hostname, known: why === null, reason: why, release: one.codename };
    }
    if (g.profileId === null || !g.codename) continue;
    const a = await groupExposures(ctx, g.profileId, g.viewId, g.codename, slicer, probe);
    let any = false;
    for (let i = 0; i < a.status.length; i++) {
      if ((i & 1023) === 1023) await slicer.tick();
      // the issues of a source in a release are shared by every profile: one row each
      const issue = a.x.issues[i]!;
      if ((cve !== undefined && issue.cve !== cve) || (urgency !== undefined && issue.urgency !== urgency)) continue;
      any = true;
      const status = FIX_STATUSES[a.status[i]!]!;
      let r = rows.get(issue);
      if (!r) {
        r = {
          cve: issue.cve,
          urgency: issue.urgency,
          source: issue.source,
          release: g.codename,
          fixed: issue.fixed,
          machines: 0,
          statuses: noCounts(),
          installed: one ? a.x.installed[i]!.version : null,
          status: one ? status : null,
        };
        rows.set(issue, r);
      }
      r.machines += g.machines;
      r.statuses[status] += g.machines;
    }
    if (any) exposed += g.machines;
  }
  // the feeds changed meanwhile: the same issue read twice is one row (one machine's group reads
  // one profile's exposures, an issue once)
  const merged = new Map<unknown, CveRow>();
  for (const r of rows.values()) {
    if (one) {
      merged.set(r, r);
      continue;
    }
    const key = `${r.cve} ${r.source} ${r.release}`;
    const m = merged.get(key);
    if (!m) merged.set(key, r);
    else {
      m.machines += r.machines;
      for (const st of FIX_STATUSES) m.statuses[st] += r.statuses[st];
    }
  }
  const all = [...merged.values()].sort(
    (x, y) => byUrgency(x, y) || (x.release < y.release ? -1 : x.release > y.release ? 1 : 0),
  );
  return {
    machine: about,
    cves: all.slice((page - 1) * limit, page * limit),
    total: all.length,
    page,
    limit,
    machinesExposed: exposed,
  };
}
