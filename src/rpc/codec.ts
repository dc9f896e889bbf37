// The XML-RPC codec (the only user of the npm xmlrpc package), hardened: decoded structs are
// copied into prototype-less objects, member names that could reach a prototype are refused,
// strings lose control characters before encoding, dates are always UTC.
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { fastDecodeCall } from './fast-decode.js';
import { RpcFault } from './protocol.js';

const require = createRequire(import.meta.url);

interface DeserializerInstance {
  deserializeMethodResponse(stream: NodeJS.ReadableStream, cb: (err: (Error & { faultCode?: number; faultString?: string }) | null, value: unknown) => void): void;
  deserializeMethodCall(stream: NodeJS.ReadableStream, cb: (err: Error | null, method: string, params: unknown[]) => void): void;
}
const Deserializer = require('xmlrpc/lib/deserializer') as new (encoding?: string) => DeserializerInstance;
const serializer = require('xmlrpc/lib/serializer') as {
  serializeMethodCall(method: string, params: unknown[]): string;
  serializeMethodResponse(value: unknown): string;
  serializeFault(fault: { faultCode: number; faultString: string }): string;
};
const dateFormatter = require('xmlrpc/lib/date_formatter') as { setOpts(o: { local: boolean }): void; decodeIso8601(text: string): Date };
// process-wide, set once: the serializer writes dates in UTC with a Z
dateFormatter.setOpts({ local: false });
// the fast path converts dates with the deserializer's own function, so both paths agree
const decodeDate = (text: string): Date => dateFormatter.decodeIso8601(text);

const FORBIDDEN_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);

/** A decoded value made safe: plain prototype-less structs, no prototype tricks. */
function sanitize(v: unknown, depth: number): unknown {
  if (depth > 64) throw new RpcFault('INVALID_REQUEST', 'values nested deeper than 64 levels');
  if (Array.isArray(v)) return v.map((x) => sanitize(x, depth + 1));
  if (v === null || typeof v !== 'object' || v instanceof Date || Buffer.isBuffer(v)) return v;
  // a member named __proto__ replaces the decoded object's prototype instead of adding a key
  if (Object.getPrototypeOf(v) !== Object.prototype) throw new RpcFault('INVALID_PARAMS', 'struct member name "__proto__" is not allowed');
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, x] of Object.entries(v)) {
    if (FORBIDDEN_MEMBERS.has(k)) throw new RpcFault('INVALID_PARAMS', `struct member name "${k}" is not allowed`);
    out[k] = sanitize(x, depth + 1);
  }
  return out;
}

export interface MethodCall {
  method: string;
  params: unknown[];
}

/**
 * Decodes a methodCall document; PARSE_ERROR / INVALID_REQUEST faults for what is not one.
 * What well-behaved clients send takes the fast path (fast-decode.ts); everything else, and
 * every fault, comes from the xmlrpc deserializer, with identical results where both apply.
 */
export function decodeCall(body: string): Promise<MethodCall> {
  const fast = fastDecodeCall(body, decodeDate);
  return fast ? Promise.resolve(fast) : decodeCallSlow(body);
}

/** The xmlrpc (sax) path: any document, the faults, and the reference for the fast path. */
export function decodeCallSlow(body: string): Promise<MethodCall> {
  return new Promise((resolve, reject) => {
    const stream = new PassThrough();
    let settled = false;
    const done = (f: () => void) => {
      if (!settled) {
        settled = true;
        f();
      }
    };
    try {
      new Deserializer('utf8').deserializeMethodCall(stream, (err, method, params) => {
        if (err) return done(() => reject(new RpcFault(/Invalid XML-RPC|Unknown XML-RPC|Illegal|Expected/.test(err.message) ? 'INVALID_REQUEST' : 'PARSE_ERROR', `not a valid XML-RPC call: ${err.message}`)));
        if (typeof method !== 'string' || method === '') return done(() => reject(new RpcFault('INVALID_REQUEST', 'no methodName')));
        try {
          const safe = sanitize(params ?? [], 0) as unknown[];
          done(() => resolve({ method, params: safe }));
        } catch (e) {
          done(() => reject(e));
        }
      });
    } catch (e) {
      done(() => reject(new RpcFault('PARSE_ERROR', `not a valid XML-RPC call: ${(e as Error).message}`)));
    }
    stream.on('error', (e) => done(() => reject(new RpcFault('PARSE_ERROR', e.message))));
    stream.end(body);
  });
}

// XML 1.0 cannot carry most control characters; dpkg transcripts do contain some
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff]/g;

/**
 * The serializer puts a string holding <, & or ]]> into CDATA, and its XML builder splits only the
 * first "]]>" of it; the later ones are split here the same way, so the builder's one
 * replacement (of the first) completes the job and the text arrives whole.
 */
function cdataSafe(s: string): string {
  const first = s.indexOf(']]>');
  if (first === -1 || s.indexOf(']]>', first + 1) === -1) return s;
  return s.slice(0, first + 3) + s.slice(first + 3).replaceAll(']]>', ']]]]><![CDATA[>');
}

function outgoing(v: unknown): unknown {
  if (typeof v === 'string') return cdataSafe(v.replace(CONTROL, ''));
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot encode ${v} in XML-RPC`);
    if (Number.isInteger(v) && (v > 2147483647 || v < -2147483648)) throw new Error(`integer ${v} exceeds XML-RPC's 32 bits`);
    return v;
  }
  if (Array.isArray(v)) return v.map(outgoing);
  if (v === undefined) return null;
  if (v === null || typeof v !== 'object' || v instanceof Date || Buffer.isBuffer(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = outgoing(x);
  return out;
}

export function encodeResponse(value: unknown): string {
  return serializer.serializeMethodResponse(outgoing(value));
}

export function encodeFault(code: number, message: string): string {
  return serializer.serializeFault({ faultCode: code, faultString: (outgoing(message) as string).slice(0, 4000) });
}

// ---- the client side (the agent) ----

export function encodeCall(method: string, params: unknown[]): string {
  return serializer.serializeMethodCall(method, params.map(outgoing));
}

/** A methodResponse's value; a fault rejects with an Error carrying faultCode. */
export function decodeResponse(body: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const stream = new PassThrough();
    new Deserializer('utf8').deserializeMethodResponse(stream, (err, value) => {
      if (err) {
        const e = new Error(err.faultString ?? err.message) as Error & { faultCode?: number };
        if (typeof err.faultCode === 'number') e.faultCode = err.faultCode;
        reject(e);
        return;
      }
      try {
        resolve(sanitize(value, 0));
      } catch (e) {
        reject(e as Error);
      }
    });
    stream.on('error', (e) => reject(e));
    stream.end(body);
  });
}
