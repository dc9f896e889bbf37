// Failed logins per account and per client address: token buckets in memory (a restart forgets
// them: at most one more burst for an attacker). An attempt takes one before the password is
// checked, so parallel guesses cannot all slip past the limit while scrypt runs; a success gives
// back what it took (only failures count), and no more: it never wipes earlier failures.
import { fail } from '../errors.js';
import { addressKey } from '../sys/address.js';

/** At most `count` failures per `windowMs`, refilled evenly; count 0: no limit. */
export interface LoginRate {
  count: number;
  windowMs: number;
}

export interface LoginLimits {
  account: LoginRate;
  address: LoginRate;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  account: { count: 5, windowMs: 15 * 60_000 },
  address: { count: 20, windowMs: 15 * 60_000 },
};

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_KEYS = 50_000;

/** One attempt's hold on both buckets: given back on success. */
export interface LoginAttempt {
  succeeded(): void;
}

export class LoginLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes one from the account's and the address's bucket, or throws LOGIN_LIMITED with the
   * seconds to wait (details.retryAfter); nothing is taken then.
   */
  attempt(account: string, address: string | undefined): LoginAttempt {
    const keys: Array<[string, LoginRate]> = [[`user:${account.slice(0, 64)}`, this.limits.account]];
    if (address) keys.push([`addr:${addressKey(address)}`, this.limits.address]);
    const now = this.now();
    let wait = 0;
    for (const [key, rate] of keys) wait = Math.max(wait, this.waitFor(key, rate, now));
    if (wait > 0) fail('LOGIN_LIMITED', `too many failed logins: try again in ${wait} s`, { retryAfter: wait });
    for (const [key, rate] of keys) this.take(key, rate, now);
    return {
      succeeded: () => {
        for (const [key, rate] of keys) this.give(key, rate);
      },
    };
  }

  private level(key: string, rate: LoginRate, now: number): number {
    const b = this.buckets.get(key);
    if (!b) return rate.count;
    return Math.min(rate.count, b.tokens + (Math.max(0, now - b.at) * rate.count) / rate.windowMs);
  }

  /** Seconds until the key has one again; 0 when it has one now. */
  private waitFor(key: string, rate: LoginRate, now: number): number {
    if (rate.count <= 0) return 0;
    const tokens = this.level(key, rate, now);
    if (tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - tokens) * rate.windowMs) / rate.count / 1000));
  }

  private take(key: string, rate: LoginRate, now: number): void {
    if (rate.count <= 0) return;
    const tokens = this.level(key, rate, now) - 1;
    // re-inserted at the end: the first entries of the map are the least recently used
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
    if (this.buckets.size > MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
  }

  private give(key: string, rate: LoginRate): void {
    const now = this.now();
    const b = this.buckets.get(key);
    if (!b) return;
    const tokens = this.level(key, rate, now) + 1;
    if (tokens >= rate.count) this.buckets.delete(key);
    else this.buckets.set(key, { tokens, at: now });
  }
}
