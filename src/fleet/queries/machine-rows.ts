// The compact facts of every machine in one query: what the machine list filters and sorts by
// and the overview counts (machine-states.ts), with the outdated and security counts taken from
// the cached answers' count columns, never from the answers themselves (both joins read covering
// indexes of migration 12: the rows hold the answers and the reports' extras). A cached answer that is
// missing or older than its view's current snapshots is computed first (in slices, or in the
// server's worker) so that the counts are those `machines show` gives.
import { TimeSlicer } from '../../sys/time-slice.js';
import type { ViewSpec } from '../views.js';
import { viewNotReady, type FleetQueryContext } from './context.js';
import type { StateFacts } from './machine-states.js';

export interface MachineFactsRow extends StateFacts {
  id: number;
  hostname: string;
  architecture: string;
  codename: string | null;
  parentId: number | null;
  reportedAt: number | null;
  profileId: number | null;
  viewId: number | null;
}

// Three scans rather than a join per machine: the machine table in its own order, the reports'
// covering index (view, reboot flag) and the cached answers' counts (one row per profile and view)
type MachineRaw = [
  id: number,
  hostname: string,
  architecture: string,
  codename: string | null,
  status: 'pending' | 'approved',
  parentId: number | null,
  lastSeen: number | null,
  reportedAt: number | null,
  profileId: number | null,
  clone: number,
];
const MACHINES = `SELECT id, hostname, architecture, codename, status, parent_id, last_seen, reported_at, profile_id,
  clone_machine_id IS NOT NULL FROM machine`;
// what the states read, and no more (each value read costs; the overview counts 20,000 machines)
const STATE_COLUMNS = 'SELECT id, status, last_seen, profile_id, clone_machine_id IS NOT NULL FROM machine';
const REPORTS = 'SELECT machine_id, view_id, reboot_required FROM machine_report INDEXED BY machine_report_compact';
const COUNTS =
  'SELECT profile_id, view_id, snapshots, outdated, security FROM outdated_cache INDEXED BY outdated_cache_counts';
const REENROLS = 'SELECT machine_id FROM machine_reenrol';

/** Machine id → the view and reboot flag of its last report (all() in one call: iterate() costs a call per row). */
export function reportsById(ctx: FleetQueryContext): Map<number, [viewId: number | null, reboot: number | null]> {
  const out = new Map<number, [number | null, number | null]>();
  for (const [id, view, reboot] of ctx.db.prepare<[], [number, number | null, number | null]>(REPORTS).raw(true).all())
    out.set(id, [view, reboot]);
  return out;
}

/** Machine id → the agent version its facts name (read when the list is sorted by it). */
export function agentVersions(ctx: FleetQueryContext): Map<number, string | null> {
  const rows = ctx.db
    .prepare<[], [number, string | null]>("SELECT id, json_extract(facts, '$.agentVersion') FROM machine")
    .raw(true)
    .all();
  return new Map(rows);
}

/**
 * Every machine's compact facts (in no particular order), with current outdated counts; with
 * `statesOnly`, only what the states read (hostname, architecture, codename left empty).
 */
export async function machineFacts(
  ctx: FleetQueryContext,
  o: { statesOnly?: boolean } = {},
): Promise<MachineFactsRow[]> {
  const raw: MachineRaw[] = o.statesOnly
    ? ctx.db
        .prepare<[], [number, 'pending' | 'approved', number | null, number | null, number]>(STATE_COLUMNS)
        .raw(true)
        .all()
        .map(([id, status, lastSeen, profileId, clone]) => [
          id,
          '',
          '',
          null,
          status,
          null,
          lastSeen,
          null,
          profileId,
          clone,
        ])
    : ctx.db.prepare<[], MachineRaw>(MACHINES).raw(true).all();
  const reports = reportsById(ctx);
  // (profile, view) as one number: no string per machine
  const pair = (profileId: number, viewId: number) => profileId * 4_294_967_296 + viewId;
  const cachedCounts = new Map<number, [snapshots: string, outdated: number | null, security: number | null]>();
  for (const [p, v, snapshots, outdated, security] of ctx.db
    .prepare<[], [number, number, string, number | null, number | null]>(COUNTS)
    .raw(true)
    .all())
    cachedCounts.set(pair(p, v), [snapshots, outdated, security]);
  const reenrols = new Set(
    ctx.db
      .prepare<[], [number]>(REENROLS)
      .raw(true)
      .all()
      .map((r) => r[0]),
  );
  // per view, once: whether answers in it can be known, and the snapshots a current answer names
  const views = new Map<number, { ready: boolean; current: string }>();
  const viewOf = (id: number) => {
    let v = views.get(id);
    if (!v) {
      const ready = viewNotReady(ctx, id) === undefined;
      const text = ctx.viewDefs.view(id);
      const current = ready && text !== undefined ? ctx.views.currentIds(JSON.parse(text) as ViewSpec).join(',') : '';
      v = { ready, current };
      views.set(id, v);
    }
    return v;
  };
  // per (profile, view), once: its current counts (computed first when missing or stale)
  const counts = new Map<number, [number, number]>();
  const slicer = new TimeSlicer();
  const countsOf = async (profileId: number, viewId: number): Promise<[number, number]> => {
    const key = pair(profileId, viewId);
    let c = counts.get(key);
    if (!c) {
      const cached = cachedCounts.get(key);
      if (cached && cached[0] === viewOf(viewId).current && cached[1] !== null && cached[2] !== null)
        c = [cached[1], cached[2]];
      else {
        const a = await ctx.outdated.getInSlices(profileId, viewId, slicer);
        c = [a.result.counts.outdated, a.result.counts.security];
      }
      counts.set(key, c);
    }
    return c;
  };
  const out: MachineFactsRow[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const [id, hostname, architecture, codename, status, parentId, lastSeen, reportedAt, profileId, clone] = raw[i]!;
    const report = reports.get(id);
    const viewId = report ? report[0] : null;
    let c: [number, number] | undefined;
    if (profileId !== null && viewId !== null && viewOf(viewId).ready)
      c = counts.get(pair(profileId, viewId)) ?? (await countsOf(profileId, viewId));
    out[i] = {
      id,
      hostname,
      architecture,
      codename,
      status,
      parentId,
      lastSeen,
      reportedAt,
      profileId,
      viewId,
      outdated: c ? c[0] : null,
      security: c ? c[1] : null,
      rebootRequired: report ? report[1] === 1 : null,
      reenrolment: reenrols.has(id),
      clone: clone === 1,
    };
    if ((i & 1023) === 1023) await slicer.tick();
  }
  return out;
}
