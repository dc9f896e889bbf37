// Token buckets by key (a client address, an enrolment token, a machine-id, a machine number), in
// memory: a restart forgets them, which costs an attacker at most one more burst and only ever
// lets an agent through. The map is bounded so that a flood of distinct addresses cannot grow it
// without end. One limiter serves enrolments (fault 13) and reports with packages (fault 12).
import type { RateLimit } from '../config.js';
import { fail, type ErrorCode } from '../errors.js';
import { addressKey } from '../sys/address.js';

// the key of a client address moved to sys/ (the login limits of access/ use it too)
export { addressKey };

/** At most `count` per `windowMs` (refilled evenly); count 0 turns the limit off. */
export type Rate = RateLimit;

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_KEYS = 50_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Takes one from the key's bucket: undefined when allowed, else the seconds until one is
   * (nothing is taken then). A burst of `count` passes, a steady stream is held to the rate.
   */
  tryTake(key: string, rate: Rate): number | undefined {
    if (rate.count <= 0) return undefined;
    const now = this.now();
    const perMs = rate.count / rate.windowMs;
    const b = this.buckets.get(key);
    const tokens = b ? Math.min(rate.count, b.tokens + Math.max(0, now - b.at) * perMs) : rate.count;
    if (tokens < 1) return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
    // re-inserted at the end: the first entries of the map are the least recently used
    this.buckets.delete(key);
    this.buckets.set(key, { tokens: tokens - 1, at: now });
    if (this.buckets.size > MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
    return undefined;
  }

  /**
   * Takes one from the key's bucket, or throws `code` saying which enrolment limit was exceeded
   * and when to come back (nothing is taken then).
   */
  take(key: string, rate: Rate, code: ErrorCode, what: string): void {
    const wait = this.tryTake(key, rate);
    if (wait !== undefined) {
      fail(
        code,
        `too many enrolments ${what} (at most ${rate.count} per ${formatWindow(rate.windowMs)}): try again in ${wait} s`,
      );
    }
  }
}

function formatWindow(ms: number): string {
  for (const [unit, n] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}
