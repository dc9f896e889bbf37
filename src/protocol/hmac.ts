// The HMAC both the per-call signatures (signing.ts) and the re-enrolment proof
// (identity-proof.ts) are made of, and the one way a presented one is compared: by shape first,
// then in constant time, so the comparison tells an attacker nothing about the expected value.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** hex HMAC-SHA256 of `text` with `secret` as the key */
export function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** Whether `presented` is the hex HMAC-SHA256 `expected` (64 lower-case hex digits), in constant time. */
export function hmacMatches(expected: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || !/^[0-9a-f]{64}$/.test(presented)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(presented, 'hex'));
}
