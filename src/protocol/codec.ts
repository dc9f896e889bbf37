// The XML-RPC codec (the only user of the npm xmlrpc package), hardened: decoded structs are
// copied into prototype-less objects, member names that could reach a prototype are refused,
// limits (limits.ts) are counted while decoding, strings lose control characters before
// encoding, dates are always UTC. The server decodes with fast-decode.ts where it can and
// writes its answers with encode.ts, both in slices; xmlrpc's own code is the reference.
import { createRequire } from 'node:module';
import { AptgateError, fail, isAptgateError } from '../errors.js';
import {
  encodeFaultWith,
  encodeResponseSliced as encodeResponseSliced_,
  encodeResponseWith,
  prepared,
} from './encode.js';
import { nextTurn } from '../sys/time-slice.js';
import { decodeCallSliced } from './fast-decode.js';
import {
  badReference,
  GENERAL_DECODER_MAX,
  isXmlChar,
  limitFault,
  SIGNED_LIMITS,
  type DecodeLimits,
  type LimitKind,
} from './limits.js';

const require = createRequire(import.meta.url);

interface DeserializerInstance {
  /** the sax stream it reads; methodname is set when </methodName> was read */
  parser: SaxStream;
  methodname: string | null;
  deserializeMethodResponse(
    stream: NodeJS.ReadableStream,
    cb: (err: (Error & { faultCode?: number; faultString?: string }) | null, value: unknown) => void,
  ): void;
  deserializeMethodCall(
    stream: NodeJS.ReadableStream,
    cb: (err: Error | null, method: string, params: unknown[]) => void,
  ): void;
}
const Deserializer = require('xmlrpc/lib/deserializer') as new (encoding?: string) => DeserializerInstance;
const serializer = require('xmlrpc/lib/serializer') as {
  serializeMethodCall(method: string, params: unknown[]): string;
  serializeMethodResponse(value: unknown): string;
  serializeFault(fault: { faultCode: number; faultString: string }): string;
};
const dateFormatter = require('xmlrpc/lib/date_formatter') as {
  setOpts(o: { local: boolean }): void;
  decodeIso8601(text: string): Date;
  encodeIso8601(d: Date): string;
};
// process-wide, set once: the serializer writes dates in UTC with a Z
dateFormatter.setOpts({ local: false });
// the fast path converts dates with the deserializer's own function, so both paths agree
const decodeDate = (text: string): Date => dateFormatter.decodeIso8601(text);
const encodeDate = (d: Date): string => dateFormatter.encodeIso8601(d);

const FORBIDDEN_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);

/** A decoded value made safe: plain prototype-less structs, no prototype tricks. */
function sanitize(v: unknown, depth: number): unknown {
  if (depth > 64) fail('RPC_INVALID_REQUEST', 'values nested deeper than 64 levels');
  if (Array.isArray(v)) return v.map((x) => sanitize(x, depth + 1));
  if (v === null || typeof v !== 'object' || v instanceof Date || Buffer.isBuffer(v)) return v;
  // a member named __proto__ replaces the decoded object's prototype instead of adding a key
  if (Object.getPrototypeOf(v) !== Object.prototype)
    fail('RPC_INVALID_PARAMS', 'struct member name "__proto__" is not allowed');
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, x] of Object.entries(v)) {
    if (FORBIDDEN_MEMBERS.has(k)) fail('RPC_INVALID_PARAMS', `struct member name "${k}" is not allowed`);
    out[k] = sanitize(x, depth + 1);
  }
  return out;
}

/** XML-RPC value types, as system.methodSignature names them. */
export type RpcType =
  'int' | 'boolean' | 'string' | 'double' | 'dateTime.iso8601' | 'base64' | 'struct' | 'array' | 'nil';

export interface MethodCall {
  method: string;
  params: unknown[];
}

export interface DecodeOptions {
  /** default: the limits of a signed request */
  limits?: DecodeLimits;
  /** called with the method name before any parameter is decoded; what it throws rejects the call */
  onMethod?: (name: string) => void;
}

/**
 * Decodes a methodCall document; PARSE_ERROR / INVALID_REQUEST faults for what is not one, or
 * crosses a limit. What well-behaved clients send takes the strict decoder (fast-decode.ts), in
 * slices that never hold the event loop long; everything else, and every fault, comes from the
 * xmlrpc deserializer, with identical results where both apply. That one is slower and only
 * gets bodies of up to GENERAL_DECODER_MAX characters.
 */
export async function decodeCall(body: string, opts: DecodeOptions = {}): Promise<MethodCall> {
  const fast = await decodeCallSliced(body, decodeDate, opts.limits ?? SIGNED_LIMITS, opts.onMethod);
  if (fast) return fast;
  if (body.length > GENERAL_DECODER_MAX) {
    fail(
      'RPC_INVALID_REQUEST',
      `a request of more than ${GENERAL_DECODER_MAX} characters must be plain XML-RPC (no DOCTYPE, comments, attributes, entities other than XML's five, i8 or other extensions)`,
    );
  }
  return decodeCallSlow(body, opts);
}

const REFERENCE = /&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));/y;

/**
 * The first character reference naming no XML character (&#0;, a surrogate, beyond U+10FFFF;
 * sax would throw on the last or hand the others on), outside CDATA, comments and processing
 * instructions, where references are not read. Linear: every search moves forward.
 */
export function badCharacterReference(s: string): AptgateError | undefined {
  let i = 0;
  let amp = -1;
  let lt = -1;
  for (;;) {
    if (amp < i) {
      amp = s.indexOf('&#', i);
      if (amp < 0) return undefined;
    }
    if (lt < i && lt !== -2) {
      lt = s.indexOf('<', i);
      if (lt < 0) lt = -2; // no more markup
    }
    if (lt >= 0 && lt < amp) {
      const close = s.startsWith('<![CDATA[', lt)
        ? ']]>'
        : s.startsWith('<!--', lt)
          ? '-->'
          : s.startsWith('<?', lt)
            ? '?>'
            : '';
      if (!close) {
        i = lt + 1;
        continue;
      }
      const end = s.indexOf(close, lt + 2);
      if (end < 0) return undefined;
      i = end + close.length;
      continue;
    }
    REFERENCE.lastIndex = amp;
    const m = REFERENCE.exec(s);
    if (m && !isXmlChar(m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10))) return badReference(m[0], amp);
    i = amp + 2;
  }
}

/** A stand-in for the stream the Deserializer wants: the text is written to its parser directly. */
const DETACHED = {
  setEncoding() {},
  on() {
    return this;
  },
  pipe() {},
} as unknown as NodeJS.ReadableStream;
const SAX_CHUNK = 4096;

interface SaxStream {
  write(chunk: string): void;
  end(): void;
  on(ev: string, f: (...a: never[]) => void): void;
  _parser: { position: number; tags: unknown[] };
}

/**
 * Feeds `text` to a Deserializer's sax parser in chunks, a turn of the event loop between
 * them; what a handler throws (a limit) or sax throws (a RangeError) goes to `fail`.
 */
function feedSax(d: DeserializerInstance, text: string, settled: () => boolean, fail: (e: unknown) => void): void {
  let at = 0;
  const feed = () => {
    if (settled()) return;
    try {
      if (at < text.length) {
        const next = Math.min(at + SAX_CHUNK, text.length);
        d.parser.write(text.slice(at, next));
        at = next;
      }
      if (settled()) return;
      if (at < text.length) void nextTurn().then(feed);
      else d.parser.end();
    } catch (e) {
      fail(e);
    }
  };
  feed();
}

/** XML from the wire reached sax through UTF-8: lone surrogates became U+FFFD. */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** The xmlrpc (sax) path: any document, the faults, and the reference for the fast path. */
export function decodeCallSlow(body: string, opts: DecodeOptions = {}): Promise<MethodCall> {
  const limits = opts.limits ?? SIGNED_LIMITS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (f: () => void) => {
      if (!settled) {
        settled = true;
        f();
      }
    };
    const bad = badCharacterReference(body);
    if (bad) return reject(bad);
    const text = wellFormed(body);
    const d = new Deserializer('utf8');
    // the limits, counted as the strict decoder counts them: when a <value> tag is read
    let depth = 0;
    let values = 0;
    let calls = 0;
    const over = (kind: LimitKind): never => {
      throw limitFault(kind, limits, d.parser._parser.position, text.length);
    };
    d.parser.on('opentag', (node: { name: string }) => {
      // sax searches its open elements for every close tag: elements of any name stay few
      // (a value level opens at most three), or unmatched close tags make it quadratic
      if (d.parser._parser.tags.length > limits.maxDepth * 3 + 8) over('depth');
      if (node.name !== 'VALUE') return;
      depth++;
      if (++values > limits.maxValues) over('values');
      if (depth > limits.maxDepth) over('depth');
      if (depth === 2 && d.methodname === 'system.multicall' && ++calls > limits.maxMulticall) over('multicall');
    });
    d.parser.on('closetag', (name: string) => {
      if (name === 'VALUE') depth--;
      else if (name === 'METHODNAME' && typeof d.methodname === 'string' && d.methodname !== '')
        opts.onMethod?.(d.methodname);
    });
    d.deserializeMethodCall(DETACHED, (err, method, params) => {
      if (err)
        return done(() =>
          reject(
            new AptgateError(
              /Invalid XML-RPC|Unknown XML-RPC|Illegal|Expected/.test(err.message)
                ? 'RPC_INVALID_REQUEST'
                : 'RPC_PARSE_ERROR',
              `not a valid XML-RPC call: ${err.message}`,
            ),
          ),
        );
      if (typeof method !== 'string' || method === '')
        return done(() => reject(new AptgateError('RPC_INVALID_REQUEST', 'no methodName')));
      try {
        const safe = sanitize(params ?? [], 0) as unknown[];
        done(() => resolve({ method, params: safe }));
      } catch (e) {
        done(() => reject(e));
      }
    });
    feedSax(
      d,
      text,
      () => settled,
      (e) =>
        done(() =>
          reject(
            isAptgateError(e)
              ? e
              : new AptgateError('RPC_PARSE_ERROR', `not a valid XML-RPC call: ${(e as Error).message}`),
          ),
        ),
    );
  });
}

function outgoing(v: unknown): unknown {
  if (typeof v === 'string') return prepared(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot encode ${v} in XML-RPC`);
    if (Number.isInteger(v) && (v > 2147483647 || v < -2147483648))
      throw new Error(`integer ${v} exceeds XML-RPC's 32 bits`);
    return v;
  }
  if (Array.isArray(v)) return v.map(outgoing);
  if (v === undefined) return null;
  if (v === null || typeof v !== 'object' || v instanceof Date || Buffer.isBuffer(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = outgoing(x);
  return out;
}

/** The answer to a call, in one go (encode.ts writes what the xmlrpc serializer would). */
export function encodeResponse(value: unknown): string {
  return encodeResponseWith(value, encodeDate);
}

/** The same in slices, for the server: a large answer never holds the event loop long. */
export function encodeResponseSliced(value: unknown): Promise<string> {
  return encodeResponseSliced_(value, encodeDate);
}

export function encodeFault(code: number, message: string): string {
  return encodeFaultWith(code, prepared(message).slice(0, 4000));
}

/** The xmlrpc serializer's answer: the reference encode.ts is tested against. */
export function encodeResponseXmlrpc(value: unknown): string {
  return serializer.serializeMethodResponse(outgoing(value));
}

export function encodeFaultXmlrpc(code: number, message: string): string {
  return serializer.serializeFault({ faultCode: code, faultString: (outgoing(message) as string).slice(0, 4000) });
}

// ---- the client side (the agent) ----

export function encodeCall(method: string, params: unknown[]): string {
  return serializer.serializeMethodCall(method, params.map(outgoing));
}

/** A methodResponse's value; a fault rejects with an Error carrying faultCode. */
export function decodeResponse(body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (f: () => void) => {
      if (!settled) {
        settled = true;
        f();
      }
    };
    const bad = badCharacterReference(body);
    if (bad) return reject(new Error(bad.message));
    const d = new Deserializer('utf8');
    d.deserializeMethodResponse(DETACHED, (err, value) => {
      if (err) {
        const e = new Error(err.faultString ?? err.message) as Error & { faultCode?: number };
        if (typeof err.faultCode === 'number') e.faultCode = err.faultCode;
        return done(() => reject(e));
      }
      try {
        const safe = sanitize(value, 0);
        done(() => resolve(safe));
      } catch (e) {
        done(() => reject(e as Error));
      }
    });
    feedSax(
      d,
      wellFormed(body),
      () => settled,
      (e) => done(() => reject(e as Error)),
    );
  });
}
