// Thread entry of the advisory parser (advisory-parse.ts starts it): reads one feed's file (or a
// directory of Ubuntu notices), decodes it here, away from the event loop, and answers each
// 'next' with the next chunk of records, then with the counts of what was skipped.
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { AptgateError, fail } from '../errors.js';
import { trackerRecords } from '../index/advisories/debian-tracker.js';
import { listRecords } from '../index/advisories/dsa-list.js';
import { type AdvisoryRecord, skip, type SkipCounts } from '../index/advisories/types.js';
import { usnRecords } from '../index/advisories/ubuntu-osv.js';
import type { AdvisoryWorkerData, AdvisoryWorkerReply } from './advisory-parse.js';

/** Notices read from one directory at most (the real collection holds ~8,000). */
const FILES_MAX = 200_000;

// background work: the event loop's thread gets the CPU first (on Linux, nice is per thread)
if (process.platform === 'linux')
  try {
    setPriority(10);
  } catch {
    /* left as it is */
  }

const { kind, path, maxBytes, chunkSize } = workerData as AdvisoryWorkerData;
const skipped: SkipCounts = {};
let bytes = 0;
let parseMs = 0;

/** The file's bytes as text, refused past the budget left (checked on the open file, then while reading). */
function readText(file: string, budget: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > budget)
      fail('PARSE_FAILED', `${file}: the feed is larger than ${maxBytes} bytes`, { size, limit: maxBytes });
    const buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (let r; (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) {
      n += r;
      // written to while we read (a fetch writes the next file beside it and renames it into place)
      if (n > size) fail('PARSE_FAILED', `${file} changed while it was read`);
    }
    bytes += n;
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function timed<T>(fn: () => T): T {
  const t = performance.now();
  try {
    return fn();
  } finally {
    parseMs += performance.now() - t;
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the fault: the position only (a feed's response is not echoed)
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    return fail('PARSE_FAILED', `${what} is not JSON${at === undefined ? '' : ` (at byte ${at})`}`);
  }
}

function* usnDirectory(dir: string): Generator<AdvisoryRecord> {
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort();
  if (names.length > FILES_MAX) fail('PARSE_FAILED', `${dir} holds more than ${FILES_MAX} notices`);
  for (const name of names) {
    let text: string;
    try {
      // past the budget the import stops (the directory as a whole is too large)
      text = readText(join(dir, name), maxBytes - bytes);
    } catch (err) {
      if (err instanceof AptgateError) throw err;
      skip(skipped, 'unreadable');
      continue;
    }
    let json: unknown;
    try {
      json = timed(() => JSON.parse(text));
    } catch {
      skip(skipped, 'bad-json');
      continue;
    }
    yield* usnRecords(json, skipped);
  }
}

function* usnFile(file: string): Generator<AdvisoryRecord> {
  const json = timed(() => parseJson(readText(file, maxBytes), file));
  for (const osv of Array.isArray(json) ? json : [json]) yield* usnRecords(osv, skipped);
}

function records(): Generator<AdvisoryRecord> {
  switch (kind) {
    case 'debian-tracker':
      return trackerRecords(
        timed(() => parseJson(readText(path, maxBytes), path)),
        skipped,
      );
    case 'dsa':
    case 'dla':
      return listRecords(
        timed(() => readText(path, maxBytes)),
        kind,
        skipped,
      );
    case 'usn':
      return statSync(path).isDirectory() ? usnDirectory(path) : usnFile(path);
    default:
      return fail('USAGE', `unknown advisory feed kind: ${String(kind)}`);
  }
}

const send = (m: AdvisoryWorkerReply) => parentPort!.postMessage(m);
let it: Generator<AdvisoryRecord> | undefined;

parentPort!.on('message', () => {
  try {
    it ??= records();
    const chunk: AdvisoryRecord[] = [];
    for (let r = it.next(); !r.done; r = it.next()) {
      chunk.push(r.value);
      if (chunk.length >= chunkSize) break;
    }
    if (chunk.length > 0) send({ records: chunk });
    else send({ done: true, skipped, bytes, parseMs });
  } catch (err) {
    const code = err instanceof AptgateError ? err.code : undefined;
    send({ error: (err as Error).message, code });
  }
});
