// Counters, gauges and summaries, rendered in the Prometheus text format at GET /-/metrics.
type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  return keys
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

class Family {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    readonly zeroWhenEmpty = true,
  ) {}
  add(labels: Labels, n: number): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + n);
  }
  set(labels: Labels, n: number): void {
    this.values.set(labelKey(labels), n);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
}

/** What a summary reports when rendered: quantiles (0..1) with their values, and sum and count. */
export interface SummaryValue {
  quantiles: Array<[number, number]>;
  sum: number;
  count: number;
}

export class Metrics {
  private readonly families = new Map<string, Family>();
  private readonly collectors: Array<() => void> = [];
  private readonly summaries = new Map<string, { help: string; read: () => SummaryValue }>();

  private family(name: string, help: string, type: 'counter' | 'gauge', zeroWhenEmpty = true): Family {
    let f = this.families.get(name);
    if (!f) {
      f = new Family(name, help, type, zeroWhenEmpty);
      this.families.set(name, f);
    }
    return f;
  }

  /** total(): the sum over every label set (the traffic sampler reads it) */
  counter(
    name: string,
    help: string,
  ): { inc(labels?: Labels, n?: number): void; get(labels?: Labels): number; total(): number } {
    const f = this.family(name, help, 'counter');
    return {
      inc: (labels = {}, n = 1) => f.add(labels, n),
      get: (labels = {}) => f.get(labels),
      total: () => {
        let t = 0;
        for (const v of f.values.values()) t += v;
        return t;
      },
    };
  }

  /** `unknownUntilSet`: no sample at all (rather than 0) before the first set() */
  gauge(
    name: string,
    help: string,
    unknownUntilSet = false,
  ): { set(labels: Labels, n: number): void; add(labels: Labels, n: number): void; get(labels?: Labels): number } {
    const f = this.family(name, help, 'gauge', !unknownUntilSet);
    return { set: (l, n) => f.set(l, n), add: (l, n) => f.add(l, n), get: (l = {}) => f.get(l) };
  }

  /** A counter whose value is read from elsewhere (set before each rendering). */
  externalCounter(name: string, help: string): { set(labels: Labels, n: number): void } {
    const f = this.family(name, help, 'counter');
    return { set: (l, n) => f.set(l, n) };
  }

  /** A summary whose value is read when rendered. */
  summary(name: string, help: string, read: () => SummaryValue): void {
    this.summaries.set(name, { help, read });
  }

  /** Runs before each rendering, to refresh gauges that are cheaper to read than to track. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }

  render(): string {
    for (const c of this.collectors) c();
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
      if (f.values.size === 0 && f.type === 'gauge' && f.zeroWhenEmpty) out.push(`${f.name} 0`);
      for (const [k, v] of f.values) out.push(k ? `${f.name}{${k}} ${v}` : `${f.name} ${v}`);
    }
    for (const [name, s] of this.summaries) {
      const v = s.read();
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} summary`);
      for (const [q, x] of v.quantiles) out.push(`${name}{quantile="${q}"} ${x}`);
      out.push(`${name}_sum ${v.sum}`, `${name}_count ${v.count}`);
    }
    return out.join('\n') + '\n';
  }
}

/** The proxy's metric set, created once per app. */
export function proxyMetrics(m: Metrics) {
  return {
    requests: m.counter(
      'aptgate_requests_total',
      'Proxy requests by result, as the access line names it (hit, miss, revalidated, coalesced, stale, not_modified, pass, pass-unverified, refused, not_found, error)',
    ),
    bytesFromCache: m.counter('aptgate_bytes_from_cache_total', 'Body bytes sent to clients from the cache'),
    bytesFromUpstream: m.counter('aptgate_bytes_from_upstream_total', 'Body bytes received from upstream mirrors'),
    upstreamRequests: m.counter('aptgate_upstream_requests_total', 'Requests sent to upstream mirrors'),
    upstreamErrors: m.counter(
      'aptgate_upstream_errors_total',
      'Upstream failures (connect, timeout, 5xx, integrity, signature) per mirror',
    ),
    fillsInFlight: m.gauge('aptgate_fills_in_flight', 'Cache fills currently downloading'),
    cacheBytes: m.gauge(
      'aptgate_cache_bytes',
      'Bytes of completed objects in the cache directory (no sample until the start-up walk measured it)',
      true,
    ),
    cacheFiles: m.gauge(
      'aptgate_cache_files',
      'Completed objects in the cache directory (no sample until the start-up walk measured it)',
      true,
    ),
    snapshots: m.counter('aptgate_snapshots_total', 'New verified suite snapshots'),
    signatureFailures: m.counter('aptgate_signature_failures_total', 'Refused Release/InRelease signatures'),
    indexedFiles: m.counter('aptgate_indexed_files_total', 'Packages contents parsed into the package index'),
    zeroCopyBytes: m.externalCounter(
      'aptgate_sendfile_bytes_total',
      'Cached file bytes sent with sendfile (zero copy)',
    ),
    copiedBytes: m.externalCounter(
      'aptgate_copied_file_bytes_total',
      'Cached file bytes sent through a read/write loop',
    ),
    loopDelayWindow: m.gauge(
      'aptgate_event_loop_delay_window_start_seconds',
      'When the window of aptgate_event_loop_delay_seconds opened (Unix time)',
    ),
    backgroundBusy: m.gauge('aptgate_background_busy', 'Background work running now (1) or not (0), by task'),
    slowClientWaits: m.externalCounter(
      'aptgate_slow_client_waits_total',
      'Times a client socket stayed full and was watched until it had room',
    ),
  };
}
export type ProxyMetrics = ReturnType<typeof proxyMetrics>;
