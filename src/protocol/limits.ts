// The ceilings of one /RPC2 request (docs/rpc.md, "Limits"), and the faults for crossing them,
// shared by both decoders so they stop at the same place with the same words. Requests without
// a signature can only reach the anonymous methods (hello, enrol, system.*), which are small:
// they get a small body; a signed agent.report can be several MB.
import { AptgateError } from '../errors.js';

export interface DecodeLimits {
  /** most <value> elements in one request (struct members and array items included) */
  maxValues: number;
  /** deepest nesting of values; a parameter is at depth 1 */
  maxDepth: number;
  /** most calls in one system.multicall */
  maxMulticall: number;
}

export interface RequestLimits extends DecodeLimits {
  /** largest body in bytes */
  bodyBytes: number;
}

export const SIGNED_LIMITS: RequestLimits = {
  bodyBytes: 8 * 1024 * 1024,
  maxValues: 250_000,
  maxDepth: 64,
  maxMulticall: 100,
};
export const ANONYMOUS_LIMITS: RequestLimits = {
  bodyBytes: 64 * 1024,
  maxValues: 4096,
  maxDepth: 64,
  maxMulticall: 100,
};

/**
 * Bodies above this many characters must be in the plain form the strict decoder reads
 * (fast-decode.ts): the general (sax) decoder is slower by twenty times and is only trusted
 * with bodies it finishes in a few milliseconds.
 */
export const GENERAL_DECODER_MAX = 64 * 1024;

export type LimitKind = 'values' | 'depth' | 'multicall';

/** The fault for a request that crossed a limit at character `at` of `length`. */
export function limitFault(kind: LimitKind, limits: DecodeLimits, at: number, length: number): AptgateError {
  const what =
    kind === 'values'
      ? `more than ${limits.maxValues} values in one request`
      : kind === 'depth'
        ? `values nested deeper than ${limits.maxDepth} levels`
        : `system.multicall with more than ${limits.maxMulticall} calls`;
  return new AptgateError('RPC_INVALID_REQUEST', `${what}: decoding stopped at character ${at} of ${length}`);
}

/** XML 1.0's Char production: what a character reference may name. */
export function isXmlChar(n: number): boolean {
  return (
    n === 0x9 ||
    n === 0xa ||
    n === 0xd ||
    (n >= 0x20 && n <= 0xd7ff) ||
    (n >= 0xe000 && n <= 0xfffd) ||
    (n >= 0x10000 && n <= 0x10ffff)
  );
}

export function badReference(text: string, at: number): AptgateError {
  return new AptgateError(
    'RPC_PARSE_ERROR',
    `character reference "${text.slice(0, 40)}" at character ${at} names no character XML allows`,
  );
}
