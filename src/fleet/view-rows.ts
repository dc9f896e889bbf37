// Where a view's package index rows come from while the server runs: a worker thread with its
// own read-only connection runs the queries (a full Debian index is ~0.3 s of SQLite, a diff
// of two snapshots up to ~0.7 s) and hands the rows over a page at a time, one page ahead of
// the reader (MessagePort delivers every queued message in one go: a flood would be one long
// hold). Without a database file, short pages are read on this thread.
import { Worker } from 'node:worker_threads';
import { AptgateError } from '../errors.js';
import type { EntryRow, PackageIndexStore } from '../state/package-index.js';

export interface RowSource {
  /** the entries of a parsed content, in pages */
  pages(indexFileId: number): AsyncIterable<readonly EntryRow[]>;
  /** PackageIndexStore.changedPackages */
  changedPackages(oldSnapshotId: number, newSnapshotId: number): Promise<Set<string>>;
  close(): Promise<void>;
}

export const PAGE_ROWS = 1000;

/** Pages read on this thread, each a short query (tools, databases without a file). */
export class PagedRows implements RowSource {
  constructor(private readonly store: PackageIndexStore, private readonly pageRows = PAGE_ROWS) {}

  async *pages(indexFileId: number): AsyncIterable<readonly EntryRow[]> {
    for (let after = 0; ;) {
      const rows = this.store.entryRows(indexFileId, after, this.pageRows);
      if (rows.length) yield rows;
      if (rows.length < this.pageRows) return;
      after = rows[rows.length - 1]![14];
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  changedPackages(oldSnapshotId: number, newSnapshotId: number): Promise<Set<string>> {
    return Promise.resolve(this.store.changedPackages(oldSnapshotId, newSnapshotId));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What the worker answers (view-worker.ts). */
export type RowReply = { id: number; rows: EntryRow[]; done: boolean } | { id: number; names: string[] } | { id: number; error: string };
export type RowRequest =
  | { id: number; op: 'entries'; indexFileId: number; pageRows: number }
  | { id: number; op: 'next' | 'cancel' }
  | { id: number; op: 'changed'; oldSnapshotId: number; newSnapshotId: number }
  | { op: 'close' };

export class WorkerRows implements RowSource {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: RowReply) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(private readonly dbFile: string, private readonly pageRows = PAGE_ROWS) {}

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./view-worker.js', import.meta.url), { workerData: { dbFile: this.dbFile } });
    w.unref();
    w.on('message', (m: RowReply) => {
      const waiter = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (!waiter) return;
      if ('error' in m) waiter.reject(new AptgateError('WORKER_FAILED', `view rows: ${m.error}`));
      else waiter.resolve(m);
    });
    const fail = (err: Error) => {
      for (const x of this.waiting.values()) x.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      fail(new AptgateError('WORKER_FAILED', 'the view rows worker exited'));
    });
    this.worker = w;
    return w;
  }

  private ask(msg: Exclude<RowRequest, { op: 'close' }>): Promise<RowReply> {
    if (this.closed) return Promise.reject(new AptgateError('WORKER_FAILED', 'the view rows worker is closed'));
    const w = this.spawn();
    return new Promise((resolve, reject) => {
      this.waiting.set(msg.id, { resolve, reject });
      w.postMessage(msg);
    });
  }

  async *pages(indexFileId: number): AsyncIterable<readonly EntryRow[]> {
    const id = this.nextId++;
    let next = this.ask({ id, op: 'entries', indexFileId, pageRows: this.pageRows });
    let done = false;
    try {
      while (!done) {
        const m = (await next) as { rows: EntryRow[]; done: boolean };
        done = m.done;
        // the next page is read while this one is used
        if (!done) next = this.ask({ id, op: 'next' });
        yield m.rows;
      }
    } finally {
      if (!done) {
        // the reader stopped early: the request in flight is answered and dropped
        void next.catch(() => undefined).then(() => { if (!this.closed) this.worker?.postMessage({ id, op: 'cancel' } satisfies RowRequest); });
      }
    }
  }

  async changedPackages(oldSnapshotId: number, newSnapshotId: number): Promise<Set<string>> {
    const m = (await this.ask({ id: this.nextId++, op: 'changed', oldSnapshotId, newSnapshotId })) as { names: string[] };
    return new Set(m.names);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage({ op: 'close' } satisfies RowRequest);
    await exited;
  }
}
