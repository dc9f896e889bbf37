// The fleet's queries over the assembled services: the operations (ops/run.ts) and the agents'
// edge (app.ts: agent.exposures) ask the same questions through one context.
import { createHash } from 'node:crypto';
import type { FleetQueryContext } from '../fleet/queries/context.js';
import { listCves } from '../fleet/queries/exposures.js';
import { preloadList } from '../fleet/queries/preload.js';
import type { SiteRow } from '../state/sites.js';
import { MAX_PRELOAD_ITEMS, type PreloadList } from '../proxy/preload-list.js';
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
/** How long the later pages of a list are answered from it (the site reads them right after the first). */
const SITE_PRELOAD_PAGES_MS = 5 * 60_000;
/** Items per page of site.preload: a page stays well under the site's 1 MiB answer limit. */
export const SITE_PRELOAD_PAGE = 2000;

/** A site's list as site.preload hands it out: hashed once, in pages. */
export interface SitePreloadList {
  list: PreloadList;
  /** SHA-256 over the pages' JSON: the site asks again only when it changes */
  hash: string;
  /** each page's JSON {items} (the first also {totals, dists}) */
  pages: string[];
}

/**
 * A site's pre-load list (site.preload): the files its member machines' pending upgrades
 * download, in pages. A site asks once per report; one asking more often (a multicall of 100, a
 * loop) gets the list being made, or made in the last 10 s, not a new one each time; the later
 * pages come from the list of the first.
 */
export function sitePreload(s: Services): (site: SiteRow, firstPage: boolean) => Promise<SitePreloadList> {
  const ctx = queryContext(s);
  const recent = new Map<number, { at: number; stamp: string; done: boolean; list: Promise<SitePreloadList> }>();
  // what the list is made of: the machines' reports, the snapshots, the stages, the sites
  const stampOf = s.db.prepare<[], { stamp: string }>(
    `SELECT (SELECT max(reported_at) FROM machine_report) || '/' || (SELECT max(id) FROM snapshot) || '/' ||
      (SELECT max(id) FROM stage_gen) || '/' || (SELECT group_concat(name || networks || classes) FROM site) AS stamp`,
  );
  return (site, firstPage) => {
    const now = Date.now();
    const stamp = String(stampOf.get()?.stamp);
    const r = recent.get(site.id);
    // the first page: a list made in the last seconds of the same data; a later one: the list of that first page
    if (
      r &&
      (firstPage
        ? !r.done || (now - r.at < SITE_PRELOAD_REUSE_MS && r.stamp === stamp)
        : now - r.at < SITE_PRELOAD_PAGES_MS)
    )
      return r.list;
    for (const [id, x] of recent) if (now - x.at >= SITE_PRELOAD_PAGES_MS) recent.delete(id);
    const list = (async () => {
      const a = await preloadList(ctx, await s.sites.membersOfSite(site.name));
      // the most needed first: beyond the site's bound, the rest waits for a later list
      const items = a.items.slice(0, MAX_PRELOAD_ITEMS);
      const totals = { files: items.length, bytes: items.reduce((n, x) => n + x.size, 0) };
      const l: PreloadList = { items, totals, dists: a.dists ?? [] };
      return { list: l, ...(await preloadPages(l)) };
    })();
    const entry = { at: now, stamp, done: false, list };
    void list.then(
      () => (entry.done = true),
      () => undefined,
    );
    recent.set(site.id, entry);
    list.catch(() => recent.delete(site.id));
    return list;
  };
}

/** A list's pages (the JSON of each; the first has totals and dists too) and their hash, a turn between pages. */
export async function preloadPages(
  l: PreloadList,
  size = SITE_PRELOAD_PAGE,
): Promise<{ hash: string; pages: string[] }> {
  const hash = createHash('sha256');
  const pages: string[] = [];
  for (let i = 0; i === 0 || i < l.items.length; i += size) {
    const items = l.items.slice(i, i + size);
    const text = JSON.stringify(i === 0 ? { items, totals: l.totals, dists: l.dists ?? [] } : { items });
    hash.update(text);
    pages.push(text);
    await new Promise((r) => setImmediate(r));
  }
  return { hash: hash.digest('hex'), pages };
}
