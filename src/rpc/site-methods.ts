// The site.* methods (issue 18): a site cache registers with a site token, then reports its
// statistics in calls signed with its secret (protocol/signing.ts, the site's header). Every
// member is checked here (type, range, size) before the registry sees it: a report that fails
// any check changes nothing. Documented in docs/sites.md.
import { fail } from '../errors.js';
import type { SiteRegistry, VerifiedSite } from '../fleet/sites.js';
import type { SitePreload, SiteReport } from '../protocol/wire.js';
import type { MethodTable } from './methods.js';

type Struct = Record<string, unknown>;

const isStruct = (v: unknown): v is Struct =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);

function str(s: Struct, k: string, max: number, optional = false): string {
  const v = s[k];
  if (optional && v === undefined) return '';
  if (typeof v !== 'string' || v.length > max)
    fail('RPC_INVALID_PARAMS', `${k} must be a string of at most ${max} characters`);
  return v;
}

/** A count: XML-RPC's int is 32 bits, so counts travel as decimal strings (an int is taken too); 0..2^53-1. */
function count(s: Struct, k: string): number {
  const v = s[k];
  const n = typeof v === 'string' && /^[0-9]{1,16}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    fail('RPC_INVALID_PARAMS', `${k} must be a whole number in 0..2^53-1`);
  return n;
}

function preloadOf(p: unknown): SitePreload {
  if (p === undefined) return { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  if (!isStruct(p))
    fail('RPC_INVALID_PARAMS', 'preload must be a struct {files_done, files_total, bytes_done, bytes_total}');
  const out = {
    filesDone: count(p, 'files_done'),
    filesTotal: count(p, 'files_total'),
    bytesDone: count(p, 'bytes_done'),
    bytesTotal: count(p, 'bytes_total'),
  };
  if (out.filesDone > out.filesTotal || out.bytesDone > out.bytesTotal)
    fail('RPC_INVALID_PARAMS', 'preload: done must not exceed total');
  return out;
}

/** A report as sent, checked member by member. */
export function checkSiteReport(s: Struct): SiteReport {
  const health = str(s, 'health', 16);
  if (health !== 'ok' && health !== 'degraded') fail('RPC_INVALID_PARAMS', 'health must be "ok" or "degraded"');
  const reason = str(s, 'reason', 500, true);
  if (/[\u0000-\u001f\u007f]/.test(reason)) fail('RPC_INVALID_PARAMS', 'reason must be one line of text');
  return {
    started: count(s, 'started'),
    bytesLocal: count(s, 'bytes_local'),
    bytesParent: count(s, 'bytes_parent'),
    hits: count(s, 'hits'),
    misses: count(s, 'misses'),
    health,
    reason,
    preload: preloadOf(s['preload']),
  };
}

export interface SiteMethodDeps {
  /** the pre-load list of a site's machines in pages (fleet/queries/preload.ts over the site's members) */
  preloadFor: (site: VerifiedSite, firstPage: boolean) => Promise<{ hash: string; pages: string[] }>;
}

export function registerSiteMethods(table: MethodTable, sites: SiteRegistry, deps: SiteMethodDeps): void {
  table.add({
    name: 'site.preload',
    signature: ['struct', 'struct'],
    site: true,
    help: 'What the site\'s machines will download, a page at a time: {have: string (the hash of the list the site holds, "" for none), page: int (from 0)} → {hash: string, pages: int, list: string (the page\'s JSON: {items: [{path, size, sha256, machines}]}, the first page also {totals, dists}; "" when hash is have)}. Later pages come from the list of the first (kept 5 minutes); a site that sees the hash change between pages starts again. Signed by the site.',
    handler: async ([p], ctx) => {
      const s = p as Struct;
      const have = str(s, 'have', 64, true);
      const page = s['page'] === undefined ? 0 : s['page'];
      if (typeof page !== 'number' || !Number.isInteger(page) || page < 0 || page > 100_000)
        fail('RPC_INVALID_PARAMS', 'page must be a whole number from 0');
      const l = await deps.preloadFor(ctx.site!, page === 0);
      if (page >= l.pages.length) fail('RPC_INVALID_PARAMS', `page ${page}: the list has ${l.pages.length}`);
      return { hash: l.hash, pages: l.pages.length, list: l.hash === have ? '' : l.pages[page]! };
    },
  });
  table.add({
    name: 'site.register',
    signature: ['struct', 'struct'],
    help: 'A site cache registers: {token: string (from aptgate sites token), name: string (its proposed name; the token\'s when it names one), url: string (how its machines reach it; "" for none yet)} → {site: int, name: string, secret: string}. The secret signs every later call of the site (header X-Aptgate-Site); it is given only here. Fault 4 for a token that is unknown, expired or used.',
    handler: ([p], ctx) => {
      const s = p as Struct;
      const r = sites.register(str(s, 'token', 200), str(s, 'name', 63, true), str(s, 'url', 300, true), ctx.client);
      return { site: r.site, name: r.name, secret: r.secret };
    },
  });
  table.add({
    name: 'site.report',
    signature: ['struct', 'struct'],
    site: true,
    help: 'A site\'s statistics since its process started: {started, bytes_local, bytes_parent, hits, misses (whole numbers; decimal strings, XML-RPC\'s int being 32 bits), health: "ok"|"degraded", reason, preload: {files_done, files_total, bytes_done, bytes_total}} → {accepted: boolean}. Signed by the site.',
    handler: ([p], ctx) => sites.report(ctx.site!, checkSiteReport(p as Struct), ctx.client),
  });
}
