// The site registry for the administrator and the API (issue 18): plain functions over the
// registry that return the documented JSON shapes (docs/sites.md); cli/sites-format.ts
// prints them.
import { fail } from '../../errors.js';
import type { SiteRow } from '../../state/sites.js';
import type { ClassService } from '../classes.js';
import { checkSiteName, siteUrl, type SiteRegistry } from '../sites.js';
import { parseNetwork } from '../site-membership.js';
import { iso } from './context.js';

export interface SiteInfo {
  name: string;
  url: string;
  networks: string[];
  classes: string[];
  createdAt: string | null;
  lastContact: string | null;
  lastAddress: string | null;
  bytesLocal: number;
  bytesParent: number;
  hits: number;
  misses: number;
  /** hits / (hits + misses); null before any */
  hitRatio: number | null;
  health: 'unknown' | 'ok' | 'degraded';
  healthReason: string;
  preload: { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number };
  machines: number;
}

export function siteInfo(s: SiteRow, machines: number): SiteInfo {
  const seen = s.hits + s.misses;
  return {
    name: s.name,
    url: s.url,
    networks: s.networks,
    classes: s.classes,
    createdAt: iso(s.createdAt),
    lastContact: iso(s.lastContact),
    lastAddress: s.lastAddress,
    bytesLocal: s.bytesLocal,
    bytesParent: s.bytesParent,
    hits: s.hits,
    misses: s.misses,
    hitRatio: seen ? Math.round((s.hits / seen) * 10_000) / 10_000 : null,
    health: s.health,
    healthReason: s.healthReason,
    preload: {
      filesDone: s.preload.filesDone ?? 0,
      filesTotal: s.preload.filesTotal ?? 0,
      bytesDone: s.preload.bytesDone ?? 0,
      bytesTotal: s.preload.bytesTotal ?? 0,
    },
    machines,
  };
}

export async function listSites(sites: SiteRegistry): Promise<SiteInfo[]> {
  const counts = await sites.machineCounts();
  return sites.store.all().map((s) => siteInfo(s, counts.get(s.name) ?? 0));
}

export async function showSite(sites: SiteRegistry, name: string): Promise<SiteInfo> {
  const s = sites.get(name);
  return siteInfo(s, (await sites.machineCounts()).get(s.name) ?? 0);
}

export interface SiteTokenCreated {
  id: number;
  token: string;
  name: string | null;
  expiresAt: string | null;
  /** the central server's key fingerprint (null until the server made its key) */
  fingerprint: string | null;
  /** what to run on the site host */
  joinCommand: string;
}

export function createSiteToken(
  sites: SiteRegistry,
  o: { name?: string; expiresMs?: number; parent: string; fingerprint: string | null },
): SiteTokenCreated {
  const t = sites.createToken({
    ...(o.name === undefined ? {} : { name: o.name }),
    ...(o.expiresMs === undefined ? {} : { expiresInMs: o.expiresMs }),
  });
  return {
    id: t.id,
    token: t.token,
    name: t.name,
    expiresAt: iso(t.expiresAt),
    fingerprint: o.fingerprint,
    joinCommand: `aptgate site join --parent ${o.parent} --token ${t.token} --fingerprint ${o.fingerprint ?? 'FINGERPRINT'}${t.name ? ` --name ${t.name}` : ''} --url http://SITE-HOST:3142`,
  };
}

/** `aptgate sites set`: each setting given replaces the site's. */
export async function setSite(
  sites: SiteRegistry,
  classes: ClassService,
  name: string,
  o: { networks?: string[]; classes?: string[]; url?: string },
): Promise<SiteInfo> {
  const s = sites.get(checkSiteName(name, 'USAGE'));
  const networks = o.networks?.filter((n) => n.trim() !== '').map(parseNetwork);
  if (networks && networks.length > 100) fail('USAGE', 'at most 100 networks a site');
  const cls = o.classes?.filter((c) => c.trim() !== '');
  if (cls && cls.length > 100) fail('USAGE', 'at most 100 classes a site');
  for (const c of cls ?? [])
    if (!classes.byName(c)) fail('USAGE', `no class named ${c.slice(0, 80)} (aptgate classes list)`);
  const url = o.url === undefined ? undefined : siteUrl(o.url, 'USAGE');
  sites.store.set(s.id, {
    ...(networks ? { networks: [...new Set(networks)] } : {}),
    ...(cls ? { classes: [...new Set(cls)] } : {}),
    ...(url === undefined ? {} : { url }),
  });
  return showSite(sites, s.name);
}

export function removeSite(sites: SiteRegistry, name: string): { removed: string } {
  const s = sites.get(name);
  sites.store.remove(s.id);
  return { removed: s.name };
}
