// The proxy's traffic over time, for the console's charts and `aptgate cache history`: what each
// bucket of time added to the proxy's counters (requests, hits, misses, bytes sent from the cache,
// bytes fetched from upstream). A sample adds to its 5-minute bucket and to its hour; 5-minute
// buckets are kept 2 days, hours 40 days. Each sample is two upserts and a pruning delete on the
// primary key: a few rows, never a scan.
import { cached, type Db } from './db.js';

export const FINE_MS = 5 * 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
export const FINE_KEEP_MS = 2 * DAY_MS;
export const HOUR_KEEP_MS = 40 * DAY_MS;

/** What the counters added since the last sample. */
export interface TrafficDelta {
  requests: number;
  hits: number;
  misses: number;
  bytesFromCache: number;
  bytesFromUpstream: number;
}

export interface TrafficBucket extends TrafficDelta {
  /** the bucket's start (epoch ms) */
  at: number;
}

const floorTo = (t: number, ms: number) => Math.floor(t / ms) * ms;

export class ProxyHistoryStore {
  constructor(private readonly db: Db) {}

  /** Adds a sample taken at `at` to its 5-minute bucket and its hour; forgets what is past keeping. */
  add(at: number, d: TrafficDelta): void {
    const up = cached<[number, number, number, number, number, number, number]>(
      this.db,
      `INSERT INTO proxy_traffic (bucket_ms, at, requests, hits, misses, bytes_from_cache, bytes_from_upstream)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (bucket_ms, at) DO UPDATE SET requests = requests + excluded.requests, hits = hits + excluded.hits,
         misses = misses + excluded.misses, bytes_from_cache = bytes_from_cache + excluded.bytes_from_cache,
         bytes_from_upstream = bytes_from_upstream + excluded.bytes_from_upstream`,
    );
    const prune = cached<[number, number]>(this.db, 'DELETE FROM proxy_traffic WHERE bucket_ms = ? AND at < ?');
    this.db.transaction(() => {
      for (const ms of [FINE_MS, HOUR_MS])
        up.run(ms, floorTo(at, ms), d.requests, d.hits, d.misses, d.bytesFromCache, d.bytesFromUpstream);
      prune.run(FINE_MS, at - FINE_KEEP_MS);
      prune.run(HOUR_MS, at - HOUR_KEEP_MS);
    })();
  }

  /**
   * The buckets from `since` (inclusive) on, oldest first: 5-minute ones, hours, or days (summed
   * from the hours, UTC days). At most 2 days of 5-minute buckets and 40 days of hours exist.
   */
  buckets(resolution: 'fine' | 'hour' | 'day', since: number): TrafficBucket[] {
    const cols = `sum(requests) AS requests, sum(hits) AS hits, sum(misses) AS misses,
      sum(bytes_from_cache) AS bytesFromCache, sum(bytes_from_upstream) AS bytesFromUpstream`;
    if (resolution === 'day')
      return cached<[number, number, number], Omit<TrafficBucket, 'at'> & { day: number }>(
        this.db,
        `SELECT at - (at % ?) AS day, ${cols} FROM proxy_traffic WHERE bucket_ms = ? AND at >= ? GROUP BY day ORDER BY day`,
      )
        .all(DAY_MS, HOUR_MS, floorTo(since, DAY_MS))
        .map(({ day, ...r }) => ({ at: day, ...r }));
    return cached<[number, number], TrafficBucket>(
      this.db,
      `SELECT at, ${cols} FROM proxy_traffic WHERE bucket_ms = ? AND at >= ? GROUP BY at ORDER BY at`,
    ).all(resolution === 'fine' ? FINE_MS : HOUR_MS, since);
  }
}
