// Event-loop delay of the server process, as every apt client feels it: perf_hooks' sampler,
// reported in /-/metrics. The window opens with the server; SIGUSR2 opens a new one (a benchmark
// measures one scenario at a time, and no network client can clear it).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { SummaryValue } from './metrics.js';

const RESOLUTION_MS = 10;
export const LOOP_DELAY_QUANTILES = [0.5, 0.9, 0.99, 0.999, 1] as const;

export class LoopDelay {
  private readonly h: IntervalHistogram;
  /** when the current window opened (ms since the epoch) */
  windowStart = Date.now();
  private readonly onSignal = () => this.reset();

  constructor() {
    this.h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.h.enable();
    process.on('SIGUSR2', this.onSignal);
  }

  reset(): void {
    this.h.reset();
    this.windowStart = Date.now();
  }

  /**
   * Seconds the sampling timer fired late (the sampler records the whole interval between two
   * firings; the resolution is taken off, so an idle loop reads about 0).
   */
  summary(): SummaryValue {
    const count = this.h.count;
    const late = (ns: number) => (count === 0 ? 0 : Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000);
    return {
      quantiles: LOOP_DELAY_QUANTILES.map((q) => [q, late(q === 1 ? this.h.max : this.h.percentile(q * 100))]),
      sum: count === 0 ? 0 : late(this.h.mean) * count,
      count,
    };
  }

  close(): void {
    this.h.disable();
    process.off('SIGUSR2', this.onSignal);
  }
}
