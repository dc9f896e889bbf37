// A strict, allocation-light decoder for the XML-RPC method calls well-behaved clients write
// (the npm xmlrpc serializer, Python's xmlrpc.client and the like). It answers `undefined`
// for anything outside that subset, and codec.ts then takes the sax-based path, which gives
// the existing results and faults. For every input it accepts the result is identical to
// that path's (after its sanitize step): the text of a value is decoded the same way (5 XML
// entities, numeric references, CDATA, no newline normalisation) and converted the same way
// (parseInt, parseFloat, Buffer.from(…, 'base64'), the codec's own date function).
//
// Accepted: optional `<?xml …?>`, whitespace, `<methodCall><methodName>…</methodName>`
// [`<params>` (`<param><value>…</value></param>`)* `</params>` | `<params/>`] `</methodCall>`;
// values `<int>`/`<i4>` (32-bit), `<boolean>` 0/1, `<string>`, bare text, `<double>`,
// `<dateTime.iso8601>`, `<base64>`, `<nil/>`, `<struct>`, `<array><data>`, `<value/>`.
// Refused: DOCTYPE, comments, other processing instructions, other entities, attributes,
// namespaces, `<i8>`, unknown or differently cased tags, bad nesting, values nested deeper
// than 64 levels, forbidden member names, lone surrogates, a leading BOM.
// Every scan moves forward (the next '&' is remembered), so the work is linear in the body.
import type { MethodCall } from './codec.js';

/** Thrown (never an Error: no stack is captured) to give up; caught in fastDecodeCall. */
const NOT_MINE = { notMine: true };
const MAX_DEPTH = 64;
const FORBIDDEN_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);
const INT = /^[ \t\r\n]*[+-]?[0-9]{1,10}[ \t\r\n]*$/;
const DOUBLE = /^[ \t\r\n]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?[ \t\r\n]*$/;
const DATE = /^[0-9]{4}-?[0-9]{2}-?[0-9]{2}T[0-9]{2}:?[0-9]{2}:?[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$/;

// parser state: one synchronous run at a time
let s = '';
let p = 0;
/** index of the next '&' at or after `p` (s.length when there is none) */
let amp = 0;
let decodeDate: (text: string) => Date = () => new Date(Number.NaN);

function fail(): never {
  throw NOT_MINE;
}

function ws(): void {
  for (;;) {
    const c = s.charCodeAt(p);
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) p++;
    else return;
  }
}

/** Consumes `lit` when it is at `i` (default: p). */
function at(lit: string, i = p): boolean {
  if (!s.startsWith(lit, i)) return false;
  p = i + lit.length;
  return true;
}

function expect(lit: string): void {
  if (!at(lit)) fail();
}

/** The reference at `i` ('&' … ';'): returns its character(s) and moves p past it. */
function entity(i: number): string {
  switch (s.charCodeAt(i + 1)) {
    case 0x6c: // l
      if (at('&lt;', i)) return '<';
      break;
    case 0x67: // g
      if (at('&gt;', i)) return '>';
      break;
    case 0x61: // a
      if (at('&amp;', i)) return '&';
      if (at('&apos;', i)) return "'";
      break;
    case 0x71: // q
      if (at('&quot;', i)) return '"';
      break;
    case 0x23: { // #: &#N; or &#xN; (sax answers 0 with the literal text and throws above 0x10ffff)
      const hex = (s.charCodeAt(i + 2) | 0x20) === 0x78; // x or X, as sax reads it
      let k = i + (hex ? 3 : 2);
      const from = k;
      let n = 0;
      for (; k < from + 8; k++) {
        const d = s.charCodeAt(k);
        if (d >= 0x30 && d <= 0x39) n = n * (hex ? 16 : 10) + (d - 0x30);
        else if (hex && d >= 0x61 && d <= 0x66) n = n * 16 + (d - 0x57);
        else if (hex && d >= 0x41 && d <= 0x46) n = n * 16 + (d - 0x37);
        else break;
      }
      if (k === from || s.charCodeAt(k) !== 0x3b || n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) break;
      p = k + 1;
      return String.fromCodePoint(n);
    }
  }
  return fail();
}

/** Character data up to `close` (which it consumes): references and CDATA decoded, any other markup refused. */
function text(close: string): string {
  let out = '';
  let start = p;
  for (;;) {
    const lt = s.indexOf('<', p);
    if (lt < 0) fail();
    if (amp < p) {
      amp = s.indexOf('&', p);
      if (amp < 0) amp = s.length;
    }
    while (amp < lt) {
      out += s.slice(start, amp) + entity(amp);
      start = p;
      amp = s.indexOf('&', p);
      if (amp < 0) amp = s.length;
    }
    if (s.startsWith(close, lt)) {
      p = lt + close.length;
      return out === '' ? s.slice(start, lt) : out + s.slice(start, lt);
    }
    if (!s.startsWith('<![CDATA[', lt)) fail();
    const end = s.indexOf(']]>', lt + 9);
    if (end < 0) fail();
    out += s.slice(start, lt) + s.slice(lt + 9, end);
    p = start = end + 3;
  }
}

/**
 * A string value of its own: a slice of the body would keep the whole body alive for as long
 * as the value lives (V8 slices strings of 13 characters and more instead of copying them).
 * Shorter ones are copies already; one that is most of the body is left as it is.
 */
function own(v: string): string {
  return v.length < 13 || v.length * 2 > s.length ? v : (' ' + v).slice(1); // flattening the concatenation copies v
}

function int(close: string): number {
  const t = text(close);
  if (!INT.test(t)) fail();
  const n = parseInt(t, 10);
  if (n > 2147483647 || n < -2147483648) fail();
  return n;
}

function struct(depth: number): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  ws();
  while (!at('</struct>')) {
    expect('<member>');
    ws();
    let name = '';
    if (!at('<name/>')) {
      expect('<name>');
      name = text('</name>');
    }
    if (FORBIDDEN_MEMBERS.has(name)) fail();
    ws();
    out[name] = value(depth + 1);
    ws();
    expect('</member>');
    ws();
  }
  return out;
}

function array(depth: number): unknown[] {
  const out: unknown[] = [];
  ws();
  if (!at('<data/>')) {
    expect('<data>');
    ws();
    while (!at('</data>')) {
      out.push(value(depth + 1));
      ws();
    }
  }
  ws();
  expect('</array>');
  return out;
}

/** The typed content of a <value> (p at its '<'). */
function typed(depth: number): unknown {
  switch (s.charCodeAt(p + 1)) {
    case 0x73: // s
      if (at('<string>')) return own(text('</string>'));
      if (at('<string/>')) return '';
      if (at('<struct>')) return struct(depth);
      if (at('<struct/>')) return Object.create(null);
      break;
    case 0x69: // i
      if (at('<int>')) return int('</int>');
      if (at('<i4>')) return int('</i4>');
      break;
    case 0x62: // b
      if (at('<boolean>')) {
        const t = text('</boolean>');
        if (t === '1') return true;
        if (t === '0') return false;
      } else if (at('<base64>')) {
        return Buffer.from(text('</base64>'), 'base64');
      } else if (at('<base64/>')) {
        return Buffer.alloc(0);
      }
      break;
    case 0x64: // d
      if (at('<double>')) {
        const t = text('</double>');
        const n = DOUBLE.test(t) ? parseFloat(t) : Number.NaN;
        if (Number.isFinite(n)) return n;
      } else if (at('<dateTime.iso8601>')) {
        const t = text('</dateTime.iso8601>');
        const d = DATE.test(t) ? decodeDate(t) : undefined;
        if (d instanceof Date && !Number.isNaN(d.getTime())) return d;
      }
      break;
    case 0x6e: // n
      if (at('<nil/>') || at('<nil></nil>')) return null;
      break;
    case 0x61: // a
      if (at('<array>')) return array(depth);
      if (at('<array/>')) return [];
      break;
  }
  return fail();
}

/** A <value> element (p at it); `depth` as sanitize counts it (a param is 1). */
function value(depth: number): unknown {
  if (depth > MAX_DEPTH) fail();
  if (at('<value/>')) return '';
  expect('<value>');
  const start = p;
  ws();
  if (s.charCodeAt(p) === 0x3c /* < */) {
    const c = s.charCodeAt(p + 1);
    if (c !== 0x2f /* / */ && c !== 0x21 /* ! */) {
      // whitespace before and after a typed value is dropped, as the sax path does
      const v = typed(depth);
      ws();
      expect('</value>');
      return v;
    }
  }
  p = start;
  return own(text('</value>'));
}

function call(): MethodCall {
  ws();
  if (at('<?xml')) {
    const c = s.charCodeAt(p);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) fail();
    const end = s.indexOf('?>', p);
    if (end < 0) fail();
    for (let k = p; k < end; k++) if (s.charCodeAt(k) === 0x3c || s.charCodeAt(k) === 0x3e) fail();
    p = end + 2;
    ws();
  }
  expect('<methodCall>');
  ws();
  expect('<methodName>');
  const method = own(text('</methodName>'));
  if (method === '') fail();
  ws();
  const params: unknown[] = [];
  if (at('<params>')) {
    ws();
    while (at('<param>')) {
      ws();
      params.push(value(1));
      ws();
      expect('</param>');
      ws();
    }
    expect('</params>');
    ws();
  } else if (at('<params/>')) {
    ws();
  }
  expect('</methodCall>');
  ws();
  if (p !== s.length) fail();
  return { method, params };
}

/**
 * Decodes `body` when it is in the subset above, else `undefined` (never throws).
 * `dateFromText` must be the slow path's own dateTime conversion, so that dates agree.
 */
export function fastDecodeCall(body: string, dateFromText: (text: string) => Date): MethodCall | undefined {
  if (typeof body !== 'string' || body.charCodeAt(0) === 0xfeff) return undefined;
  // the slow path reads the body through UTF-8: lone surrogates would become U+FFFD there
  if (!(body as string & { isWellFormed(): boolean }).isWellFormed()) return undefined;
  s = body;
  p = 0;
  amp = -1;
  decodeDate = dateFromText;
  try {
    return call();
  } catch {
    return undefined;
  } finally {
    s = '';
  }
}
