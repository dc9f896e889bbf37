// Who uses the proxy and how much of it the cache answered, for the administrator and the API:
// the clients the server records (every few seconds, proxy/clients.ts) in the JSON shape of
// `aptgate clients --json`, and the traffic over time (`aptgate cache history --json`).
import { fail } from '../errors.js';
import type { ClientStore } from '../state/clients.js';
import type { Db } from '../state/db.js';
import { DAY_MS, FINE_MS, ProxyHistoryStore } from '../state/proxy-history.js';

const iso = (ms: number): string => new Date(ms).toISOString();

export interface ClientInfo {
  address: string;
  firstSeen: string;
  lastSeen: string;
  requests: number;
  /** body bytes sent to it */
  bytes: number;
  /** requests answered from the cache / fetched from upstream for it (the rest: passed through, refused, errors) */
  hits: number;
  misses: number;
  /** hits / (hits + misses); null before either */
  hitRatio: number | null;
  machines: Array<{ id: number; hostname: string }>;
}

export function listClients(store: ClientStore): ClientInfo[] {
  return store.list().map((c) => ({
    address: c.address,
    firstSeen: iso(c.firstSeen),
    lastSeen: iso(c.lastSeen),
    requests: c.requests,
    bytes: c.bytes,
    hits: c.hits,
    misses: c.misses,
    hitRatio: c.hits + c.misses > 0 ? Math.round((c.hits / (c.hits + c.misses)) * 1000) / 1000 : null,
    machines: c.machines,
  }));
}

// ---- the traffic over time (state/proxy-history.ts, sampled by proxy/traffic.ts) ----

export const TRAFFIC_PERIODS = ['24h', '30d'] as const;
export type TrafficPeriod = (typeof TRAFFIC_PERIODS)[number];

export interface TrafficCounts {
  requests: number;
  /** answered from what the server holds / fetched from upstream for the request */
  hits: number;
  misses: number;
  /** hits / (hits + misses); null before either */
  hitRatio: number | null;
  /** body bytes sent to clients from the cache */
  bytesFromCache: number;
  /** body bytes received from upstream mirrors */
  bytesFromUpstream: number;
}

export interface TrafficJson {
  period: TrafficPeriod;
  /** each bucket's length: 5 minutes for 24h, a (UTC) day for 30d */
  bucketMs: number;
  from: string;
  to: string;
  /** oldest first; a bucket no sample reached (the server was not running) is absent */
  buckets: Array<TrafficCounts & { at: string }>;
  totals: TrafficCounts;
}

const ratio = (hits: number, misses: number): number | null =>
  hits + misses > 0 ? Math.round((hits / (hits + misses)) * 1000) / 1000 : null;

/** The proxy's traffic of the last 24 hours (5-minute buckets) or 30 days (days). */
export function trafficHistory(db: Db, now: number, period: string): TrafficJson {
  if (!(TRAFFIC_PERIODS as readonly string[]).includes(period))
    fail('USAGE', `--period: expected ${TRAFFIC_PERIODS.join(' or ')}, got "${period.slice(0, 40)}"`);
  const day = period === '30d';
  // 30 days: whole UTC days, the first one too
  const since = day ? Math.floor((now - 30 * DAY_MS) / DAY_MS) * DAY_MS : now - DAY_MS;
  const rows = new ProxyHistoryStore(db).buckets(day ? 'day' : 'fine', since);
  const totals = { requests: 0, hits: 0, misses: 0, bytesFromCache: 0, bytesFromUpstream: 0 };
  const buckets = rows.map((r) => {
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += r[k];
    return {
      at: iso(r.at),
      requests: r.requests,
      hits: r.hits,
      misses: r.misses,
      hitRatio: ratio(r.hits, r.misses),
      bytesFromCache: r.bytesFromCache,
      bytesFromUpstream: r.bytesFromUpstream,
    };
  });
  return {
    period: period as TrafficPeriod,
    bucketMs: day ? DAY_MS : FINE_MS,
    from: iso(since),
    to: iso(now),
    buckets,
    totals: { ...totals, hitRatio: ratio(totals.hits, totals.misses) },
  };
}
