// The fleet's queries over the assembled services: the operations (ops/run.ts) and the agents'
// edge (app.ts: agent.exposures) ask the same questions through one context.
import type { FleetQueryContext } from '../fleet/queries/context.js';
import { listCves } from '../fleet/queries/exposures.js';
import { preloadList } from '../fleet/queries/preload.js';
import type { SiteRow } from '../state/sites.js';
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

/** A site's pre-load list (site.preload): the files its member machines' pending upgrades download. */
export function sitePreload(s: Services): (site: SiteRow) => Promise<{ items: unknown[]; totals: unknown }> {
  const ctx = queryContext(s);
  return async (site) => {
    const r = await preloadList(ctx, await s.sites.membersOfSite(site.name));
    return { items: r.items, totals: r.totals };
  };
}
