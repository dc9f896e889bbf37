// Password hashes: scrypt (memory-hard), computed in libuv's thread pool (the async API), never on
// the event loop. Stored as scrypt$N$r$p$salt$hash (base64url), so the cost can rise later while
// old hashes keep verifying. A password is never logged, never put in an error message.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { fail } from '../errors.js';

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 1024;

const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// scrypt needs 128·N·r bytes: 32 MiB at N=2^15, r=8 (node's default cap is 32 MiB exactly, too tight)
const maxmemFor = (N: number, r: number) => 128 * N * r * 2;
// a stored hash is ours, but a damaged or hostile row must not make one login cost gigabytes
const LIMITS = { N: 2 ** 20, r: 32, p: 16 };

// One scrypt at a time: libuv's thread pool (4 threads) also reads the cache's files and resolves
// the mirrors' names, and a few logins at once (a flood, or one account logging in again and
// again: a success costs no allowance) held every thread for seconds while apt clients waited.
let hashing = false;
const waiting: Array<() => void> = [];

/** Password checks waiting for their turn (a login refuses to queue behind too many). */
export function passwordChecksWaiting(): number {
  return waiting.length;
}

async function derive(password: string, salt: Buffer, N: number, r: number, p: number, len: number): Promise<Buffer> {
  if (hashing) await new Promise<void>((resolve) => waiting.push(resolve));
  hashing = true;
  try {
    const options: ScryptOptions = { N, r, p, maxmem: maxmemFor(N, r) };
    return await new Promise<Buffer>((resolve, reject) =>
      scrypt(password.normalize('NFC'), salt, len, options, (err, key) => (err ? reject(err) : resolve(key))),
    );
  } finally {
    // the turn passes to the next in line, or the pool is free
    const next = waiting.shift();
    if (next) next();
    else hashing = false;
  }
}

/** Refuses a password outside the policy (USAGE): 10 to 1024 characters. */
export function checkPasswordPolicy(password: string): void {
  if (typeof password !== 'string' || password.length === 0) fail('USAGE', 'the password is empty');
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH)
    fail('USAGE', `the password is too short: at least ${PASSWORD_MIN_LENGTH} characters`);
  if (length > PASSWORD_MAX_LENGTH)
    fail('USAGE', `the password is too long: at most ${PASSWORD_MAX_LENGTH} characters`);
}

/** The stored form of a password (checked against the policy first). */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordPolicy(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, COST.N, COST.r, COST.p, KEY_BYTES);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Whether `password` is the one `stored` was made from; false for anything malformed (never throws). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (typeof password !== 'string' || password.length === 0 || password.length > PASSWORD_MAX_LENGTH * 4) return false;
  const m = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{16,})$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || N > LIMITS.N || (N & (N - 1)) !== 0 || r < 1 || r > LIMITS.r || p < 1 || p > LIMITS.p) return false;
  const salt = Buffer.from(m[4]!, 'base64url');
  const want = Buffer.from(m[5]!, 'base64url');
  if (want.length < KEY_BYTES || want.length > 64) return false;
  const got = await derive(password, salt, N, r, p, want.length);
  return timingSafeEqual(got, want);
}

let decoy: Promise<string> | undefined;

/**
 * A hash of no one's password: a login for an unknown user verifies against it, so the answer
 * takes as long as for a known one (the time does not tell which names exist).
 */
export function decoyHash(): Promise<string> {
  return (decoy ??= hashPassword(randomBytes(18).toString('base64url')));
}
