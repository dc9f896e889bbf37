// Per-machine rate limits: a token bucket per machine holding up to `perMinute` calls, refilled
// at `perMinute` a minute, so a burst of that many passes and a steady stream is held to the
// rate. In memory: a restart forgets the buckets, which only ever lets an agent through.

export class RateLimiter {
  private readonly buckets = new Map<number, { tokens: number; at: number }>();

  /** `perMinute` 0: no limit */
  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  /** Takes one call from the machine's bucket: undefined when allowed, else seconds until the next one is. */
  take(machine: number): number | undefined {
    if (this.perMinute <= 0) return undefined;
    const now = this.now();
    const perMs = this.perMinute / 60_000;
    const b = this.buckets.get(machine) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + Math.max(0, now - b.at) * perMs);
    b.at = now;
    this.buckets.set(machine, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.trim(now, perMs);
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
  }

  /** Buckets that have filled up again are the same as none: dropped when many are kept. */
  private trim(now: number, perMs: number): void {
    if (this.buckets.size < 10_000) return;
    for (const [k, b] of this.buckets) if (b.tokens + (now - b.at) * perMs >= this.perMinute) this.buckets.delete(k);
  }
}
