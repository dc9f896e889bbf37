// Values of settings as written in a file, a variable or an option: durations (30s), sizes
// (50G), rates (100/1h), ports, CIDRs, host:port, booleans, lists, mirror URLs, backend names. Each error
// names the key.
import { isIP } from 'node:net';
import { fail } from './errors.js';
import type { RateLimit } from './config-defaults.js';

// paths of the server's own that a backend name would shadow
const RESERVED_BACKEND_NAMES = new Set(['-', 'stage', 'rpc2', 'console']);

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(key: string, value: string): number {
  if (/^\s*0\s*$/.test(value)) return 0; // zero needs no unit ("refresh_interval = 0": off)
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!m) fail('CONFIG_INVALID', `${key}: expected a duration such as 30s, 10m, 6h or 7d, got "${value}"`, { key });
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseSize(key: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) fail('CONFIG_INVALID', `${key}: expected a size such as 512M or 50G, got "${value}"`, { key });
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** At most `count` per `windowMs`; count 0: no limit. */

/** "N/DURATION" (e.g. 100/1h), or 0 / off for no limit. */
export function parseRate(key: string, value: string): RateLimit {
  if (/^\s*(?:0|off)\s*$/.test(value)) return { count: 0, windowMs: 1 };
  const m = /^\s*(\d{1,9})\s*\/\s*(\S+)\s*$/.exec(value);
  if (!m)
    fail('CONFIG_INVALID', `${key}: expected COUNT/DURATION such as 100/1h (or 0 for no limit), got "${value}"`, {
      key,
    });
  const windowMs = parseDuration(key, m[2]!);
  if (windowMs < 1000) fail('CONFIG_INVALID', `${key}: the duration must be at least 1s`, { key });
  return { count: Number(m[1]), windowMs };
}

export function parsePort(key: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 0 || n > 65535)
    fail('CONFIG_INVALID', `${key}: expected a port number 0-65535, got "${value}"`, { key });
  return n;
}

export function parseCount(key: string, value: string, min: number, max: number): number {
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < min || Number(value) > max)
    fail('CONFIG_INVALID', `${key}: expected a whole number ${min}..${max}, got "${value}"`, { key });
  return Number(value);
}

/**
 * "10.0.0.0/8", "fd00::/8", "192.0.2.7" (one address) → the canonical CIDR. An IPv4-mapped IPv6
 * network (::ffff:10.0.0.0/104) is the IPv4 network it maps; host bits must be zero.
 */
export function parseCidr(key: string, value: string): string {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(value.trim());
  const bad: (why: string) => never = (why) =>
    fail(
      'CONFIG_INVALID',
      `${key}: "${value}" is not a network (${why}); expected CIDRs such as 10.0.0.0/8, 192.168.1.0/24 or fd00::/8`,
      { key },
    );
  if (!m) bad('address/prefix');
  let addr = m[1]!.toLowerCase();
  let family = isIP(addr);
  if (family === 0) bad('not an IPv4 or IPv6 address');
  let prefix = m[2] === undefined ? (family === 4 ? 32 : 128) : Number(m[2]);
  if (prefix > (family === 4 ? 32 : 128)) bad(`prefix /${prefix} is longer than the address`);
  let bits = addressBits(addr, family);
  if (family === 6 && prefix >= 96 && bits.startsWith('0'.repeat(80) + '1'.repeat(16))) {
    bits = bits.slice(96);
    addr = (bits.match(/.{8}/g) ?? []).map((b) => parseInt(b, 2)).join('.');
    family = 4;
    prefix -= 96;
  }
  if (prefix < bits.length && /1/.test(bits.slice(prefix))) bad(`host bits set beyond /${prefix}`);
  return `${addr}/${prefix}`;
}

/** The address as a string of 32 or 128 bits. */
function addressBits(addr: string, family: number): string {
  if (family === 4)
    return addr
      .split('.')
      .map((o) => Number(o).toString(2).padStart(8, '0'))
      .join('');
  // 16-bit words; a trailing dotted IPv4 part counts as two; "::" stands for the missing zeros
  const words = (part: string) =>
    (part ? part.split(':') : []).flatMap((w) =>
      w.includes('.') ? addressBits(w, 4).match(/.{16}/g)! : [parseInt(w, 16).toString(2).padStart(16, '0')],
    );
  const [head, tail] = addr.includes('::') ? (addr.split('::') as [string, string]) : [addr, ''];
  const h = words(head);
  const t = words(tail);
  return [...h, ...Array<string>(8 - h.length - t.length).fill('0'.repeat(16)), ...t].join('');
}

/** "127.0.0.1:9142", "[::1]:9142", "localhost:9142" → host and port. */
export function parseHostPort(key: string, value: string): { host: string; port: number } {
  const m = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})\s*$/.exec(value);
  if (!m)
    fail('CONFIG_INVALID', `${key}: expected host:port such as 127.0.0.1:9142 or [::1]:9142, got "${value}"`, { key });
  if (m[1] !== undefined && isIP(m[1]) !== 6)
    fail('CONFIG_INVALID', `${key}: "${m[1]}" is not an IPv6 address`, { key });
  return { host: m[1] ?? m[2]!, port: parsePort(key, m[3]!) };
}

/** true/false (also yes/no, on/off, 1/0). */
export function parseBool(key: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  fail('CONFIG_INVALID', `${key}: expected true or false, got "${value}"`, { key });
}

export function parseList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

export function parseMirror(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('CONFIG_INVALID', `${key}: "${value}" is not a URL`, { key });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail('CONFIG_INVALID', `${key}: mirror "${value}" must be http:// or https://`, { key });
  if (url.search || url.hash || url.username || url.password)
    fail('CONFIG_INVALID', `${key}: mirror "${value}" must not carry a query, fragment or credentials`, { key });
  return url.href.replace(/\/+$/, '');
}

export function validBackendName(name: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*$/.test(name) && !RESERVED_BACKEND_NAMES.has(name);
}
