// WAL checkpoints off the main thread. SQLite checkpoints in the connection whose commit made
// the WAL pass 1,000 pages: on the server that is the main thread, which then copies megabytes
// into the database file and fsyncs it — 20–40 ms stalls for every apt client while a large
// report is stored. The server's connection stops checkpointing by itself (below a safety
// valve); a worker thread with its own connection checkpoints every `everyMs` instead, every
// `busyMs` while the WAL grows. Should the worker fail, the connection checkpoints by itself again.
import { Worker } from 'node:worker_threads';
import type { Db } from './db.js';

/**
 * The WAL file is cut back to this size when it starts over (it only grows otherwise); cutting
 * is work on the main thread too, so it is left alone below this.
 */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;
const SELF_CHECKPOINT_PAGES = 16_384;

export class Checkpointer {
  private worker: Worker | undefined;

  private constructor(
    private readonly db: Db,
    dbFile: string,
    everyMs: number,
    busyMs: number,
    onError: (message: string) => void,
  ) {
    this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    // a safety valve: under writes that never pause the worker's checkpoints never catch up with
    // the end of the WAL (it is only rewound when they do), so past this many pages the
    // connection checkpoints once more by itself (copying what the worker has not yet)
    this.db.pragma(`wal_autocheckpoint = ${SELF_CHECKPOINT_PAGES}`);
    const w = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
      workerData: { dbFile, everyMs, busyMs },
    });
    w.unref();
    w.on('message', (m: { error?: string }) => {
      if (m.error) onError(m.error);
    });
    const fallBack = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
      onError(why);
    };
    w.on('error', (err) => fallBack(`checkpoint worker failed: ${err.message}`));
    w.on('exit', (code) => fallBack(`checkpoint worker exited (${code})`));
    this.worker = w;
  }

  /** For a database file (not :memory:). */
  static start(
    db: Db,
    dbFile: string,
    onError: (message: string) => void,
    everyMs = 200,
    busyMs = 10,
  ): Checkpointer | undefined {
    if (dbFile === ':memory:' || dbFile === '') return undefined;
    return new Checkpointer(db, dbFile, everyMs, busyMs, onError);
  }

  /** Stops the worker; the connection checkpoints by itself again (and at its close). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    // kept alive until it has closed its connection (an unref'd worker would be dropped at exit)
    w.ref();
    w.postMessage('close');
    await exited;
  }
}
