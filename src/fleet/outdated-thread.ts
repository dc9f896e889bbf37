// The server's outdated worker (outdated-work.ts), seen from the event loop: answers and
// snapshot refreshes are computed there and come back as text, ready to be cached (JSON lines,
// outdated-text.ts: the event loop reads them back in slices).
import { Worker } from 'node:worker_threads';
import { AptgateError, type ErrorCode, errorCodes } from '../errors.js';
import type { ViewSpec } from './views.js';

export type ThreadRequest =
  | { id: number; op: 'answer'; spec: ViewSpec; profileId: number }
  | { id: number; op: 'refresh'; spec: ViewSpec; rows: Array<{ profileId: number; snapshots: number[] }> }
  | { op: 'forget'; profileIds: number[] }
  | { op: 'close' };

export interface ThreadAnswer {
  complete: boolean;
  snapshots: number[];
  result: string;
}
/** rows that need a change: `result` null = carried over to `snapshots` (incomplete views: none) */
export interface ThreadRefresh {
  complete: boolean;
  snapshots: number[];
  rows: Array<{ profileId: number; result: string | null }>;
}

export type ThreadReply =
  | ({ id: number } & ThreadAnswer)
  | ({ id: number } & ThreadRefresh)
  | { id: number; error: string; code: string | undefined };

export class OutdatedThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: ThreadReply) => void; reject: (e: Error) => void }>();
  private closed = false;

  /**
   * `entry`: the worker's thread entry (the assembly's: it builds the worker's read side);
   * `sites`: backend → host of its first mirror (apt's `Pin: origin`)
   */
  constructor(
    private readonly entry: URL,
    private readonly dbFile: string,
    private readonly sites: Record<string, string>,
  ) {}

  /** A request is waiting for the worker. */
  get busy(): boolean {
    return this.waiting.size > 0;
  }

  /** The answer for a profile in a view, as the view reads now. */
  async answer(spec: ViewSpec, profileId: number): Promise<ThreadAnswer> {
    return (await this.ask({ id: this.nextId++, op: 'answer', spec, profileId })) as ThreadAnswer;
  }

  /** What a view's cached answers (profile, snapshots they were computed for) need now. */
  async refresh(spec: ViewSpec, rows: Array<{ profileId: number; snapshots: number[] }>): Promise<ThreadRefresh> {
    return (await this.ask({ id: this.nextId++, op: 'refresh', spec, rows })) as ThreadRefresh;
  }

  /** Profiles that were deleted: the worker drops what it keeps of them (nothing to do when it is not running). */
  forget(profileIds: number[]): void {
    this.worker?.postMessage({ op: 'forget', profileIds } satisfies ThreadRequest);
  }

  private ask(msg: Exclude<ThreadRequest, { op: 'close' | 'forget' }>): Promise<ThreadReply> {
    if (this.closed) return Promise.reject(new AptgateError('WORKER_FAILED', 'the outdated worker is closed'));
    const w = this.spawn();
    return new Promise<ThreadReply>((resolve, reject) => {
      this.waiting.set(msg.id, { resolve, reject });
      w.postMessage(msg);
    }).then((r) => {
      if (!('error' in r)) return r;
      const code = r.code && r.code in errorCodes ? (r.code as ErrorCode) : 'WORKER_FAILED';
      throw new AptgateError(code, r.error);
    });
  }

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.entry, { workerData: { dbFile: this.dbFile, sites: this.sites } });
    w.unref();
    w.on('message', (m: ThreadReply) => {
      const x = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      x?.resolve(m);
    });
    const failAll = (err: Error) => {
      for (const x of this.waiting.values()) x.reject(err);
      this.waiting.clear();
    };
    w.on('error', failAll);
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      failAll(new AptgateError('WORKER_FAILED', 'the outdated worker exited'));
    });
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise((r) => w.once('exit', r));
    w.postMessage({ op: 'close' } satisfies ThreadRequest);
    await exited;
  }
}
