// What a site pre-loads: the .deb files its machines' pending upgrades will download, as the
// paths the site asks its parent for (`/<backend>/pool/...` or `/stage/<view>/<backend>/pool/...`)
// with the size and SHA256 the parent's signed index gives. The central server makes the list
// (fleet/queries/preload.ts), the site checks it here before it acts on any of it: the list
// crosses the network, so it is bounded and every path is one a client could ask for.
import { fail } from '../errors.js';
import { STAGE_VIEW } from '../index/stage-view.js';
import { TimeSlicer } from '../sys/time-slice.js';

export interface PreloadItem {
  /** the path at the parent (and at the site): `/<backend>/<pool file>` or `/stage/<view>/<backend>/<pool file>` */
  path: string;
  size: number;
  sha256: string;
  /** how many of the machines asked about need it (the list is ordered by it, most first) */
  machines: number;
}

export interface PreloadList {
  items: PreloadItem[];
  totals: { files: number; bytes: number };
  /**
   * the suites the items come from, as `/<backend>/dists/<suite>` or `/stage/<view>/<backend>/dists/<suite>`:
   * a site that never served one learns its signed index first
   */
  dists?: string[];
}

/** Suites a list may name. */
const MAX_DISTS = 1000;
// a suite may have segments of its own (buster/updates)
const DISTS_RE = new RegExp(
  `^/(?:stage/${STAGE_VIEW}/)?[A-Za-z0-9][A-Za-z0-9._+~-]*/dists/[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*){0,3}$`,
);

/** Items a list may hold (a site's fleet needs a few thousand files; a whole release is ~60,000). */
export const MAX_PRELOAD_ITEMS = 100_000;
/** The largest .deb accepted in a list (Debian's largest is a few GiB). */
const MAX_ITEM_BYTES = 16 * 1024 ** 3;

const SEGMENT = '[A-Za-z0-9][A-Za-z0-9._+~%-]*';
const PATH_RE = new RegExp(
  `^/(?:stage/${STAGE_VIEW}/)?[A-Za-z0-9][A-Za-z0-9._+~-]*/pool/(?:${SEGMENT}/){1,8}${SEGMENT}\\.(?:u|d)?deb$`,
);

/** The path of a pool file at the parent: a plain backend's, or a stage view's. */
export function preloadPath(backend: string, filename: string, view?: string): string {
  return view ? `/stage/${view}/${backend}/${filename}` : `/${backend}/${filename}`;
}

/**
 * A list as received (JSON from the parent): every item checked, duplicates merged, totals
 * recomputed, in slices (100,000 items take a few hundred ms). Throws USAGE with the first bad
 * item's index.
 */
export async function checkPreloadList(value: unknown, slicer = new TimeSlicer()): Promise<PreloadList> {
  const raw = (value as { items?: unknown } | null)?.items;
  if (!Array.isArray(raw)) fail('USAGE', 'a preload list is an object with an array `items`');
  if (raw.length > MAX_PRELOAD_ITEMS) fail('USAGE', `a preload list holds at most ${MAX_PRELOAD_ITEMS} items`);
  const byPath = new Map<string, PreloadItem>();
  for (const [i, x] of (raw as unknown[]).entries()) {
    if (slicer.due()) await slicer.pause();
    const it = x as Partial<PreloadItem> | null;
    const bad = (what: string): never => fail('USAGE', `preload item ${i}: ${what}`);
    if (typeof it !== 'object' || it === null) bad('not an object');
    const { path, size, sha256, machines } = it!;
    if (typeof path !== 'string' || path.length > 1024 || !PATH_RE.test(path) || /(^|\/)\.\.?(\/|$)/.test(path))
      bad('the path is not a pool .deb under a backend or a stage view');
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_ITEM_BYTES)
      bad('the size is not a byte count');
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) bad('the sha256 is not 64 hex digits');
    const n = machines === undefined ? 1 : machines;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) bad('machines is not a count');
    const seen = byPath.get(path!);
    if (seen && (seen.size !== size || seen.sha256 !== sha256)) bad(`${path} listed twice with different contents`);
    if (seen) seen.machines += n;
    else byPath.set(path!, { path: path!, size: size!, sha256: sha256!, machines: n });
  }
  const items = [...byPath.values()];
  const dists = (value as { dists?: unknown }).dists ?? [];
  if (!Array.isArray(dists) || dists.length > MAX_DISTS)
    fail('USAGE', `a preload list's dists is an array of at most ${MAX_DISTS} suite paths`);
  for (const [i, d] of (dists as unknown[]).entries())
    if (typeof d !== 'string' || d.length > 512 || !DISTS_RE.test(d))
      fail('USAGE', `preload dists ${i}: not /<backend>/dists/<suite> or /stage/<view>/<backend>/dists/<suite>`);
  return {
    items,
    totals: { files: items.length, bytes: items.reduce((s, x) => s + x.size, 0) },
    dists: [...new Set(dists as string[])],
  };
}
