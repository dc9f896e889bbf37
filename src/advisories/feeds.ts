// The security advisory feeds, fetched and imported: each feed on ([advisories] feeds) is fetched
// from its URL when due (a conditional GET: a 304 changes nothing), written to a file in the
// state directory, parsed in a worker (sys/advisory-parse.ts) and stored as one load that
// replaces the previous one (state/advisories.ts) only once it is whole. A failed download, a file
// that does not parse or one refused as suspicious keeps the previous records and records the
// error on the feed. One import at a time in a process: a feed's parse holds a worker and up to
// 3 GB, and its rows are written in slices on the loop every apt client waits on.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { ADVISORY_FEEDS, type AdvisoryFeedName, type Config } from '../config.js';
import { fail, isAptgateError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseAdvisoryFile } from '../sys/advisory-parse.js';
import type { AdvisoryStore, FeedStatus } from '../state/advisories.js';
import { advisoryDir, ensureDir, readFeedState, sweepDownloads, writeFeedState, type FeedState } from './feed-state.js';

/**
 * An import is refused as suspicious (the previous records kept) when it has no record where the
 * current load has some, or less than a tenth of a current load of 1,000 or more: the trackers
 * only grow but for a release leaving them (a few tens of percent at most), and a feed that lost
 * nine records in ten is far likelier a broken or truncated file than a fixed world.
 * `aptgate advisories import --force` takes such a file all the same.
 */
export function suspicious(previous: number, records: number): boolean {
  if (previous > 0 && records === 0) return true;
  return previous >= 1000 && records < previous / 10;
}

/** A failed feed is tried again after this long at most (or its refresh interval, if shorter). */
const RETRY_MS = 3_600_000;
/** How often the timer looks for a feed due (cheap: a few rows and files). */
const TICK_MS = 60_000;
/** The first look after the start: the server's own start-up work first. */
const FIRST_TICK_MS = 30_000;

export interface FeedJson {
  feed: string;
  /** in advisories.feeds */
  on: boolean;
  url: string | null;
  /** the last import (ISO 8601) */
  fetchedAt: string | null;
  /** upstream last confirmed the records held: an import or a 304 (ISO 8601) */
  checkedAt: string | null;
  /** the feed's own date (its Last-Modified) */
  dataDate: string | null;
  /** seconds since checkedAt (since fetchedAt without it); null: never imported */
  ageSeconds: number | null;
  /** fetched on a timer and not confirmed for two intervals */
  stale: boolean;
  records: number;
  error: string | null;
  errorAt: string | null;
  importing: boolean;
}

export interface AdvisoriesStatus {
  fetch: boolean;
  /** 0: only when asked */
  refreshIntervalMs: number;
  feeds: FeedJson[];
}

export interface FeedResult {
  feed: string;
  result: 'imported' | 'not-modified' | 'failed';
  /** records of the feed now */
  records: number;
  /** bytes downloaded or read */
  bytes?: number;
  /** records skipped by the parser, by reason */
  skipped?: Record<string, number>;
  ms: number;
  /** CODE: message */
  error?: string;
}

export interface FeedsDeps {
  config: Config;
  store: AdvisoryStore;
  log?: Logger;
  now?: () => number;
}

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());
const describe = (err: unknown) =>
  isAptgateError(err) ? `${err.code}: ${err.message}` : `INTERNAL: ${(err as Error).message}`;

export class AdvisoryFeeds {
  private readonly config: Config;
  private readonly store: AdvisoryStore;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly dir: string;
  /** the imports of this process, one after the other */
  private chain: Promise<unknown> = Promise.resolve();
  private importing: string | null = null;
  private readonly closing = new AbortController();

  constructor(d: FeedsDeps) {
    this.config = d.config;
    this.store = d.store;
    this.log = d.log;
    this.now = d.now ?? Date.now;
    this.dir = advisoryDir(d.config);
  }

  private get settings() {
    return this.config.advisories;
  }

  /** The feed named, which must be on. */
  private feedOn(name: string): AdvisoryFeedName {
    if (!(ADVISORY_FEEDS as readonly string[]).includes(name))
      fail('NOT_FOUND', `no advisory feed ${JSON.stringify(name.slice(0, 80))} (feeds: ${ADVISORY_FEEDS.join(', ')})`);
    const feed = name as AdvisoryFeedName;
    if (!this.settings.feeds.includes(feed))
      fail('USAGE', `the feed ${feed} is not on (advisories.feeds: ${this.settings.feeds.join(', ') || 'none'})`);
    return feed;
  }

  /** Registers the feed with its configured URL (the store's row), and returns its row. */
  private register(feed: AdvisoryFeedName): FeedStatus | undefined {
    this.store.setFeed(feed, this.settings.urls[feed]);
    return this.store.feed(feed);
  }

  async status(): Promise<AdvisoriesStatus> {
    const rows = new Map(this.store.feeds().map((f) => [f.feed, f]));
    const names = [...new Set<string>([...this.settings.feeds, ...rows.keys()])];
    const now = this.now();
    const interval = this.settings.fetch ? this.settings.refreshIntervalMs : 0;
    const feeds: FeedJson[] = [];
    for (const feed of names) {
      const row = rows.get(feed);
      const state = await readFeedState(this.dir, feed);
      const on = (this.settings.feeds as string[]).includes(feed);
      const confirmed = row?.fetchedAt == null ? null : Math.max(row.fetchedAt, state.checkedAt ?? 0);
      const age = confirmed === null ? null : Math.max(0, Math.round((now - confirmed) / 1000));
      feeds.push({
        feed,
        on,
        url: (on ? this.settings.urls[feed as AdvisoryFeedName] : row?.url) || null,
        fetchedAt: iso(row?.fetchedAt),
        checkedAt: iso(confirmed),
        dataDate: row?.dataDate ?? null,
        ageSeconds: age,
        stale: on && interval > 0 && age !== null && age * 1000 > 2 * interval,
        records: row?.records ?? 0,
        error: row?.error ?? null,
        errorAt: iso(row?.errorAt),
        importing: this.importing === feed,
      });
    }
    return { fetch: this.settings.fetch, refreshIntervalMs: this.settings.refreshIntervalMs, feeds };
  }

  /** Runs fn after the imports before it: one at a time. */
  private exclusive<T>(feed: string, fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(async () => {
      if (this.closing.signal.aborted) fail('USAGE', 'the server is stopping');
      this.importing = feed;
      try {
        return await fn();
      } finally {
        this.importing = null;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Fetches the feeds named (default: every feed on) now, one after the other. */
  async refresh(names?: readonly string[]): Promise<FeedResult[]> {
    if (!this.settings.fetch)
      fail(
        'USAGE',
        'fetching is off (advisories.fetch = false): import the files with aptgate advisories import FEED FILE',
      );
    const feeds = names?.length ? names.map((n) => this.feedOn(n)) : [...this.settings.feeds];
    for (const f of feeds)
      if (this.settings.urls[f] === '')
        fail('USAGE', `the feed ${f} has no URL (advisories.${f.replace(/-/g, '_')}_url)`);
    const out: FeedResult[] = [];
    for (const f of feeds) out.push(await this.exclusive(f, () => this.fetchNow(f)));
    return out;
  }

  /** The feeds on whose last attempt is older than the refresh interval (a failure: RETRY_MS). */
  async due(): Promise<AdvisoryFeedName[]> {
    const { fetch, refreshIntervalMs, feeds } = this.settings;
    if (!fetch || refreshIntervalMs <= 0) return [];
    const now = this.now();
    const out: AdvisoryFeedName[] = [];
    for (const f of feeds) {
      if (this.settings.urls[f] === '') continue;
      const state = await readFeedState(this.dir, f);
      const failedLast = this.store.feed(f)?.error != null;
      const wait = failedLast ? Math.min(refreshIntervalMs, RETRY_MS) : refreshIntervalMs;
      if (state.attemptAt === null || now - state.attemptAt >= wait) out.push(f);
    }
    return out;
  }

  /** Fetches the feeds due; what the timer runs (after clearing downloads a stopped process left). */
  async runDue(): Promise<FeedResult[]> {
    await sweepDownloads(this.dir, this.settings.timeoutMs + 3_600_000);
    const due = await this.due();
    return due.length ? this.refresh(due) : [];
  }

  /**
   * Imports a file (or, for usn, a directory of notices) downloaded by other means: an isolated
   * network's way in. `force` takes a file the suspicious-shrink rule would refuse.
   */
  importFile(name: string, file: string, opts: { force?: boolean } = {}): Promise<FeedResult> {
    const feed = this.feedOn(name);
    return this.exclusive(feed, async () => {
      const started = performance.now();
      try {
        const r = await this.load(feed, path.resolve(file), { fetchedAt: this.now(), dataDate: null }, opts.force);
        // the validators belonged to the copy fetched before: the next fetch asks for the whole feed
        const state = await readFeedState(this.dir, feed);
        await writeFeedState(this.dir, feed, { ...state, etag: null, lastModified: null, checkedAt: null });
        return { feed, result: 'imported', ...r, ms: Math.round(performance.now() - started) };
      } catch (err) {
        this.store.failed(feed, describe(err), this.now());
        throw err;
      }
    });
  }

  /** Parses `file` in the worker into a new load of `feed`; refuses a suspicious shrink. */
  private async load(
    feed: AdvisoryFeedName,
    file: string,
    meta: { fetchedAt: number; dataDate: string | null },
    force = false,
  ): Promise<{ records: number; bytes: number; skipped: Record<string, number> }> {
    const previous = this.register(feed)?.records ?? 0;
    let summary: Awaited<ReturnType<typeof parseAdvisoryFile>> | undefined;
    const r = await this.store.replace(
      feed,
      async (write) => {
        summary = await parseAdvisoryFile(feed, file, write, { maxBytes: this.settings.maxBytes });
        if (!force && suspicious(previous, summary.records))
          fail(
            'PARSE_FAILED',
            `refused as suspicious: ${summary.records} records where the current load has ${previous} (the previous records are kept; aptgate advisories import --force takes such a file)`,
            { feed, records: summary.records, previous },
          );
      },
      meta,
    );
    return { records: r.records, bytes: summary?.bytes ?? 0, skipped: summary?.skipped ?? {} };
  }

  private async fetchNow(feed: AdvisoryFeedName): Promise<FeedResult> {
    const started = performance.now();
    const url = this.settings.urls[feed];
    const row = this.register(feed);
    const held = await readFeedState(this.dir, feed);
    // validators only for the copy held: same URL, and records from it
    const validators = held.url === url && row?.fetchedAt != null;
    const state: FeedState = validators
      ? { ...held }
      : { url, etag: null, lastModified: null, checkedAt: null, attemptAt: null };
    state.attemptAt = this.now();
    await ensureDir(this.dir);
    const file = path.join(this.dir, `${feed}.${process.pid}.${randomUUID().slice(0, 8)}.download`);
    const ms = () => Math.round(performance.now() - started);
    try {
      // undici only for the command that fetches: the other commands never load it
      const { fetchToFile } = await import('../proxy/fetch-file.js');
      const got = await fetchToFile(url, file, {
        maxBytes: this.settings.maxBytes,
        timeoutMs: this.settings.timeoutMs,
        connectTimeoutMs: this.config.proxy.connectTimeoutMs,
        idleTimeoutMs: this.config.proxy.idleTimeoutMs,
        etag: validators ? held.etag : null,
        lastModified: validators ? held.lastModified : null,
        signal: this.closing.signal,
      });
      if (got.status === 'not-modified') {
        state.checkedAt = this.now();
        await writeFeedState(this.dir, feed, state);
        this.log?.info({ feed }, 'advisory feed not modified');
        return { feed, result: 'not-modified', records: row?.records ?? 0, bytes: 0, ms: ms() };
      }
      const lm = got.lastModified === null ? NaN : Date.parse(got.lastModified);
      const r = await this.load(feed, file, {
        fetchedAt: this.now(),
        dataDate: Number.isFinite(lm) ? new Date(lm).toISOString() : null,
      });
      Object.assign(state, { etag: got.etag, lastModified: got.lastModified, checkedAt: this.now() });
      await writeFeedState(this.dir, feed, state);
      this.log?.info({ feed, records: r.records, bytes: r.bytes, ms: ms() }, 'advisory feed imported');
      return { feed, result: 'imported', ...r, ms: ms() };
    } catch (err) {
      const error = describe(err);
      this.store.failed(feed, error, this.now());
      await writeFeedState(this.dir, feed, state).catch(() => undefined);
      this.log?.warn({ feed, err: error }, 'advisory feed failed: the previous records are kept');
      return { feed, result: 'failed', records: this.store.feed(feed)?.records ?? 0, ms: ms(), error };
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Looks for feeds due every minute (a first look 30 s after the start); returns the stop. */
  start(): () => void {
    if (!this.settings.fetch || this.settings.refreshIntervalMs <= 0) return () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      if (this.closing.signal.aborted) return;
      // a look while an import runs would only queue the same feeds again
      const busy = this.importing !== null;
      (busy ? Promise.resolve([]) : this.runDue()).then(
        () => undefined,
        (err: unknown) => this.log?.error({ err: describe(err) }, 'advisory feeds'),
      );
      timer = setTimeout(tick, TICK_MS);
      timer.unref();
    };
    timer = setTimeout(tick, Math.min(FIRST_TICK_MS, this.settings.refreshIntervalMs));
    timer.unref();
    return () => clearTimeout(timer);
  }

  /** Aborts a download under way and waits for the import in progress to end. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.chain;
  }
}
