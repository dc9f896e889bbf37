// Advisory feeds parsed in a worker thread, seen from the event loop. The tracker's JSON is 60+ MB:
// JSON.parse alone holds a thread for most of a second, so the file is read and parsed in a worker
// (advisory-parse-worker.ts) that hands the records back in chunks, one chunk when the caller
// asks for it: the caller stores a chunk (in slices) before the next crosses over, and no more
// than one chunk waits in this thread's memory.
import { Worker } from 'node:worker_threads';
import { AptgateError, type ErrorCode, errorCodes } from '../errors.js';
import type { AdvisoryRecord, SkipCounts } from '../index/advisories/types.js';

/**
 * - `debian-tracker`: the security tracker's JSON file
 * - `dsa`, `dla`: the tracker's data/DSA/list and data/DLA/list
 * - `usn`: Ubuntu's OSV notices: a directory of *.json files (one notice each), or one file holding
 *   a JSON array of notices (or a single notice)
 */
export type AdvisoryFileKind = 'debian-tracker' | 'dsa' | 'dla' | 'usn';

export interface AdvisoryParseOptions {
  /** largest file read (for a directory: all its files together); default 256 MiB */
  maxBytes?: number;
  /** records per chunk; default 1,000 (receiving a chunk is work on the event loop: ~1 ms per 1,000) */
  chunkSize?: number;
  /** the worker's heap limit (MB); default 3,072 (the tracker's parsed JSON takes ~10× its size) */
  maxHeapMb?: number;
}

export interface AdvisoryParseSummary {
  records: number;
  skipped: SkipCounts;
  /** bytes read */
  bytes: number;
  /** reading and decoding (JSON.parse) in the worker, ms */
  parseMs: number;
  /** from the worker's start to the last chunk, ms (the caller's work on the chunks included) */
  totalMs: number;
}

export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_CHUNK = 1_000;

/** What the worker is given. */
export interface AdvisoryWorkerData {
  kind: AdvisoryFileKind;
  path: string;
  maxBytes: number;
  chunkSize: number;
}

/** What the worker sends: a chunk, the end, or why it stopped. */
export type AdvisoryWorkerReply =
  | { records: AdvisoryRecord[] }
  | { done: true; skipped: SkipCounts; bytes: number; parseMs: number }
  | { error: string; code: string | undefined };

/**
 * Parses `path` as `kind` in a worker thread; `onChunk` gets the records a chunk at a time, the
 * next chunk only once the promise it returned has settled. Rejects with the parse's error
 * (PARSE_FAILED, ...), WORKER_FAILED if the worker dies, or `onChunk`'s own error (the worker is
 * then stopped).
 */
export function parseAdvisoryFile(
  kind: AdvisoryFileKind,
  path: string,
  onChunk: (records: AdvisoryRecord[]) => void | Promise<void>,
  opts: AdvisoryParseOptions = {},
): Promise<AdvisoryParseSummary> {
  const started = performance.now();
  const data: AdvisoryWorkerData = {
    kind,
    path,
    maxBytes: opts.maxBytes ?? DEFAULT_MAX_BYTES,
    chunkSize: opts.chunkSize ?? DEFAULT_CHUNK,
  };
  const worker = new Worker(new URL('./advisory-parse-worker.js', import.meta.url), {
    workerData: data,
    resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 3072 },
  });
  return new Promise<AdvisoryParseSummary>((resolve, reject) => {
    let records = 0;
    let settled = false;
    const finish = (err: Error | undefined, summary?: AdvisoryParseSummary) => {
      if (settled) return;
      settled = true;
      void worker.terminate();
      if (err) reject(err);
      else resolve(summary!);
    };
    worker.on('message', (m: AdvisoryWorkerReply) => {
      if ('error' in m) {
        const code = m.code && m.code in errorCodes ? (m.code as ErrorCode) : 'WORKER_FAILED';
        return finish(new AptgateError(code, m.error, { kind, path }));
      }
      if ('done' in m)
        return finish(undefined, {
          records,
          skipped: m.skipped,
          bytes: m.bytes,
          parseMs: m.parseMs,
          totalMs: performance.now() - started,
        });
      records += m.records.length;
      Promise.resolve()
        .then(() => onChunk(m.records))
        .then(
          () => {
            if (!settled) worker.postMessage('next');
          },
          (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
        );
    });
    worker.on('error', (err) =>
      finish(new AptgateError('WORKER_FAILED', `the advisory parser failed: ${err.message}`, { kind, path })),
    );
    worker.on('exit', (code) =>
      finish(new AptgateError('WORKER_FAILED', `the advisory parser exited (${code})`, { kind, path })),
    );
    worker.postMessage('next');
  });
}
