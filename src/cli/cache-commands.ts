// `aptgate cache stats` and `aptgate cache history`: the cache's size and the proxy's traffic
// over time, through their operations (ops/cache.ts) here or on --server. `cache clean|verify|
// import` work on the cache's files and stay in program.ts, on the server host.
import type { Command } from 'commander';
import type { CacheStats } from '../proxy/housekeeping.js';
import { TRAFFIC_PERIODS, type TrafficCounts, type TrafficJson } from '../proxy/queries.js';
import { formatBytes } from '../term/bytes.js';
import { opRunner, type RemoteOpts } from './call.js';
import type { CliShell } from './fleet-context.js';
import { table, when } from './fleet-format.js';
import { formatStats } from './format.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

const HOUR_MS = 3_600_000;
const pct = (r: number | null) => (r === null ? '-' : `${Math.round(r * 100)}%`);

function row(label: string, c: Omit<TrafficCounts, 'hitRatio'>): string[] {
  const r = c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : null;
  return [
    label,
    String(c.requests),
    String(c.hits),
    String(c.misses),
    pct(r),
    formatBytes(c.bytesFromCache),
    formatBytes(c.bytesFromUpstream),
  ];
}

/** The traffic as a table: hours for the last 24 hours (the answer's 5-minute buckets summed), days for 30 days. */
export function formatTraffic(t: TrafficJson): string {
  const head = `proxy traffic ${when(t.from)} → ${when(t.to)}: ${t.totals.requests} requests, hit ratio ${pct(t.totals.hitRatio)}, ${formatBytes(t.totals.bytesFromCache)} from the cache, ${formatBytes(t.totals.bytesFromUpstream)} from upstream\n`;
  if (!t.buckets.length) return head + 'nothing recorded yet (the server samples its counters every 5 minutes)\n';
  const groups = new Map<number, Omit<TrafficCounts, 'hitRatio'>>();
  for (const b of t.buckets) {
    const at = Date.parse(b.at);
    const k = t.bucketMs < HOUR_MS ? Math.floor(at / HOUR_MS) * HOUR_MS : at;
    const g = groups.get(k) ?? { requests: 0, hits: 0, misses: 0, bytesFromCache: 0, bytesFromUpstream: 0 };
    g.requests += b.requests;
    g.hits += b.hits;
    g.misses += b.misses;
    g.bytesFromCache += b.bytesFromCache;
    g.bytesFromUpstream += b.bytesFromUpstream;
    groups.set(k, g);
  }
  // days are UTC days (the answer's buckets); hours in local time, as every time the CLI prints
  const label = (ms: number) =>
    t.period === '30d' ? new Date(ms).toISOString().slice(0, 10) : when(new Date(ms).toISOString());
  return (
    head +
    table(
      [
        t.period === '30d' ? 'DAY (UTC)' : 'HOUR',
        'REQUESTS',
        'HITS',
        'MISSES',
        'HIT RATIO',
        'FROM CACHE',
        'FROM UPSTREAM',
      ],
      [...groups].map(([k, g]) => row(label(k), g)),
    )
  );
}

export function registerCacheCommands(cache: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  leaf(cache, 'stats', 'files, bytes and package index size')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts) => run(o, 'cache.stats', {}, (s: CacheStats) => formatStats(s)));
  leaf(
    cache,
    'history',
    'the proxy over time: requests, hit ratio, bytes from the cache and from upstream (sampled every 5 minutes)',
  )
    .option('--period <period>', `${TRAFFIC_PERIODS.join(' or ')} (default 24h: per hour; 30d: per day)`)
    .option('--json', 'machine-readable output (24h: 5-minute buckets)')
    .action((o: RemoteOpts & { period?: string }) =>
      run(o, 'cache.traffic', o.period === undefined ? {} : { period: o.period }, (t: TrafficJson) => formatTraffic(t)),
    );
}
