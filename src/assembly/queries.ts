// The fleet's queries over the assembled services: the operations (ops/run.ts) and the agents'
// edge (app.ts: agent.exposures) ask the same questions through one context.
import type { FleetQueryContext } from '../fleet/queries/context.js';
import { listCves } from '../fleet/queries/exposures.js';
import { preloadList } from '../fleet/queries/preload.js';
import type { SiteRow } from '../state/sites.js';
import type { PreloadList } from '../proxy/preload-list.js';
import type { AgentExposures } from '../protocol/wire.js';
import type { Services } from './services.js';

/** The fleet's query context over the assembled services. */
export function queryContext(s: Services): FleetQueryContext {
  return {
    config: s.config,
    db: s.db,
    fleet: s.fleet,
    outdated: s.outdated,
    profiles: s.state.profiles,
    views: s.views,
    viewDefs: s.state.viewDefs,
    now: s.now,
    changelogRefs: s.changelogRefs,
  };
}

/** Issues listed in an agent's answer (its status line names the most urgent few). */
const AGENT_CVES = 20;
const RANK: Record<string, number> = { critical: 5, high: 4, medium: 3, low: 2, unimportant: 1 };

/** A machine's exposures as its agent is told them (agent.exposures): counts per urgency, the most urgent first. */
export function agentExposures(s: Services): (machine: number) => Promise<AgentExposures> {
  const ctx = queryContext(s);
  return async (machine) => {
    const r = await listCves(ctx, { machine: String(machine), limit: 1000 });
    const byUrgency: Record<string, number> = {};
    for (const c of r.cves) byUrgency[c.urgency] = (byUrgency[c.urgency] ?? 0) + 1;
    const cves = [...r.cves]
      .sort((a, b) => (RANK[b.urgency] ?? 0) - (RANK[a.urgency] ?? 0) || a.cve.localeCompare(b.cve))
      .slice(0, AGENT_CVES)
      .map((c) => ({
        cve: c.cve,
        urgency: c.urgency,
        source: c.source,
        installed: c.installed ?? '',
        fixed: c.fixed ?? '',
        status: c.status ?? '',
      }));
    return { known: r.machine?.known ?? false, total: r.total, byUrgency, cves };
  };
}

/** How long a site's list is answered again without being made again. */
const SITE_PRELOAD_REUSE_MS = 10_000;

/**
 * A site's pre-load list (site.preload): the files its member machines' pending upgrades
 * download. A site asks once per report; one asking more often (a multicall of 100, a loop) gets
 * the list being made, or made in the last 10 s, not a new one each time.
 */
export function sitePreload(s: Services): (site: SiteRow) => Promise<PreloadList> {
  const ctx = queryContext(s);
  const recent = new Map<number, { at: number; list: Promise<PreloadList> }>();
  return (site) => {
    const now = Date.now();
    const r = recent.get(site.id);
    if (r && now - r.at < SITE_PRELOAD_REUSE_MS) return r.list;
    for (const [id, x] of recent) if (now - x.at >= SITE_PRELOAD_REUSE_MS) recent.delete(id);
    const list = (async () => {
      const a = await preloadList(ctx, await s.sites.membersOfSite(site.name));
      return { items: a.items, totals: a.totals, dists: a.dists ?? [] };
    })();
    recent.set(site.id, { at: now, list });
    list.catch(() => recent.delete(site.id));
    return list;
  };
}
