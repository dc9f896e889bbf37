// One CVE for the administrator and the API (cves.show): what each feed says, the machines
// exposed with where the fix stands for each, and the fix's standing per stage of the gate. The
// groups of machines and their exposures are those of exposures.ts (kept per state of the feeds
// and of the views); answers are read only for the groups whose installed set is exposed.
import { ladderText, type StageStanding } from '../../advisories/exposures-stages.js';
import { fail } from '../../errors.js';
import type { AdvisoryUrgency } from '../../index/advisories/types.js';
import { byUrgency, type FixStatus } from '../../index/exposures.js';
import type { ProfileExposures } from '../../advisories/exposures.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import type { FleetQueryContext } from './context.js';
import {
  checkCve,
  exposureAt,
  fleetGroups,
  groupExposures,
  membersOf,
  newProbe,
  noCounts,
  paging,
  partsOf,
  type Exposure,
  type StatusCounts,
} from './exposures.js';

export interface CveMachine {
  id: number;
  hostname: string;
  release: string;
  source: string;
  installed: string;
  fixed: string | null;
  status: FixStatus;
  candidate: string | null;
}

export interface CveDetail {
  cve: string;
  summary: string | null;
  urgency: AdvisoryUrgency;
  /** what each feed says, per source and release */
  records: Array<{
    feed: string;
    advisory: string | null;
    source: string;
    release: string;
    fixedVersion: string | null;
    status: string;
    urgency: AdvisoryUrgency;
  }>;
  /** per release and source with a fix: each stage of the gate, whether its content has it */
  stages: Array<{ release: string; source: string; fixed: string; standing: string; stages: StageStanding[] }>;
  /** machines exposed, per status (all of them; the list below is a page) */
  statuses: StatusCounts;
  machines: CveMachine[];
  total: number;
  page: number;
  limit: number;
}

export async function showCve(
  ctx: FleetQueryContext,
  cveRef: string,
  o: { page?: number; limit?: number } = {},
): Promise<CveDetail> {
  const cve = checkCve(cveRef);
  const { page, limit } = paging(o);
  const p = partsOf(ctx);
  const records = p.service.advisories.forCve(cve);
  if (!records.length) fail('NOT_FOUND', `no advisory names ${cve}`);
  const releases = new Set(records.map((r) => r.release));
  const slicer = new TimeSlicer();
  const probe = newProbe();
  const binaries = new Map<string, Set<string>>();
  // the groups exposed, each with its exposures to the CVE (one per source of the CVE it runs)
  const exposed: Array<{ g: Group; list: Exposure[] }> = [];
  const byKey = new Map<string, Exposure[]>();
  for (const g of await fleetGroups(ctx, slicer)) {
    await slicer.tick();
    if (g.profileId === null || !g.codename || !releases.has(g.codename)) continue;
    // the installed set alone says whether the machines are exposed: answers are read only for those that are
    const installed = await p.service.ofProfile(g.profileId, g.codename, slicer);
    if (!indexOf(installed).has(cve)) continue;
    const a = await groupExposures(ctx, g.profileId, g.viewId, g.codename, slicer, probe);
    const list: Exposure[] = [];
    for (const i of indexOf(a.x).get(cve) ?? []) {
      const e = exposureAt(a, i);
      const key = `${g.codename} ${e.source}`;
      const names = binaries.get(key) ?? new Set([e.source]);
      for (const n of e.packages) names.add(n);
      binaries.set(key, names);
      list.push(e);
    }
    if (!list.length) continue;
    exposed.push({ g, list });
    byKey.set(groupKey(g.profileId, g.viewId, g.codename), list);
  }
  const statuses = noCounts();
  let total = 0;
  for (const { g, list } of exposed)
    for (const e of list) {
      statuses[e.status] += g.machines;
      total += g.machines;
    }
  const first = (page - 1) * limit;
  const hit = (x: { id: number; hostname: string }, release: string, e: Exposure): CveMachine => ({
    id: x.id,
    hostname: x.hostname,
    release,
    source: e.source,
    installed: e.installed,
    fixed: e.fixed,
    status: e.status,
    candidate: e.candidate,
  });
  let machines: CveMachine[] = [];
  if (exposed.every((x) => x.list.length === 1)) {
    // one row per machine: the page is read by hostname from the index, the counts are the groups'
    const pairs = [...new Map(exposed.map(({ g }) => [`${g.profileId}/${g.codename}`, g])).values()];
    for (const x of pagedMembers(ctx, pairs, first, limit)) {
      await slicer.tick();
      const key = groupKey(x.profileId, x.viewId, x.codename);
      let list = byKey.get(key);
      if (!list) {
        // the machine moved to another view meanwhile: its group's answer now
        const a = await groupExposures(ctx, x.profileId, x.viewId, x.codename, slicer, probe);
        list = (indexOf(a.x).get(cve) ?? []).map((i) => exposureAt(a, i));
        byKey.set(key, list);
      }
      for (const e of list) machines.push(hit(x, x.codename, e));
    }
  } else {
    // a machine exposed through two sources is two rows: every member is read
    const hits: CveMachine[] = [];
    for (const { g, list } of exposed) {
      await slicer.tick();
      const members = membersOf(ctx, g);
      for (const e of list) for (const x of members) hits.push(hit(x, g.codename!, e));
    }
    hits.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.id - b.id));
    total = hits.length;
    for (const k of Object.keys(statuses) as FixStatus[]) statuses[k] = 0;
    for (const h of hits) statuses[h.status]++;
    machines = hits.slice(first, first + limit);
  }
  const stages: CveDetail['stages'] = [];
  const seen = new Set<string>();
  for (const r of records) {
    const key = `${r.release} ${r.source}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const issue = p.service.issuesOf(r.source, r.release).find((i) => i.cve === cve);
    if (!issue?.fixed) continue;
    await slicer.tick();
    const st = p.ladder.standing(
      ctx.config.gate.stages,
      r.release,
      r.source,
      [...(binaries.get(key) ?? [r.source])],
      issue.fixed,
    );
    if (st.some((s) => s.suites.length))
      stages.push({ release: r.release, source: r.source, fixed: issue.fixed, standing: ladderText(st), stages: st });
  }
  const urgencies = records.map((r) => r.urgency).filter((u) => u !== 'unknown');
  return {
    cve,
    summary: records.find((r) => r.summary !== null)?.summary ?? null,
    urgency: urgencies.length
      ? [...urgencies].sort((a, b) => byUrgency({ urgency: a, cve, source: '' }, { urgency: b, cve, source: '' }))[0]!
      : 'unknown',
    records: records.map((r) => ({
      feed: r.feed,
      advisory: r.advisory,
      source: r.source,
      release: r.release,
      fixedVersion: r.fixedVersion,
      status: r.status,
      urgency: r.urgency,
    })),
    stages,
    statuses,
    machines,
    total,
    page,
    limit,
  };
}

type Group = Awaited<ReturnType<typeof fleetGroups>>[number];

const groupKey = (profileId: number | null, viewId: number | null, codename: string | null) =>
  `${profileId}/${viewId ?? '-'}/${codename}`;

/** Per profile's exposures, where each CVE is in its list (a CVE's question asks each group's). */
const cveIndexes = new WeakMap<ProfileExposures, Map<string, number[]>>();

function indexOf(x: ProfileExposures): Map<string, number[]> {
  let m = cveIndexes.get(x);
  if (!m) {
    m = new Map();
    for (let i = 0; i < x.issues.length; i++) {
      const c = x.issues[i]!.cve;
      const l = m.get(c);
      if (l) l.push(i);
      else m.set(c, [i]);
    }
    cveIndexes.set(x, m);
  }
  return m;
}

/**
 * A page of the machines of the given installed sets and releases, by hostname then id, with their
 * view: read from the index machine_by_profile_release (the top of the order is kept, not all).
 */
function pagedMembers(
  ctx: FleetQueryContext,
  pairs: readonly Group[],
  offset: number,
  limit: number,
): Array<{ id: number; hostname: string; profileId: number; codename: string; viewId: number | null }> {
  if (!pairs.length) return [];
  return ctx.db
    .prepare<unknown[], { id: number; hostname: string; profileId: number; codename: string; viewId: number | null }>(
      `SELECT x.id, x.hostname, x.profileId, x.codename, r.view_id AS viewId
       FROM (SELECT m.id, m.hostname, m.profile_id AS profileId, m.codename FROM machine m
             WHERE (m.profile_id, m.codename) IN (VALUES ${pairs.map(() => '(?, ?)').join(', ')})
             ORDER BY m.hostname, m.id LIMIT ? OFFSET ?) x
       LEFT JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = x.id
       ORDER BY x.hostname, x.id`,
    )
    .all(...pairs.flatMap((g) => [g.profileId, g.codename]), limit, offset);
}
