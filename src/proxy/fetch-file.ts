// One URL fetched to one file, for what the server downloads besides the mirrors (the security
// advisory feeds): a conditional GET (ETag, Last-Modified), a size cap checked on the announced
// length and on every chunk, a deadline for the whole transfer, redirects followed by hand
// (http and https only, never from https down to http). The file is written only on a 200.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent } from 'undici';
import { AptgateError, fail, isAptgateError } from '../errors.js';
import { causeOf, header, isTimeout } from './upstream.js';

export interface FetchFileOptions {
  maxBytes: number;
  /** the whole transfer, from the request to the last byte */
  timeoutMs: number;
  connectTimeoutMs: number;
  /** headers, and between two chunks */
  idleTimeoutMs: number;
  /** the validators of the copy held: a 304 then writes nothing */
  etag?: string | null;
  lastModified?: string | null;
  /** aborts the transfer (the server stopping) */
  signal?: AbortSignal;
}

export interface FetchFileResult {
  status: 'fetched' | 'not-modified';
  bytes: number;
  etag: string | null;
  lastModified: string | null;
  /** where the answer came from (after redirects) */
  url: string;
}

const USER_AGENT = 'aptgate/0.1 (advisory feeds)';
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 5;

/** Fetches `url` into `file` (created; removed again on any failure). */
export async function fetchToFile(url: string, file: string, o: FetchFileOptions): Promise<FetchFileResult> {
  const agent = new Agent({
    connect: { timeout: o.connectTimeoutMs },
    headersTimeout: o.idleTimeoutMs,
    bodyTimeout: o.idleTimeoutMs,
  });
  const deadline = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([deadline, o.signal]) : deadline;
  let current = url;
  let bytes = 0;
  try {
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const u = new URL(current);
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' };
      if (o.etag) headers['if-none-match'] = o.etag;
      if (o.lastModified) headers['if-modified-since'] = o.lastModified;
      const res = await agent.request({
        origin: u.origin,
        path: u.pathname + u.search,
        method: 'GET',
        headers,
        signal,
      });
      res.body.on('error', () => undefined);
      if (REDIRECTS.has(res.statusCode)) {
        res.body.destroy();
        const location = header(res.headers, 'location');
        if (!location) fail('UPSTREAM_FAILED', `${current}: redirect without Location`);
        const next = new URL(location, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:')
          fail('UPSTREAM_FAILED', `${current}: redirect to ${next.protocol} refused`);
        if (u.protocol === 'https:' && next.protocol === 'http:')
          fail('UPSTREAM_FAILED', `${current}: redirect from https to http refused`);
        current = next.href;
        continue;
      }
      const result = (status: FetchFileResult['status']): FetchFileResult => ({
        status,
        bytes,
        etag: header(res.headers, 'etag') ?? null,
        lastModified: header(res.headers, 'last-modified') ?? null,
        url: current,
      });
      if (res.statusCode === 304) {
        res.body.destroy();
        return result('not-modified');
      }
      if (res.statusCode !== 200) {
        res.body.destroy();
        fail(res.statusCode === 404 ? 'UPSTREAM_NOT_FOUND' : 'UPSTREAM_FAILED', `${current}: HTTP ${res.statusCode}`, {
          url: current,
        });
      }
      const announced = Number(header(res.headers, 'content-length') ?? NaN);
      if (announced > o.maxBytes) {
        res.body.destroy();
        fail('UPSTREAM_TOO_LARGE', `${current}: ${announced} bytes, more than the limit of ${o.maxBytes}`, {
          url: current,
        });
      }
      const cap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          if (bytes > o.maxBytes)
            done(new AptgateError('UPSTREAM_TOO_LARGE', `${current}: more than the limit of ${o.maxBytes} bytes`));
          else done(null, chunk);
        },
      });
      await pipeline(res.body, cap, createWriteStream(file, { flags: 'wx', mode: 0o640 }), { signal });
      if (Number.isFinite(announced) && bytes !== announced)
        fail('UPSTREAM_FAILED', `${current}: ${bytes} bytes of the ${announced} announced`, { url: current });
      return result('fetched');
    }
    fail('UPSTREAM_FAILED', `${url}: too many redirects`);
  } catch (err) {
    await rm(file, { force: true });
    if (isAptgateError(err)) throw err;
    if (deadline.aborted || isTimeout(err))
      fail('UPSTREAM_TIMEOUT', `${current}: no complete answer within the time allowed (${bytes} bytes read)`, {
        url: current,
      });
    if (o.signal?.aborted) fail('UPSTREAM_FAILED', `${current}: stopped (the server is stopping)`, { url: current });
    fail('UPSTREAM_FAILED', `${current}: ${causeOf(err)} after ${bytes} bytes`, { url: current }, err);
  } finally {
    void agent.destroy().catch(() => undefined);
  }
}
