// Event-loop delay of the server process, as every apt client feels it, reported in /-/metrics.
// A 10 ms timer is sampled as perf_hooks.monitorEventLoopDelay samples it, into a perf_hooks
// histogram, but a hold of the loop counts once for every 10 ms it lasted (HdrHistogram's
// coordinated-omission correction): a 5 s freeze is 500 late samples, not one, so the
// quantiles say for what share of the time a request would have waited that long.
// The window opens with the server; SIGUSR2 opens a new one (a benchmark measures one scenario
// at a time, and no network client can clear it).
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { SummaryValue } from './metrics.js';

const INTERVAL_MS = 10;
// a hold longer than this is recorded as this long (bounds the work of one tick)
const MAX_CORRECTED_MS = 3_600_000;
export const LOOP_DELAY_QUANTILES = [0.5, 0.9, 0.99, 0.999, 1] as const;

export class LoopDelay {
  // microseconds
  private readonly h: RecordableHistogram = createHistogram({
    lowest: 1,
    highest: 2 * MAX_CORRECTED_MS * 1000,
    figures: 3,
  });
  private readonly timer: NodeJS.Timeout;
  private last = performance.now();
  /** when the current window opened (ms since the epoch) */
  windowStart = Date.now();
  private readonly onSignal = () => this.reset();

  constructor() {
    this.timer = setInterval(() => this.tick(), INTERVAL_MS);
    this.timer.unref();
    process.on('SIGUSR2', this.onSignal);
  }

  private tick(): void {
    const now = performance.now();
    const late = Math.min(MAX_CORRECTED_MS, Math.max(0, now - this.last - INTERVAL_MS));
    this.last = now;
    this.record(late);
    for (let missed = late - INTERVAL_MS; missed > 0; missed -= INTERVAL_MS) this.record(missed);
  }

  private record(ms: number): void {
    this.h.record(Math.max(1, Math.round(ms * 1000)));
  }

  reset(): void {
    this.h.reset();
    this.windowStart = Date.now();
  }

  /** Seconds the sampling timer fired late; quantiles over time (see above). */
  summary(): SummaryValue {
    const count = this.h.count;
    const s = (us: number) => (count === 0 ? 0 : us / 1e6);
    return {
      quantiles: LOOP_DELAY_QUANTILES.map((q) => [q, s(q === 1 ? this.h.max : this.h.percentile(q * 100))]),
      sum: count === 0 ? 0 : s(this.h.mean) * count,
      count,
    };
  }

  close(): void {
    clearInterval(this.timer);
    process.off('SIGUSR2', this.onSignal);
  }
}
