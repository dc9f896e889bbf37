// Filling the cache: one upstream fetch per key. Bytes go to a temporary file that every
// waiting client reads while it grows (the newest chunks straight from memory, so a client
// keeping up costs no file read); the object is renamed into place only after its size and
// hash matched what the signed indexes say. Until then the last byte is held back, so a
// mismatch found at the end reaches clients as an aborted, incomplete transfer. Nothing is
// filled without a hash to check (a pool file no signed index names is never stored), and an
// answer a redirect fetched from another path is served once verified but never stored.
import { EventEmitter } from 'node:events';
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import type { BackendConfig, Config } from '../config.js';
import { AptgateError, isAptgateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxyMetrics } from './metrics.js';
import type { HashAlgo } from './paths.js';
import type { CacheStore } from './store.js';
import { header, isTimeout, type Upstream } from './upstream.js';

export interface Expect {
  size?: number;
  sha256?: string;
  /** a hash named by the request itself (by-hash objects of other algorithms) */
  other?: { algo: HashAlgo; hex: string };
}

export interface FillSpec {
  backend: BackendConfig;
  key: string;
  /** upstream paths to try in order when the previous one is 404 */
  sources: string[];
  expect: Expect;
  contentType: string;
  /** called once the object is in place */
  onStored?: (info: { key: string; size: number; sha256: string }) => void;
  /**
   * Awaited after each upstream chunk while no client reads this fill (pre-loading's bandwidth
   * limit, proxy/preload.ts): a client joining lifts it, so pacing never slows a client.
   */
  pace?: (bytes: number) => Promise<void>;
}

export interface FillDeps {
  config: Config;
  store: CacheStore;
  upstream: Upstream;
  metrics: ProxyMetrics;
  log: Logger;
}

const BY_HASH_KEY = /\/by-hash\/[A-Za-z0-9]+\/[0-9a-f]+$/;

type FillStatus = 'starting' | 'streaming' | 'verified' | 'failed';

export class Fill extends EventEmitter {
  status: FillStatus = 'starting';
  /** total size when known (from the indexes, else upstream's Content-Length) */
  size: number | undefined;
  /** bytes received from upstream (the newest of them in `recent`) */
  written = 0;
  /** bytes already in the temporary file */
  private flushed = 0;
  /** the newest chunks, contiguous up to `written`, dropped once in the file */
  private recent: Array<{ start: number; buf: Buffer }> = [];
  private recentBytes = 0;
  /** chunks received but not yet in the file, written in order by one writer */
  private writes: Array<{ at: number; buf: Buffer }> = [];
  private writesBytes = 0;
  private writer: Promise<void> | undefined;
  private writeError: Error | undefined;
  lastModified = new Date();
  mirror: string | undefined;
  error: AptgateError | undefined;
  readonly head: Promise<void>;
  readonly done: Promise<boolean>;

  private fh: FileHandle | undefined;
  private tmpPath: string | undefined;
  private refs = 1;
  private holdback = 0;
  private resolveHead!: () => void;
  private rejectHead!: (e: AptgateError) => void;
  private headSettled = false;

  constructor(
    readonly spec: FillSpec,
    private readonly deps: FillDeps,
  ) {
    super();
    this.setMaxListeners(0);
    this.head = new Promise((res, rej) => {
      this.resolveHead = res;
      this.rejectHead = rej;
    });
    this.head.catch(() => undefined);
    this.done = this.run();
  }

  /** Bytes that may be sent to clients now. */
  readable(): number {
    return this.status === 'verified' ? this.written : Math.max(0, this.written - this.holdback);
  }

  /** Bytes from `position`, at most `max`: from memory when recent, else from the file. */
  async read(position: number, max: number): Promise<Buffer> {
    for (const c of this.recent) {
      if (position >= c.start && position < c.start + c.buf.length) {
        const off = position - c.start;
        return c.buf.subarray(off, Math.min(c.buf.length, off + max));
      }
    }
    const n = Math.min(max, this.flushed - position);
    if (n <= 0) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await this.fh!.read(buf, 0, n, position);
    return bytesRead === n ? buf : buf.subarray(0, bytesRead);
  }

  /**
   * Writing runs beside receiving, so upstream is read at network speed; the receiver waits
   * only when 4 MiB are not yet in the file (clients still get those bytes from memory).
   */
  private async store(at: number, buf: Buffer): Promise<void> {
    this.writes.push({ at, buf });
    this.writesBytes += buf.length;
    this.writer ??= this.drainWrites();
    if (this.writesBytes > 4 * 1024 * 1024) await this.writer;
    if (this.writeError) throw this.writeError;
  }

  private async drainWrites(): Promise<void> {
    try {
      for (let w = this.writes.shift(); w; w = this.writes.shift()) {
        let off = 0;
        while (off < w.buf.length) {
          const { bytesWritten } = await this.fh!.write(w.buf, off, w.buf.length - off, w.at + off);
          off += bytesWritten;
        }
        this.writesBytes -= w.buf.length;
        this.flushed = w.at + w.buf.length;
      }
    } catch (err) {
      this.writeError = err as Error;
      this.writes = [];
    } finally {
      this.writer = undefined;
    }
  }

  private remember(start: number, buf: Buffer): void {
    this.recent.push({ start, buf });
    this.recentBytes += buf.length;
    // keep about 1 MiB, but never a chunk the file does not hold yet
    while (this.recentBytes > 1024 * 1024 && this.recent[0]!.start + this.recent[0]!.buf.length <= this.flushed) {
      this.recentBytes -= this.recent.shift()!.buf.length;
    }
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0 && this.fh) {
      const fh = this.fh;
      this.fh = undefined;
      fh.close().catch(() => undefined);
    }
  }

  private settleHead(err?: AptgateError): void {
    if (this.headSettled) return;
    this.headSettled = true;
    if (err) this.rejectHead(err);
    else this.resolveHead();
  }

  private async run(): Promise<boolean> {
    const { store, metrics, log } = this.deps;
    const { backend, key } = this.spec;
    metrics.fillsInFlight.add({}, 1);
    try {
      const tmp = await store.openTemp();
      this.fh = tmp.fh;
      this.tmpPath = tmp.path;
      await this.download();
      this.status = 'verified';
      this.emit('progress');
      this.settleHead();
      // a by-hash key names its content, so where the verified bytes came from does not matter
      if (this.elsewhere && !BY_HASH_KEY.test(key)) {
        log.info({ key, mirror: this.mirror }, 'redirected to another path: served, not stored');
        await store.discard(this.tmpPath);
        return false;
      }
      // durable before visible: a crash must never leave a short file at the final name
      await this.fh.datasync();
      try {
        await store.commit(this.tmpPath, key, this.lastModified);
      } catch (err) {
        log.warn({ key, err: (err as Error).message }, 'verified object could not be stored');
        await store.discard(this.tmpPath);
        return false;
      }
      this.spec.onStored?.({ key, size: this.written, sha256: this.sha256! });
      return true;
    } catch (err) {
      const e = isAptgateError(err)
        ? err
        : new AptgateError('UPSTREAM_FAILED', `fill of ${key}: ${(err as Error).message}`, { key }, { cause: err });
      this.error = e;
      this.status = 'failed';
      this.emit('progress');
      this.settleHead(e);
      if (this.tmpPath) await store.discard(this.tmpPath);
      if (e.code !== 'UPSTREAM_NOT_FOUND')
        log.warn({ key, backend: backend.name, mirror: this.mirror, code: e.code, err: e.message }, 'fill failed');
      return false;
    } finally {
      metrics.fillsInFlight.add({}, -1);
      this.release();
    }
  }

  private sha256: string | undefined;
  /** the answer came through a redirect to another path: not stored under this key */
  private elsewhere = false;

  private async download(): Promise<void> {
    const { upstream, config, metrics } = this.deps;
    const { backend, sources, expect, key } = this.spec;
    if (expect.sha256 === undefined && expect.other === undefined) {
      throw new AptgateError('INTEGRITY', `${key}: no signed hash to verify it against, never stored`, { key });
    }
    let res;
    for (let i = 0; ; i++) {
      res = await upstream.get(backend, sources[i]!);
      if ((res.status === 404 || res.status === 410) && i + 1 < sources.length) {
        res.body.destroy();
        continue;
      }
      break;
    }
    this.mirror = res.mirror;
    if (res.status === 404 || res.status === 410) {
      res.body.destroy();
      throw new AptgateError('UPSTREAM_NOT_FOUND', `${key} not found upstream`, { key, status: res.status });
    }
    if (res.status !== 200) {
      res.body.destroy();
      throw new AptgateError('UPSTREAM_FAILED', `${res.mirror} answered ${res.status} for ${key}`, {
        key,
        status: res.status,
      });
    }
    const mirror = res.mirror;
    this.elsewhere = res.elsewhere;
    const bad = (code: 'INTEGRITY' | 'UPSTREAM_FAILED' | 'UPSTREAM_TIMEOUT', message: string): never => {
      res.body.destroy();
      upstream.markBad(backend, mirror, message, code === 'UPSTREAM_TIMEOUT' ? 'timeout' : code);
      throw new AptgateError(code, message, { key, mirror });
    };
    const cl = header(res.headers, 'content-length');
    const upstreamSize = cl === undefined ? undefined : Number(cl);
    if (expect.size !== undefined && upstreamSize !== undefined && upstreamSize !== expect.size) {
      bad('INTEGRITY', `${key}: upstream size ${upstreamSize}, the signed indexes say ${expect.size}`);
    }
    this.size = expect.size ?? upstreamSize;
    const lm = header(res.headers, 'last-modified');
    const lmDate = lm ? new Date(lm) : undefined;
    if (lmDate && !Number.isNaN(lmDate.getTime())) this.lastModified = lmDate;
    this.holdback = 1;
    // small objects are verified before their first byte is sent
    const small = this.size !== undefined && this.size <= config.proxy.smallObjectBytes;
    if (!small) {
      this.status = 'streaming';
      this.settleHead();
    }
    const sha = createHash('sha256');
    const other: Hash | undefined =
      expect.other && expect.other.algo !== 'sha256' ? createHash(expect.other.algo) : undefined;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (this.size !== undefined && this.written + chunk.length > this.size) {
          bad(
            expect.size !== undefined ? 'INTEGRITY' : 'UPSTREAM_FAILED',
            `${key}: upstream sent more than ${this.size} bytes`,
          );
        }
        sha.update(chunk);
        other?.update(chunk);
        const at = this.written;
        this.remember(at, chunk);
        this.written += chunk.length;
        metrics.bytesFromUpstream.inc({}, chunk.length);
        this.emit('progress');
        await this.store(at, chunk);
        if (this.spec.pace && this.refs === 1) await this.spec.pace(chunk.length);
      }
    } catch (err) {
      if (isAptgateError(err)) throw err;
      if (this.writeError)
        throw new AptgateError('UPSTREAM_FAILED', `${key}: cannot write the cache file: ${this.writeError.message}`, {
          key,
        });
      bad(
        isTimeout(err) ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED',
        `${key}: transfer from ${mirror} broke after ${this.written} bytes: ${(err as Error).message}`,
      );
    }
    while (this.writer) await this.writer;
    if (this.writeError)
      throw new AptgateError('UPSTREAM_FAILED', `${key}: cannot write the cache file: ${this.writeError.message}`, {
        key,
      });
    // every byte is in the file now: late readers read it from there
    this.recent = [];
    this.recentBytes = 0;
    if (this.size !== undefined && this.written !== this.size) {
      bad(
        expect.size !== undefined ? 'INTEGRITY' : 'UPSTREAM_FAILED',
        `${key}: upstream sent ${this.written} of ${this.size} bytes`,
      );
    }
    this.size = this.written;
    this.sha256 = sha.digest('hex');
    if (expect.sha256 !== undefined && this.sha256 !== expect.sha256) {
      bad('INTEGRITY', `${key}: SHA256 ${this.sha256} differs from the signed ${expect.sha256}`);
    }
    if (expect.other) {
      const got = expect.other.algo === 'sha256' ? this.sha256 : other!.digest('hex');
      if (got !== expect.other.hex)
        bad('INTEGRITY', `${key}: ${expect.other.algo} ${got} differs from ${expect.other.hex}`);
    }
  }
}

/** A client's view of a fill: the bytes [start, end] as they arrive. */
export class FillReader extends Readable {
  private pos: number;
  private busy = false;
  private released = false;

  constructor(
    private readonly fill: Fill,
    start: number,
    private readonly end: number | undefined,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.pos = start;
    fill.retain();
  }

  override _read(): void {
    if (!this.busy) void this.pump();
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      for (;;) {
        if (this.destroyed) return;
        const last = this.end ?? Number.POSITIVE_INFINITY;
        if (this.pos > last) {
          this.push(null);
          return;
        }
        const limit = this.fill.readable();
        if (this.pos < limit) {
          const n = Math.min(limit - this.pos, last - this.pos + 1, 256 * 1024);
          const chunk = await this.fill.read(this.pos, n);
          if (this.destroyed) return;
          if (chunk.length === 0) throw new AptgateError('INTEGRITY', 'fill file shorter than announced');
          this.pos += chunk.length;
          if (!this.push(chunk)) return;
          continue;
        }
        if (this.fill.status === 'failed') {
          this.destroy(this.fill.error);
          return;
        }
        if (this.fill.status === 'verified' && this.pos >= this.fill.written) {
          this.push(null);
          return;
        }
        await new Promise<void>((resolve) => this.fill.once('progress', resolve));
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.busy = false;
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (!this.released) {
      this.released = true;
      this.fill.release();
    }
    cb(err);
  }
}

/** At most one fill per key. */
export class FillRegistry {
  private readonly fills = new Map<string, Fill>();

  constructor(private readonly deps: FillDeps) {}

  /** The fill in progress for a key; a failed one is already gone (the next request refetches). */
  get(key: string): Fill | undefined {
    const f = this.fills.get(key);
    if (f?.status === 'failed') {
      this.fills.delete(key);
      return undefined;
    }
    return f;
  }

  /** fills finished since the owner last asked (to return their memory to the system) */
  finished = 0;

  start(spec: FillSpec): Fill {
    const existing = this.get(spec.key);
    if (existing) return existing;
    const fill = new Fill(spec, this.deps);
    this.fills.set(spec.key, fill);
    void fill.done.finally(() => {
      this.finished++;
    });
    // leave the registry only once the file is in place (or the fill failed), so a request
    // arriving in between either joins this fill or finds the stored object
    void fill.done.finally(() => {
      if (this.fills.get(spec.key) === fill) this.fills.delete(spec.key);
    });
    return fill;
  }

  get size(): number {
    return this.fills.size;
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.fills.values()].map((f) => f.done));
  }
}
