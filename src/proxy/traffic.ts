// The proxy's traffic history: every TRAFFIC_SAMPLE_MS the background turn (assembly/background.ts)
// reads the proxy's counters (in memory) and records what they added since the last sample
// (state/proxy-history.ts): a few integers read and two small upserts, nothing on a request's
// path. Counters start at zero with the process, so nothing is counted twice across restarts.
import type { ProxyHistoryStore, TrafficDelta } from '../state/proxy-history.js';
import { HITS, MISSES } from './clients.js';
import type { ProxyMetrics } from './metrics.js';

export const TRAFFIC_SAMPLE_MS = 5 * 60_000;

function read(m: ProxyMetrics): TrafficDelta {
  let hits = 0;
  let misses = 0;
  for (const r of HITS) hits += m.requests.get({ result: r });
  for (const r of MISSES) misses += m.requests.get({ result: r });
  return {
    requests: m.requests.total(),
    hits,
    misses,
    bytesFromCache: m.bytesFromCache.total(),
    bytesFromUpstream: m.bytesFromUpstream.total(),
  };
}

export class TrafficSampler {
  private last: TrafficDelta;

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly store: ProxyHistoryStore,
    private readonly now: () => number,
  ) {
    this.last = read(metrics);
  }

  /** Records what the counters added since the last sample, in the bucket of now; returns it. */
  sample(): TrafficDelta {
    const cur = read(this.metrics);
    const d: TrafficDelta = {
      requests: cur.requests - this.last.requests,
      hits: cur.hits - this.last.hits,
      misses: cur.misses - this.last.misses,
      bytesFromCache: cur.bytesFromCache - this.last.bytesFromCache,
      bytesFromUpstream: cur.bytesFromUpstream - this.last.bytesFromUpstream,
    };
    // the bucket the interval ends in (a sample right on a boundary closes the bucket before it)
    this.store.add(this.now() - 1, d);
    this.last = cur;
    return d;
  }
}
