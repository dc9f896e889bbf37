// The text of XML-RPC values as the sax-based path reads and converts it (fast-decode.ts keeps
// to it exactly): the five XML entities and numeric references, and the scalar types. Each
// answers undefined for text outside the subset the fast decoder accepts.
import { badReference, isXmlChar } from './limits.js';

const INT = /^[ \t\r\n]*[+-]?[0-9]{1,10}[ \t\r\n]*$/;
const DOUBLE = /^[ \t\r\n]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?[ \t\r\n]*$/;
const DATE =
  /^[0-9]{4}-?[0-9]{2}-?[0-9]{2}T[0-9]{2}:?[0-9]{2}:?[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$/;

/** `<int>`/`<i4>`: 32-bit, as parseInt reads it. */
export function xmlInt(t: string): number | undefined {
  if (!INT.test(t)) return undefined;
  const n = parseInt(t, 10);
  return n > 2147483647 || n < -2147483648 ? undefined : n;
}

export function xmlBoolean(t: string): boolean | undefined {
  return t === '1' ? true : t === '0' ? false : undefined;
}

export function xmlDouble(t: string): number | undefined {
  const n = DOUBLE.test(t) ? parseFloat(t) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** `<dateTime.iso8601>`, converted by the codec's own date function. */
export function xmlDate(t: string, decodeDate: (text: string) => Date): Date | undefined {
  const d = DATE.test(t) ? decodeDate(t) : undefined;
  return d instanceof Date && !Number.isNaN(d.getTime()) ? d : undefined;
}

const NAMED: ReadonlyArray<[string, string]> = [
  ['&lt;', '<'],
  ['&gt;', '>'],
  ['&amp;', '&'],
  ['&apos;', "'"],
  ['&quot;', '"'],
];

/**
 * The reference at `i` of `s` ('&' … ';'): its character(s) and the index after it. A numeric
 * reference to no XML character (&#0;, a surrogate, beyond U+10FFFF) throws the fault of its
 * own (limits.ts badReference); anything else unknown is undefined.
 */
export function xmlReference(s: string, i: number): { text: string; end: number } | undefined {
  if (s.charCodeAt(i + 1) !== 0x23) {
    for (const [name, text] of NAMED) if (s.startsWith(name, i)) return { text, end: i + name.length };
    return undefined;
  }
  // #: &#N; or &#xN; (x or X, as sax reads it)
  const hex = (s.charCodeAt(i + 2) | 0x20) === 0x78;
  let k = i + (hex ? 3 : 2);
  const from = k;
  let n = 0;
  for (; ; k++) {
    const d = s.charCodeAt(k);
    if (d >= 0x30 && d <= 0x39) n = n * (hex ? 16 : 10) + (d - 0x30);
    else if (hex && d >= 0x61 && d <= 0x66) n = n * 16 + (d - 0x57);
    else if (hex && d >= 0x41 && d <= 0x46) n = n * 16 + (d - 0x37);
    else break;
    if (n > 0x10ffff) n = 0x110000; // stays out of range, however many digits follow
  }
  if (k === from || s.charCodeAt(k) !== 0x3b) return undefined;
  if (!isXmlChar(n)) throw badReference(s.slice(i, k + 1), i);
  return { text: String.fromCodePoint(n), end: k + 1 };
}
