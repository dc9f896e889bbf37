// Writing a response the way apt expects: Last-Modified, Content-Length, Content-Type,
// 304 with validators only, single byte ranges (206 / 416 with `bytes */N`), If-Range
// by date, HEAD without body. Bodies are streamed with backpressure; an error mid-body
// destroys the connection so the client sees an incomplete transfer.
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { statusLineText } from './reason.js';
import { sendFileBody } from './sendfile.js';

/** A body read from an open cache file (sent with sendfile when possible). */
export interface FileBody {
  fh: FileHandle;
}

export interface Representation {
  /** total size, when known before the body is complete */
  size: number | undefined;
  lastModified: Date;
  contentType: string;
  /** bytes [start, end] (end inclusive; undefined = to the end) */
  open(start: number, end: number | undefined): Readable | Buffer | FileBody;
}

export interface Served {
  status: number;
  /** resolves with the body bytes written once the response is over */
  bytes: Promise<number>;
}

function httpDate(d: Date): string {
  return d.toUTCString();
}

function seconds(d: Date): number {
  return Math.floor(d.getTime() / 1000);
}

type Range = { start: number; end: number } | 'unsatisfiable' | undefined;

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

export function notModified(req: IncomingMessage, lastModified: Date): boolean {
  const ims = req.headers['if-modified-since'];
  if (!ims || req.headers['range']) return false;
  const t = Date.parse(ims);
  return !Number.isNaN(t) && seconds(lastModified) <= Math.floor(t / 1000);
}

export function serveRepresentation(req: IncomingMessage, res: ServerResponse, rep: Representation, extraHeaders: Record<string, string> = {}): Served {
  const head = req.method === 'HEAD';
  for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
  res.setHeader('Last-Modified', httpDate(rep.lastModified));
  if (notModified(req, rep.lastModified)) {
    // validators only: a Content-Type here makes apt expect a body (reference 1.7)
    res.writeHead(304);
    res.end();
    return { status: 304, bytes: Promise.resolve(0) };
  }
  let start = 0;
  let end: number | undefined;
  let status = 200;
  if (rep.size !== undefined) {
    res.setHeader('Accept-Ranges', 'bytes');
    // If-Range carries a date from apt (an ETag never matches: we send none)
    const ifRange = req.headers['if-range'] as string | undefined;
    const rangeAllowed = !ifRange || Math.floor(Date.parse(ifRange) / 1000) === seconds(rep.lastModified);
    const range = rangeAllowed ? parseRange(req.headers['range'], rep.size) : undefined;
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${rep.size}`, 'Content-Length': '0' });
      res.end();
      return { status: 416, bytes: Promise.resolve(0) };
    }
    if (range) {
      status = 206;
      start = range.start;
      end = range.end;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${rep.size}`);
    }
    res.setHeader('Content-Length', String((end ?? rep.size - 1) - start + 1));
  }
  res.setHeader('Content-Type', rep.contentType);
  res.writeHead(status);
  if (head) {
    res.end();
    return { status, bytes: Promise.resolve(0) };
  }
  const body = rep.open(start, end);
  if (Buffer.isBuffer(body)) {
    res.end(body);
    return { status, bytes: Promise.resolve(body.length) };
  }
  if ('fh' in body) return { status, bytes: sendFileBody(res, body.fh, start, end ?? rep.size! - 1) };
  return { status, bytes: pipeBody(body, res) };
}

/** Streams with backpressure; a failing source destroys the response (incomplete transfer). */
export function pipeBody(body: Readable, res: ServerResponse): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      resolve(bytes);
    };
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (!res.write(chunk)) body.pause();
    });
    res.on('drain', () => body.resume());
    body.on('end', () => { res.end(); finish(); });
    body.on('error', () => { res.destroy(); finish(); });
    res.on('close', () => {
      // the client went away (or the response ended): stop reading for it
      if (!body.destroyed) body.destroy();
      finish();
    });
  });
}

/** An error answer; `reason` replaces the standard reason phrase (as printable ASCII of bounded length). */
export function serveError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, reason?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${code}: ${message}\n`;
  if (reason) res.statusMessage = statusLineText(reason);
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Aptgate-Error': code,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
