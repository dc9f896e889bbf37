// The compact facts of every machine in one query: what the machine list filters and sorts by
// and the overview counts (machine-states.ts), with the outdated and security counts taken from
// the cached answers' count columns, never from the answers themselves. A cached answer that is
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
  agentVersion: string | null;
  profileId: number | null;
  viewId: number | null;
}

interface Raw {
  id: number;
  hostname: string;
  architecture: string;
  codename: string | null;
  status: 'pending' | 'approved';
  parentId: number | null;
  lastSeen: number | null;
  reportedAt: number | null;
  agentVersion: string | null;
  profileId: number | null;
  viewId: number | null;
  reported: number;
  reboot: number | null;
  reenrol: number;
  clone: number;
}

const SQL = `SELECT m.id, m.hostname, m.architecture, m.codename, m.status, m.parent_id AS parentId,
  m.last_seen AS lastSeen, m.reported_at AS reportedAt, json_extract(m.facts, '$.agentVersion') AS agentVersion,
  m.profile_id AS profileId, r.view_id AS viewId, r.machine_id IS NOT NULL AS reported,
  r.reboot_required AS reboot, m.clone_machine_id IS NOT NULL AS clone,
  EXISTS (SELECT 1 FROM machine_reenrol e WHERE e.machine_id = m.id) AS reenrol
FROM machine m
LEFT JOIN machine_report r ON r.machine_id = m.id
ORDER BY m.hostname, m.id`;

// Apart from the machines, and not joined to them: a row of outdated_cache holds its whole answer
// (up to 120 KB, overflow pages) before the counts, so a join reads that chain once per machine
// (20,000 machines over 200 answers: 8-18 s in bench:api); one pass over the cache reads it once.
const COUNTS_SQL = `SELECT profile_id AS profileId, view_id AS viewId, snapshots, outdated, security FROM outdated_cache
WHERE outdated IS NOT NULL AND security IS NOT NULL`;

interface Counts {
  profileId: number;
  viewId: number;
  snapshots: string;
  outdated: number;
  security: number;
}

/** Every machine's compact facts, in hostname order, with current outdated counts. */
export async function machineFacts(ctx: FleetQueryContext): Promise<MachineFactsRow[]> {
  const raw = ctx.db.prepare<[], Raw>(SQL).all();
  const cached = new Map<string, Counts>();
  for (const c of ctx.db.prepare<[], Counts>(COUNTS_SQL).all()) cached.set(`${c.profileId}/${c.viewId}`, c);
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
  const computed = new Map<string, { outdated: number; security: number }>();
  const slicer = new TimeSlicer();
  const out: MachineFactsRow[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i]!;
    let outdated: number | null = null;
    let security: number | null = null;
    if (r.profileId !== null && r.reported && r.viewId !== null && viewOf(r.viewId).ready) {
      const key = `${r.profileId}/${r.viewId}`;
      const cc = cached.get(key);
      if (cc && cc.snapshots === viewOf(r.viewId).current) {
        outdated = cc.outdated;
        security = cc.security;
      } else {
        // missing or stale: answered now (and kept), once per (profile, view)
        let c = computed.get(key);
        if (!c) {
          const a = await ctx.outdated.getInSlices(r.profileId, r.viewId, slicer);
          c = { outdated: a.result.counts.outdated, security: a.result.counts.security };
          computed.set(key, c);
        }
        ({ outdated, security } = c);
      }
    }
    out[i] = {
      id: r.id,
      hostname: r.hostname,
      architecture: r.architecture,
      codename: r.codename,
      status: r.status,
      parentId: r.parentId,
      lastSeen: r.lastSeen,
      reportedAt: r.reportedAt,
      agentVersion: r.agentVersion,
      profileId: r.profileId,
      viewId: r.reported ? r.viewId : null,
      outdated,
      security,
      rebootRequired: r.reported ? r.reboot === 1 : null,
      reenrolment: r.reenrol === 1,
      clone: r.clone === 1,
    };
    if ((i & 1023) === 1023) await slicer.tick();
  }
  return out;
}
