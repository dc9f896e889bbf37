// The HTTP conditions apt's requests carry, decided from the request headers alone (no I/O):
// If-Modified-Since (304), single byte ranges (206 / 416), If-Range by date.
import type { IncomingMessage } from 'node:http';

export type Range = { start: number; end: number } | 'unsatisfiable' | undefined;

export function seconds(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

export function parseRange(value: string | undefined, size: number): Range {
  if (!value) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multiple or malformed ranges: whole body
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** The client's copy is current: answered 304 (never for a range request). */
export function notModified(req: IncomingMessage, lastModified: Date): boolean {
  const ims = req.headers['if-modified-since'];
  if (!ims || req.headers['range']) return false;
  const t = Date.parse(ims);
  return !Number.isNaN(t) && seconds(lastModified) <= Math.floor(t / 1000);
}

/**
 * The range to send of a representation of `size` bytes (If-Range carries a date from apt; an ETag never matches: we
 * send none).
 */
export function rangeOf(req: IncomingMessage, size: number, lastModified: Date): Range {
  const ifRange = req.headers['if-range'] as string | undefined;
  const rangeAllowed = !ifRange || Math.floor(Date.parse(ifRange) / 1000) === seconds(lastModified);
  return rangeAllowed ? parseRange(req.headers['range'], size) : undefined;
}
