// Operations on the proxy's cache (viewer, read only): its size, who uses the proxy, and the
// traffic over time (hit ratio, bytes from the cache and from upstream). Cleaning, verifying and
// importing the cache work on its files: they stay commands of the server host.
import type { Services } from '../assembly/services.js';
import { cacheStats, type CacheStats } from '../proxy/housekeeping.js';
import { listClients, trafficHistory, TRAFFIC_PERIODS } from '../proxy/queries.js';
import { ClientStore } from '../state/clients.js';
import { listOf, object, op, str } from './operation.js';

/**
 * The stats walk the whole cache directory (asynchronously: the event loop is not held, but the
 * disk is read): every console that opens its overview would start a walk. One walk at a time,
 * and its answer serves the requests of the next STATS_REUSE_MS.
 */
export const STATS_REUSE_MS = 10_000;
const recent = new WeakMap<Services, { at: number; answer: Promise<CacheStats> }>();

function stats(s: Services): Promise<CacheStats> {
  const last = recent.get(s);
  const now = s.now();
  if (last && now - last.at >= 0 && now - last.at < STATS_REUSE_MS) return last.answer;
  const answer = cacheStats({ config: s.config, ...s.state });
  recent.set(s, { at: now, answer });
  answer.catch(() => recent.delete(s));
  return answer;
}

export const cacheOps = [
  op({
    name: 'cache.stats',
    summary: "the cache's files and bytes per backend, current snapshots, the package index's size",
    role: 'viewer',
    method: 'GET',
    path: '/cache/stats',
    input: { properties: {} },
    output: object('as aptgate cache stats --json'),
    changes: false,
    run: ({ services }) => stats(services),
  }),
  op({
    name: 'cache.clients',
    summary: 'who uses the proxy: client addresses, first and last request, requests, bytes, hit ratio, machines',
    role: 'viewer',
    method: 'GET',
    path: '/cache/clients',
    input: { properties: {} },
    output: listOf('clients', 'most recently seen first, as aptgate clients --json'),
    changes: false,
    run: ({ services }) => ({ clients: listClients(new ClientStore(services.db)) }),
  }),
  op({
    name: 'cache.traffic',
    summary:
      'the proxy over time: requests, hit ratio, bytes sent from the cache and fetched from upstream (24h: 5-minute buckets; 30d: days)',
    role: 'viewer',
    method: 'GET',
    path: '/cache/traffic',
    input: {
      properties: {
        // checked by the query, so both edges refuse another value with the same words
        period: str(`${TRAFFIC_PERIODS.join(' (default) or ')}`, { maxLength: 40 }),
      },
    },
    output: object('{ period, bucketMs, from, to, buckets: [...], totals }, as aptgate cache history --json'),
    changes: false,
    run: ({ services }, i: { period?: string }) => trafficHistory(services.db, services.now(), i.period ?? '24h'),
  }),
];
