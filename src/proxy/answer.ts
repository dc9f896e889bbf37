// What the proxy decides for one request (service.ts, stage.ts) and the edge serves (serve.ts):
// a representation — bytes from memory, an open cache file, a stream (a fill as it grows, a
// published stage file) — with its validators, or an upstream answer relayed as it came; and
// the outcome the access line and the metrics name. Deciding writes nothing to the client.
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/** How the domain got what it answers with (the access-log and metrics vocabulary of an answer). */
export type Outcome = 'hit' | 'miss' | 'coalesced' | 'revalidated' | 'stale' | 'pass' | 'pass-unverified';

/** Where a representation's bytes come from. */
export type Source =
  | { kind: 'memory'; body: Buffer }
  /** an open cache file, sent with sendfile when possible */
  | { kind: 'file'; fh: FileHandle }
  /** bytes [start, end] (end inclusive; undefined = to the end) as a stream */
  | { kind: 'stream'; open(start: number, end: number | undefined): Readable };

/** Served with conditional requests, ranges and HEAD handled by the edge. */
export interface RepresentationAnswer {
  kind: 'representation';
  outcome: Outcome;
  headers: Record<string, string>;
  /** total size, when known before the body is complete */
  size: number | undefined;
  lastModified: Date;
  contentType: string;
  source: Source;
  /** called exactly once when the response is over, with the body bytes sent (closes a file, releases a fill) */
  done?: (sent: number) => void;
}

/** An upstream answer passed on with its status and headers (never cached). */
export interface RelayAnswer {
  kind: 'relay';
  outcome: Outcome;
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

export type Answer = RepresentationAnswer | RelayAnswer;
