// Pre-loading's two limits: the hours it may run in ([site] preload_window, local time, may wrap
// past midnight) and its bandwidth ([site] preload_rate, a token bucket the fill awaits after each
// upstream chunk; reading the parent's body no faster keeps the link free for everything else).

export interface PreloadWindow {
  startMin: number;
  endMin: number;
}

const DAY_MIN = 24 * 60;

function minuteOf(d: Date): number {
  return d.getHours() * 60 + d.getMinutes();
}

/** Whether local time `d` is inside the window (null: any time). */
export function inWindow(w: PreloadWindow | null, d: Date): boolean {
  if (!w) return true;
  const m = minuteOf(d);
  return w.startMin < w.endMin ? m >= w.startMin && m < w.endMin : m >= w.startMin || m < w.endMin;
}

/** Milliseconds from `d` until the window next opens (0 inside it). */
export function msUntilOpen(w: PreloadWindow | null, d: Date): number {
  if (inWindow(w, d)) return 0;
  const minutes = (w!.startMin - minuteOf(d) + DAY_MIN) % DAY_MIN;
  return Math.max(1000, minutes * 60_000 - d.getSeconds() * 1000 - d.getMilliseconds());
}

/**
 * At most `rate` bytes a second on average: `take(n)` charges n bytes already received and
 * waits while the bucket is in debt, so a whole transfer lasts at least (bytes - burst) / rate.
 * The burst is small (an eighth of a second's worth, 16 KiB to 256 KiB). Rate 0: no limit.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  readonly burst: number;

  constructor(readonly rate: number) {
    this.burst = Math.min(256 * 1024, Math.max(16 * 1024, Math.floor(rate / 8)));
    this.tokens = this.burst;
  }

  async take(n: number, stopped?: () => boolean): Promise<void> {
    if (this.rate <= 0) return;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    this.tokens -= n;
    // waits in steps of at most a second, so a stop is seen soon
    while (this.tokens < 0 && !stopped?.()) {
      const ms = Math.min(1000, Math.ceil((-this.tokens * 1000) / this.rate));
      await new Promise((r) => setTimeout(r, ms));
      const t = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
      this.last = t;
    }
  }
}
