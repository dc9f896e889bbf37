// Operations on the proxy's cache (viewer, read only): its size, who uses the proxy, and the
// traffic over time (hit ratio, bytes from the cache and from upstream). Cleaning, verifying and
// importing the cache work on its files: they stay commands of the server host.
import { cacheStats } from '../proxy/housekeeping.js';
import { listClients, trafficHistory, TRAFFIC_PERIODS } from '../proxy/queries.js';
import { ClientStore } from '../state/clients.js';
import { listOf, object, op, str } from './operation.js';

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
    run: ({ services }) => cacheStats({ config: services.config, ...services.state }),
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
