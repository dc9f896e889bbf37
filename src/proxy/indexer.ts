// Feeds stored Packages files to the package index, off the request path: a worker thread
// parses (streaming, xz/gz/plain) while the server keeps serving. Contents already parsed
// are only linked to the new snapshot.
import { Worker } from 'node:worker_threads';
import { AptgateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { IndexJob, IndexResult } from './index-job.js';
import type { ProxyMetrics } from './metrics.js';

export class Indexer {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>();
  private readonly queued = new Map<string, Promise<IndexResult | undefined>>();
  private readonly linked = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  /** called with the snapshot id whenever one of its Packages contents is linked */
  private readonly linkListeners: Array<(snapshotId: number) => void> = [];

  constructor(
    private readonly dbFile: string,
    private readonly store: PackageIndexStore,
    private readonly metrics: ProxyMetrics,
    private readonly log: Logger,
  ) {}

  onLinked(listener: (snapshotId: number) => void): void {
    this.linkListeners.push(listener);
  }

  private linkedNow(job: IndexJob): void {
    if (!job.link) return;
    for (const l of this.linkListeners) {
      try {
        l(job.link.snapshotId);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'snapshot listener failed');
      }
    }
  }

  /** True when the content of this snapshot/component/architecture is known to be indexed. */
  isLinked(job: IndexJob): boolean {
    return job.link !== undefined && this.linked.has(linkKey(job));
  }

  /**
   * Makes sure the file's content is in the package index (and linked to the snapshot).
   * Cheap when it already is; jobs run one at a time in the worker.
   */
  ensure(job: IndexJob): Promise<IndexResult | undefined> {
    const key = job.link ? linkKey(job) : `${job.backend}/${job.fileSha256}`;
    if (this.linked.has(key) || this.closed) return Promise.resolve(undefined);
    const existing = this.queued.get(key);
    if (existing) return existing;
    const known =
      this.store.byAlias(job.backend, job.fileSha256) ??
      (job.plainSha256 ? this.store.byAlias(job.backend, job.plainSha256) : undefined);
    if (known !== undefined) {
      if (job.link) this.store.link(job.link.snapshotId, job.link.component, job.link.architecture, known);
      this.linked.add(key);
      this.linkedNow(job);
      return Promise.resolve({ indexFileId: known, entries: 0, parsed: false });
    }
    this.pending++;
    const p = this.chain
      .then(() => this.post(job))
      .then(
        (r) => {
          this.linked.add(key);
          this.linkedNow(job);
          if (r.parsed) {
            this.metrics.indexedFiles.inc({ backend: job.backend });
            this.log.info({ backend: job.backend, file: job.file, entries: r.entries }, 'indexed Packages');
          }
          return r;
        },
        (err: Error) => {
          this.log.error({ backend: job.backend, file: job.file, err: err.message }, 'indexing failed');
          return undefined;
        },
      )
      .finally(() => {
        this.queued.delete(key);
        if (--this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    this.chain = p;
    this.queued.set(key, p);
    return p;
  }

  /**
   * Counts work that will feed the indexer (a Packages fill in flight) as pending, so idle()
   * and pool requests waiting for a file's hash also wait for it.
   */
  during(work: Promise<unknown>): void {
    this.pending++;
    void work
      .catch(() => undefined)
      .finally(() => {
        if (--this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  /**
   * Drops index contents whose ingest never finished (a server stopped mid-parse), in the
   * worker and between jobs, so no running ingest loses its rows; resolves with their count.
   */
  dropUnfinished(): Promise<number> {
    if (this.closed) return Promise.resolve(0);
    this.pending++;
    const p = this.chain
      .then(() => this.send<number>({ dropUnfinished: true }))
      .catch((err: Error) => {
        this.log.error({ err: err.message }, 'could not drop unfinished index contents');
        return 0;
      })
      .finally(() => {
        if (--this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    this.chain = p;
    return p;
  }

  /** Resolves once no job is queued or running. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  private post(job: IndexJob): Promise<IndexResult> {
    return this.send<IndexResult>({ job });
  }

  private send<T>(msg: { job: IndexJob } | { dropUnfinished: true }): Promise<T> {
    if (!this.worker) {
      this.worker = new Worker(new URL('./index-worker.js', import.meta.url), { workerData: { dbFile: this.dbFile } });
      this.worker.unref();
      this.worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.ok) w?.resolve(m.result as never);
        else w?.reject(new AptgateError('PARSE_FAILED', m.error ?? 'indexing failed'));
      });
      this.worker.on('error', (err) => this.failAll(err));
      this.worker.on('exit', () => {
        this.worker = undefined;
        this.failAll(new AptgateError('PARSE_FAILED', 'index worker exited'));
      });
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (r: never) => void, reject });
      this.worker!.postMessage({ id, ...msg });
    });
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      const exited = new Promise((r) => w.once('exit', r));
      w.postMessage('close');
      await exited;
    }
  }
}

function linkKey(job: IndexJob): string {
  return `${job.link!.snapshotId}/${job.link!.component}/${job.link!.architecture}`;
}
