// Security advisories imported from their feeds (advisory_feed, advisory_load, advisory,
// advisory_text) and what changelogs name (changelog_refs). A feed's import replaces all its
// records, up to a million rows for the Debian tracker: too long for one transaction on the
// connection every apt client waits on. The new records are written as a load of their own, in
// transactions of one time slice each with a turn of the event loop between them, while readers
// keep seeing the feed's previous load; one small transaction then points the feed at the new
// load, and the previous one is deleted in slices. Readers see either load whole, never a mix.
import { fail } from '../errors.js';
import type { AdvisoryRecord, AdvisoryStatus, AdvisoryUrgency, AdvisoryOrigin } from '../index/advisories/types.js';
import { TimeSlicer } from '../sys/time-slice.js';
import { cached, type Db } from './db.js';

export interface FeedStatus {
  feed: string;
  url: string;
  /** the last successful import (epoch ms) */
  fetchedAt: number | null;
  /** the data's own date, when the feed says one */
  dataDate: string | null;
  /** the last failure, cleared by a success */
  error: string | null;
  errorAt: number | null;
  /** records of the current load */
  records: number;
}

export interface StoredAdvisory extends AdvisoryRecord {
  feed: string;
}

export interface ChangelogRefs {
  source: string;
  version: string;
  cves: string[];
  /** Debian bugs closed */
  closes: number[];
  /** Launchpad bugs */
  launchpad: number[];
  /** epoch ms */
  readAt: number;
}

export interface ReplaceResult {
  records: number;
  /** from the start to the switch, ms (the feed's parse included when it fills the load) */
  ms: number;
}

/**
 * A load no feed points to is left over (a server stopped during an import) once it is this old;
 * a younger one may be another process's import under way.
 */
export const STALE_LOAD_MS = 6 * 3_600_000;
/** Rows one delete statement takes (a few ms): the slicer decides how many statements a slice holds. */
const DELETE_STEP = 500;
const FEED_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

interface Row {
  feed: string;
  origin: AdvisoryOrigin;
  advisory: string | null;
  cve: string | null;
  source: string;
  release: string;
  pro: number;
  fixed_version: string | null;
  status: AdvisoryStatus;
  urgency: AdvisoryUrgency;
  published: string | null;
  summary: string | null;
}

const SELECT = `SELECT f.feed, a.origin, a.advisory, a.cve, a.source, a.release, a.pro, a.fixed_version, a.status,
  a.urgency, a.published, t.text AS summary
  FROM advisory_feed f JOIN advisory a ON a.load_id = f.load_id`;
const ORDER = 'ORDER BY f.feed, a.source, a.release, a.cve, a.advisory';

const fromRow = (r: Row): StoredAdvisory => ({
  feed: r.feed,
  origin: r.origin,
  advisory: r.advisory,
  cve: r.cve,
  source: r.source,
  release: r.release,
  pro: r.pro === 1,
  fixedVersion: r.fixed_version,
  status: r.status,
  urgency: r.urgency,
  published: r.published,
  summary: r.summary,
});

export class AdvisoryStore {
  /** feed → the import under way (imports of one feed run one after the other) */
  private readonly running = new Map<string, Promise<unknown>>();
  /** loads being written: never swept */
  private readonly writing = new Set<number>();

  constructor(private readonly db: Db) {}

  /** Registers a feed, or changes its URL. */
  setFeed(feed: string, url: string): void {
    if (!FEED_NAME.test(feed)) fail('USAGE', `not a feed name: ${JSON.stringify(feed.slice(0, 80))}`);
    cached<[string, string]>(
      this.db,
      'INSERT INTO advisory_feed (feed, url) VALUES (?, ?) ON CONFLICT (feed) DO UPDATE SET url = excluded.url',
    ).run(feed, url);
  }

  feeds(): FeedStatus[] {
    return cached<[], FeedStatus>(
      this.db,
      `SELECT feed, url, fetched_at AS fetchedAt, data_date AS dataDate, error, error_at AS errorAt, records
       FROM advisory_feed ORDER BY feed`,
    ).all();
  }

  feed(feed: string): FeedStatus | undefined {
    return this.feeds().find((f) => f.feed === feed);
  }

  /** Records a failed fetch or import; the feed's records stay as they were. */
  failed(feed: string, message: string, at = Date.now()): void {
    cached<[string, number, string]>(this.db, 'UPDATE advisory_feed SET error = ?, error_at = ? WHERE feed = ?').run(
      message.slice(0, 2000),
      at,
      feed,
    );
  }

  /**
   * Replaces the records of a registered feed with what `fill` writes (it calls `write` with one
   * chunk at a time and awaits it). Readers see the previous records until the end, then the new
   * ones. Should `fill` fail, the new records are deleted, the failure is recorded on the feed
   * and rethrown, and the previous records stay.
   */
  replace(
    feed: string,
    fill: (write: (records: readonly AdvisoryRecord[]) => Promise<void>) => Promise<unknown>,
    meta: { fetchedAt?: number; dataDate?: string | null } = {},
  ): Promise<ReplaceResult> {
    const before = this.running.get(feed) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.replaceNow(feed, fill, meta));
    const tail = run.catch(() => undefined);
    this.running.set(feed, tail);
    void tail.then(() => {
      if (this.running.get(feed) === tail) this.running.delete(feed);
    });
    return run;
  }

  private async replaceNow(
    feed: string,
    fill: (write: (records: readonly AdvisoryRecord[]) => Promise<void>) => Promise<unknown>,
    meta: { fetchedAt?: number; dataDate?: string | null },
  ): Promise<ReplaceResult> {
    const started = performance.now();
    if (!this.feed(feed)) fail('NOT_FOUND', `no advisory feed ${feed}`);
    await this.sweep(feed);
    const loadId = Number(
      cached<[string, number]>(this.db, 'INSERT INTO advisory_load (feed, started_at) VALUES (?, ?)').run(
        feed,
        Date.now(),
      ).lastInsertRowid,
    );
    this.writing.add(loadId);
    let count = 0;
    try {
      const texts = new Map<string, number>();
      await fill(async (records) => {
        // a slice starts with the chunk: waiting for the chunk was not work on the event loop
        const slicer = new TimeSlicer();
        let i = 0;
        while (i < records.length) {
          i = this.insertSlice(loadId, records, i, texts, slicer);
          await slicer.tick();
        }
        count += records.length;
      });
      const previous = this.db.transaction(() => {
        const old = cached<[string], { load_id: number | null }>(
          this.db,
          'SELECT load_id FROM advisory_feed WHERE feed = ?',
        ).get(feed)?.load_id;
        cached<[number, number, string | null, number, string]>(
          this.db,
          `UPDATE advisory_feed SET load_id = ?, fetched_at = ?, data_date = ?, records = ?, error = NULL,
             error_at = NULL WHERE feed = ?`,
        ).run(loadId, meta.fetchedAt ?? Date.now(), meta.dataDate ?? null, count, feed);
        return old ?? null;
      })();
      this.writing.delete(loadId);
      const ms = performance.now() - started;
      if (previous !== null) await this.deleteLoad(previous);
      return { records: count, ms };
    } catch (err) {
      this.writing.delete(loadId);
      await this.deleteLoad(loadId);
      this.failed(feed, (err as Error).message);
      throw err;
    }
  }

  /** Inserts records from `from` on until the slice is used up; returns where it stopped. */
  private insertSlice(
    loadId: number,
    records: readonly AdvisoryRecord[],
    from: number,
    texts: Map<string, number>,
    slicer: TimeSlicer,
  ): number {
    const insert = cached(
      this.db,
      `INSERT INTO advisory (load_id, origin, advisory, cve, source, release, pro, fixed_version, status, urgency,
         published, summary_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const text = cached<[number, string]>(this.db, 'INSERT INTO advisory_text (load_id, text) VALUES (?, ?)');
    return this.db.transaction(() => {
      let i = from;
      while (i < records.length) {
        const r = records[i++]!;
        let summaryId: number | null = null;
        if (r.summary !== null) {
          summaryId = texts.get(r.summary) ?? null;
          if (summaryId === null) {
            summaryId = Number(text.run(loadId, r.summary).lastInsertRowid);
            texts.set(r.summary, summaryId);
          }
        }
        insert.run(
          loadId,
          r.origin,
          r.advisory,
          r.cve,
          r.source,
          r.release,
          r.pro ? 1 : 0,
          r.fixedVersion,
          r.status,
          r.urgency,
          r.published,
          summaryId,
        );
        if ((i & 63) === 0 && slicer.due()) break;
      }
      return i;
    })();
  }

  /** Deletes a load's rows in slices, then the load. */
  private async deleteLoad(loadId: number): Promise<void> {
    const slicer = new TimeSlicer();
    for (const table of ['advisory', 'advisory_text']) {
      const del = cached<[number, number]>(
        this.db,
        `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE load_id = ? LIMIT ?)`,
      );
      for (;;) {
        const more = this.db.transaction(() => {
          let n: number;
          do n = del.run(loadId, DELETE_STEP).changes;
          while (n === DELETE_STEP && !slicer.due());
          return n === DELETE_STEP;
        })();
        if (!more) break;
        await slicer.pause();
      }
    }
    cached<[number]>(this.db, 'DELETE FROM advisory_load WHERE id = ?').run(loadId);
  }

  /**
   * Deletes loads no feed points to and no import is writing (left by a stopped server): those of
   * `feed`, or of every feed, started before `olderThanMs` ago. Returns how many.
   */
  async sweep(feed?: string, olderThanMs = STALE_LOAD_MS): Promise<number> {
    const loads = cached<[string | null, string | null, number], { id: number }>(
      this.db,
      `SELECT l.id FROM advisory_load l WHERE (? IS NULL OR l.feed = ?) AND l.started_at <= ?
         AND NOT EXISTS (SELECT 1 FROM advisory_feed f WHERE f.load_id = l.id)`,
    )
      .all(feed ?? null, feed ?? null, Date.now() - olderThanMs)
      .filter((l) => !this.writing.has(l.id));
    for (const l of loads) await this.deleteLoad(l.id);
    return loads.length;
  }

  /** The records of a source package in a release, every feed's current load. */
  forSource(source: string, release: string): StoredAdvisory[] {
    return cached<[string, string], Row>(
      this.db,
      `${SELECT} AND a.source = ? AND a.release = ? LEFT JOIN advisory_text t ON t.id = a.summary_id ${ORDER}`,
    )
      .all(source, release)
      .map(fromRow);
  }

  /**
   * forSource() without the summaries (null): what exposures need, read for every source a fleet
   * runs (a summary is shown only with one CVE).
   */
  forSourceBrief(source: string, release: string): StoredAdvisory[] {
    return cached<[string, string], Row>(
      this.db,
      `SELECT f.feed, a.origin, a.advisory, a.cve, a.source, a.release, a.pro, a.fixed_version, a.status, a.urgency,
         a.published, NULL AS summary
       FROM advisory_feed f JOIN advisory a ON a.load_id = f.load_id AND a.source = ? AND a.release = ? ${ORDER}`,
    )
      .all(source, release)
      .map(fromRow);
  }

  /** forSourceBrief() of many sources at once (each source's records in the same order), at most 500. */
  forSourcesBrief(sources: readonly string[], release: string): StoredAdvisory[] {
    if (sources.length > 500) fail('USAGE', 'forSourcesBrief: at most 500 sources at once');
    if (!sources.length) return [];
    return this.db
      .prepare<unknown[], Row>(
        `SELECT f.feed, a.origin, a.advisory, a.cve, a.source, a.release, a.pro, a.fixed_version, a.status, a.urgency,
           a.published, NULL AS summary
         FROM advisory_feed f JOIN advisory a ON a.load_id = f.load_id
           AND a.source IN (${sources.map(() => '?').join(',')}) AND a.release = ? ${ORDER}`,
      )
      .all(...sources, release)
      .map(fromRow);
  }

  /** The feeds' current loads, as one string: it changes whenever an import switches a load in. */
  loadsKey(): string {
    return (
      cached<[], { k: string | null }>(
        this.db,
        "SELECT group_concat(feed || '=' || coalesce(load_id, '') || '@' || url, ' ') AS k FROM advisory_feed",
      ).get()?.k ?? ''
    );
  }

  /**
   * The fixes of a source in a release (the gate's fast lane), one row per fixed version with its
   * issues as "CVE:urgency ..." (ids and urgencies hold no space or colon). The kernel has 10,000+
   * issues per release: a row and a summary each held the loop 50-400 ms per update asked about.
   * Feeds fetched over plain http give no fast lane (whoever is on the path could write them):
   * their records still show exposures.
   */
  fixesFor(source: string, release: string): Array<{ fixedVersion: string; issues: string }> {
    return cached<[string, string], { fixedVersion: string; issues: string }>(
      this.db,
      `SELECT a.fixed_version AS fixedVersion, group_concat(a.cve || ':' || a.urgency, ' ') AS issues
       FROM advisory_feed f JOIN advisory a ON a.load_id = f.load_id AND a.source = ? AND a.release = ?
       WHERE a.status = 'fixed' AND a.fixed_version IS NOT NULL AND a.cve IS NOT NULL AND f.url NOT LIKE 'http:%'
       GROUP BY a.fixed_version`,
    ).all(source, release);
  }

  /** The records of an issue (CVE or TEMP id), every feed's current load. */
  forCve(cve: string): StoredAdvisory[] {
    return cached<[string], Row>(
      this.db,
      `${SELECT} AND a.cve = ? LEFT JOIN advisory_text t ON t.id = a.summary_id ${ORDER}`,
    )
      .all(cve)
      .map(fromRow);
  }

  /** Records what a source version's changelog names (replacing an earlier reading). */
  putChangelogRefs(r: ChangelogRefs): void {
    cached<[string, string, string, string, string, number]>(
      this.db,
      `INSERT INTO changelog_refs (source, version, cves, closes, launchpad, read_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (source, version) DO UPDATE SET cves = excluded.cves, closes = excluded.closes,
         launchpad = excluded.launchpad, read_at = excluded.read_at`,
    ).run(r.source, r.version, JSON.stringify(r.cves), JSON.stringify(r.closes), JSON.stringify(r.launchpad), r.readAt);
  }

  changelogRefs(source: string, version: string): ChangelogRefs | undefined {
    const row = cached<[string, string], { cves: string; closes: string; launchpad: string; read_at: number }>(
      this.db,
      'SELECT cves, closes, launchpad, read_at FROM changelog_refs WHERE source = ? AND version = ?',
    ).get(source, version);
    if (!row) return undefined;
    return {
      source,
      version,
      cves: JSON.parse(row.cves) as string[],
      closes: JSON.parse(row.closes) as number[],
      launchpad: JSON.parse(row.launchpad) as number[],
      readAt: row.read_at,
    };
  }
}
