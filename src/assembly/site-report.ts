// A site's reports to its parent (issue 18): once at start and every [site] report_interval, the
// proxy's counters since this process started (bytes sent from the cache, bytes received from
// the parent, hits, misses), its health and its preload's progress, in a site.report signed with
// the site's secret (site-client.ts); after each report, the parent's pre-load list when it
// changed. A failed report is logged and the next one is sent on time: the counters are totals,
// so nothing is lost.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { ProxyMetrics } from '../proxy/metrics.js';
import type { SitePreload } from '../protocol/wire.js';
import { checkPreloadList, MAX_PRELOAD_ITEMS, type PreloadList } from '../proxy/preload-list.js';

/** Pages of a pre-load list a site reads (the list's own bound, at the central's 2,000 a page). */
const MAX_PAGES = 60;
import { readSiteIdentity, SiteClient } from './site-client.js';

export interface SiteReportSources {
  metrics: ProxyMetrics;
  /** the proxy's health (its status, and why when degraded) */
  health: () => { status: string; reason?: unknown };
  /** the preload's progress; none: zeros */
  preload?: () => SitePreload;
  /** takes each new pre-load list the parent gives (asked after every report) */
  preloader?: { load(list: PreloadList): Promise<unknown> };
}

/** What one report says (its counters since `started`). */
export function siteReportOf(src: SiteReportSources, started: number): Record<string, unknown> {
  const h = src.health();
  const p = src.preload?.() ?? { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  const degraded = h.status !== 'ok';
  // counts pass 2^31 (XML-RPC's int is 32 bits): decimal strings on the wire
  const n = (v: number) => String(Math.max(0, Math.floor(v)));
  return {
    started: n(started),
    bytes_local: n(src.metrics.bytesFromCache.total()),
    bytes_parent: n(src.metrics.bytesFromUpstream.total()),
    hits: n(src.metrics.requests.get({ result: 'hit' })),
    misses: n(src.metrics.requests.get({ result: 'miss' })),
    health: degraded ? 'degraded' : 'ok',
    reason: degraded
      ? (typeof h.reason === 'string' && h.reason ? h.reason : 'the site says degraded').slice(0, 500)
      : '',
    preload: {
      files_done: n(p.filesDone),
      files_total: n(p.filesTotal),
      bytes_done: n(p.bytesDone),
      bytes_total: n(p.bytesTotal),
    },
  };
}

/**
 * Starts the reports when this server is a site that has joined (config.site.parent and an
 * identity in STATE_DIR/site); returns how to stop them (undefined when not a site).
 */
export function startSiteReports(
  config: Config,
  src: SiteReportSources,
  log: Logger,
): { stop(): Promise<void>; reportNow(): Promise<void> } | undefined {
  if (!config.site.parent) return undefined;
  const identity = readSiteIdentity(config);
  if (!identity) {
    log.warn(
      { parent: config.site.parent },
      'site mode without an identity: run aptgate site join --parent URL --token T --fingerprint FPR, then restart',
    );
    return undefined;
  }
  // the same central server may have another URL now; another server rejects the signature
  if (identity.parent.replace(/\/+$/, '') !== config.site.parent)
    log.warn(
      { joined: identity.parent, parent: config.site.parent },
      'this site joined another parent URL than [site] parent: its reports go to [site] parent',
    );
  const client = new SiteClient(config.site.parent, identity);
  const started = Date.now();
  let running: Promise<void> = Promise.resolve();
  let have = '';
  const page = async (n: number): Promise<PreloadPage> => {
    const r = (await client.call('site.preload', [{ have, page: n }])) as {
      hash?: unknown;
      pages?: unknown;
      list?: unknown;
    };
    if (typeof r?.hash !== 'string' || typeof r.list !== 'string' || typeof r.pages !== 'number')
      throw new Error('site.preload: not {hash, pages, list}');
    return { hash: r.hash, pages: r.pages, text: r.list };
  };
  const preloadList = async (preloader: NonNullable<SiteReportSources['preloader']>) => {
    const read = await readPreloadPages(page);
    if (read === 'same' || read === 'changed') return; // the list it holds; another one meanwhile: the next report
    const list = await checkPreloadList(read.list);
    have = read.hash;
    log.info({ files: list.totals.files, bytes: list.totals.bytes }, 'site pre-load list');
    preloader.load(list).catch((err: Error) => log.warn({ err: err.message }, 'site pre-load failed'));
  };
  const once = async () => {
    try {
      await client.call('site.report', [siteReportOf(src, started)]);
    } catch (err) {
      log.warn({ err: (err as Error).message, parent: config.site.parent }, 'site report failed');
    }
    if (src.preloader)
      await preloadList(src.preloader).catch((err: Error) =>
        log.warn({ err: err.message.slice(0, 300), parent: config.site.parent }, 'site pre-load list failed'),
      );
  };
  // one report at a time: a slow parent never stacks them up
  const reportNow = () => (running = running.then(once));
  void reportNow();
  const timer = setInterval(() => void reportNow(), config.site.reportIntervalMs);
  timer.unref();
  return {
    reportNow,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

export interface PreloadPage {
  hash: string;
  pages: number;
  /** the page's JSON; '' when the parent's list is the one the site holds */
  text: string;
}

/**
 * The parent's list, page after page (site.preload): 'same' when the site holds it, 'changed'
 * when another list took its place between two pages. At most the list's bound of items is read.
 */
export async function readPreloadPages(
  page: (n: number) => Promise<PreloadPage>,
): Promise<{ hash: string; list: { items: unknown[]; dists: unknown } } | 'same' | 'changed'> {
  const first = await page(0);
  if (first.text === '') return 'same';
  const parsed = JSON.parse(first.text) as { items?: unknown; dists?: unknown };
  const items: unknown[] = Array.isArray(parsed.items) ? [...(parsed.items as unknown[])] : [];
  for (let n = 1; n < Math.min(first.pages, MAX_PAGES) && items.length <= MAX_PRELOAD_ITEMS; n++) {
    const p = await page(n);
    if (p.hash !== first.hash) return 'changed';
    const more = (JSON.parse(p.text) as { items?: unknown }).items;
    if (Array.isArray(more)) for (const x of more as unknown[]) items.push(x);
  }
  return { hash: first.hash, list: { items, dists: parsed.dists } };
}
