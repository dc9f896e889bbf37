// One CVE for the administrator and the API (cves.show): what each feed says, the machines
// exposed with where the fix stands for each, and the fix's standing per stage of the gate. The
// groups of machines and their exposures are those of exposures.ts (kept per state of the feeds
// and of the views); answers are read only for the groups whose installed set is exposed.
import { ladderText, type StageStanding } from '../../advisories/exposures-stages.js';
import { fail } from '../../errors.js';
import type { AdvisoryUrgency } from '../../index/advisories/types.js';
import { byUrgency, type FixStatus } from '../../index/exposures.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import type { FleetQueryContext } from './context.js';
import {
  checkCve,
  exposureAt,
  fleetGroups,
  groupExposures,
  membersOf,
  noCounts,
  paging,
  partsOf,
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
  const hits: CveMachine[] = [];
  const binaries = new Map<string, Set<string>>();
  for (const g of await fleetGroups(ctx, slicer)) {
    await slicer.tick();
    if (g.profileId === null || !g.codename || !releases.has(g.codename)) continue;
    // the installed set alone says whether the machines are exposed: answers are read only for those that are
    const installed = await p.service.ofProfile(g.profileId, g.codename, slicer);
    if (!installed.issues.some((i) => i.cve === cve)) continue;
    const members = membersOf(ctx, g);
    const a = await groupExposures(ctx, g.profileId, g.viewId, g.codename, slicer);
    for (let i = 0; i < a.status.length; i++) {
      if (a.x.issues[i]!.cve !== cve) continue;
      const e = exposureAt(a, i);
      const key = `${g.codename} ${e.source}`;
      const names = binaries.get(key) ?? new Set([e.source]);
      for (const n of e.packages) names.add(n);
      binaries.set(key, names);
      for (const x of members)
        hits.push({
          id: x.id,
          hostname: x.hostname,
          release: g.codename,
          source: e.source,
          installed: e.installed,
          fixed: e.fixed,
          status: e.status,
          candidate: e.candidate,
        });
    }
  }
  hits.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.id - b.id));
  const statuses = noCounts();
  for (const h of hits) statuses[h.status]++;
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
    machines: hits.slice((page - 1) * limit, page * limit),
    total: hits.length,
    page,
    limit,
  };
}
