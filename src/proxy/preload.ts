// A site's pre-loading (issue 18): the .deb files its machines will install, named by the central
// server's list (preload-list.ts), fetched ahead of the maintenance window through the site's own
// proxy path: each is verified against the site's own signed indexes (the list's size and SHA256
// must agree with them: nothing is trusted because the parent said so), stored exactly as a
// client's fill, and shared with a client asking for it meanwhile (one fill per key). At most
// [site] preload_rate bytes a second, only inside [site] preload_window; a file already cached
// counts as done; a file that fails is not kept and the others go on.
import { EventEmitter } from 'node:events';
import type { BackendConfig, Config } from '../config.js';
import { AptgateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Expect, FillSpec } from './fill.js';
import { contentType } from './paths.js';
import { msUntilOpen, TokenBucket, type PreloadWindow } from './preload-pace.js';
import type { PreloadItem, PreloadList } from './preload-list.js';
import type { ProxyRuntime } from './runtime.js';
import { resolveTarget, type Target } from './target.js';

export type PreloadState = 'idle' | 'waiting-window' | 'running' | 'done' | 'failed';

/** What `/-/health`, the site's report and the central's `sites show` show. */
export interface PreloadProgress {
  state: PreloadState;
  files_done: number;
  files_total: number;
  bytes_done: number;
  bytes_total: number;
  /** of files_done: already in the cache, nothing fetched */
  files_cached: number;
  files_failed: number;
  /** bytes this pre-loading read from the parent (paced) */
  bytes_fetched: number;
  last_error: string | null;
}

/** What the Preloader needs of the site's proxy (forRuntime() gives a running server's). */
export interface PreloadPort {
  /** the site's target for a path at the parent (a backend, or a stage view's backend at a site) */
  resolve(path: string): Target | Promise<Target>;
  /** size and SHA256 the site's own signed indexes give the pool file (undefined: none names it) */
  expected(target: Target): Promise<Expect | undefined>;
  stored(key: string): Promise<boolean>;
  /** fills the object (joining a fill in progress); resolves once it is stored, rejects with why not */
  fill(spec: FillSpec): Promise<void>;
  /** makes a suite known to the site: its signed root fetched and verified (what names its Packages) */
  learnSuite?(target: Target, suite: string): Promise<void>;
}

export interface PreloaderOptions {
  rate: number;
  window: PreloadWindow | null;
  /** local time (the window's clock); tests inject one */
  now?: () => Date;
  /** files fetched at once (they share the rate) */
  concurrency?: number;
  log?: Logger;
}

const fresh = (): PreloadProgress => ({
  state: 'idle',
  files_done: 0,
  files_total: 0,
  bytes_done: 0,
  bytes_total: 0,
  files_cached: 0,
  files_failed: 0,
  bytes_fetched: 0,
  last_error: null,
});

/**
 * Events: `state` (the new state, the progress), `progress` (after each file), `waiting` (the run
 * waits for the window: ms until it opens), `fetching` (a file's path, as its fill starts).
 */
export class Preloader extends EventEmitter {
  private p = fresh();
  private readonly bucket: TokenBucket;
  private readonly now: () => Date;
  private readonly concurrency: number;
  /** bumped by each load() and by stop(): an older run ends at its next step */
  private generation = 0;
  private stopped = false;
  private readonly waiting = new Set<() => void>();
  private running: Promise<PreloadProgress> = Promise.resolve(this.p);

  constructor(
    private readonly port: PreloadPort,
    private readonly o: PreloaderOptions,
  ) {
    super();
    this.bucket = new TokenBucket(o.rate);
    this.now = o.now ?? (() => new Date());
    this.concurrency = Math.max(1, o.concurrency ?? 2);
  }

  /** A running server's proxy: its backends resolve the paths, unless `resolve` does (a site's stage views). */
  static forRuntime(
    runtime: ProxyRuntime,
    o: Partial<PreloaderOptions> & { resolve?: PreloadPort['resolve'] } = {},
  ): Preloader {
    const config: Config = runtime.config;
    const port: PreloadPort = {
      resolve: o.resolve ?? ((path) => resolveTarget(path, runtime.backends)),
      expected: (t) => runtime.service.expectedPoolFile(t.backend, t.path),
      stored: async (key) => (await runtime.store.stat(key)) !== undefined,
      learnSuite: async (t, suite) => {
        const served =
          (await runtime.suites.root(t.backend, suite, 'inrelease', { revalidate: true })) ??
          (await runtime.suites.root(t.backend, suite, 'release', { revalidate: true }));
        if (!served)
          throw new AptgateError('NOT_FOUND', `${t.backend.name}: ${suite} has no signed root at the parent`);
      },
      fill: async (spec) => {
        const f = runtime.fills.start(spec);
        if (!(await f.done))
          throw f.error ?? new AptgateError('UPSTREAM_FAILED', `${spec.key}: fetched through a redirect, not stored`);
      },
    };
    return new Preloader(port, {
      rate: o.rate ?? config.site.preloadRate,
      window: o.window !== undefined ? o.window : config.site.preloadWindow,
      ...(o.now ? { now: o.now } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.log ? { log: o.log } : {}),
    });
  }

  progress(): PreloadProgress {
    return { ...this.p };
  }

  /**
   * Pre-loads this list (it replaces the one before: files done stay done in the cache and count
   * as done again at once). Resolves with the progress when this list's run ends (or is replaced).
   */
  load(list: PreloadList): Promise<PreloadProgress> {
    const gen = ++this.generation;
    this.wake();
    this.p = { ...fresh(), files_total: list.items.length, bytes_total: list.totals.bytes };
    this.running = this.run(gen, list.items, list.dists ?? []);
    return this.running;
  }

  /** Looks at the clock again now (a waiting run starts if the window opened). */
  wake(): void {
    for (const w of [...this.waiting]) w();
  }

  /** Ends the run for good (the server stops): no file is started after this, a paced fill ends at its next chunk. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    this.wake();
    await this.running.catch(() => undefined);
  }

  private setState(s: PreloadState): void {
    if (this.p.state === s) return;
    this.p.state = s;
    this.emit('state', s, this.progress());
  }

  private async run(gen: number, items: readonly PreloadItem[], dists: readonly string[]): Promise<PreloadProgress> {
    let next = 0;
    const current = () => gen === this.generation;
    // suites this site never served: their signed roots first, so its index can vouch for the files
    if (items.length && dists.length && this.port.learnSuite && (await this.windowOpen(current)))
      for (const d of dists) {
        if (!current()) break;
        await this.learn(d);
      }
    const worker = async () => {
      while (current() && next < items.length) {
        if (!(await this.windowOpen(current))) return;
        const item = items[next++];
        if (item) await this.one(item, current);
      }
    };
    if (!items.length) this.setState('done');
    else await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    if (current() && items.length) this.setState(this.p.files_failed ? 'failed' : 'done');
    return this.progress();
  }

  /** Waits until the window is open; false when the run was replaced or stopped meanwhile. */
  private async windowOpen(current: () => boolean): Promise<boolean> {
    for (;;) {
      if (!current()) return false;
      const wait = msUntilOpen(this.o.window, this.now());
      if (wait === 0) {
        if (this.p.state !== 'running') this.setState('running');
        return true;
      }
      this.setState('waiting-window');
      this.emit('waiting', wait);
      // a minute at most: the clock may be set, or the time change
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiting.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(wait, 60_000));
        this.waiting.add(done);
      });
    }
  }

  private async learn(dists: string): Promise<void> {
    const suite = dists.slice(dists.indexOf('/dists/') + '/dists/'.length);
    try {
      await this.port.learnSuite!(await this.port.resolve(`${dists}/InRelease`), suite);
    } catch (err) {
      // its files fail on their own ("no signed index of this site names it")
      this.p.last_error = `${dists}: ${(err as Error).message}`.slice(0, 500);
      this.o.log?.warn({ dists, err: (err as Error).message }, 'pre-loading: suite not learnt');
    }
  }

  private async one(item: PreloadItem, current: () => boolean): Promise<void> {
    try {
      const target = await this.port.resolve(item.path);
      const stored = await this.port.stored(target.key);
      // replaced meanwhile: this run's counts are no longer the progress shown
      if (!current()) return;
      if (!stored) {
        const expect = await this.port.expected(target);
        if (!expect?.sha256)
          throw new AptgateError('INTEGRITY', `${item.path}: no signed index of this site names it (yet)`);
        if (expect.sha256 !== item.sha256 || (expect.size !== undefined && expect.size !== item.size))
          throw new AptgateError('INTEGRITY', `${item.path}: the site's signed index names another file than the list`);
        this.emit('fetching', item.path);
        await this.port.fill(this.spec(target.backend, target, expect));
        // replaced meanwhile: the new list counts this file when it comes to it (stored by then)
        if (!current()) return;
      } else this.p.files_cached++;
      this.p.files_done++;
      this.p.bytes_done += item.size;
    } catch (err) {
      if (!current()) return;
      this.p.files_failed++;
      this.p.last_error = `${item.path}: ${(err as Error).message}`.slice(0, 500);
      this.o.log?.warn({ path: item.path, err: (err as Error).message }, 'pre-loading: file not stored');
    }
    this.emit('progress', this.progress());
  }

  private spec(backend: BackendConfig, target: Target, expect: Expect): FillSpec {
    return {
      backend,
      key: target.key,
      sources: [target.path],
      expect,
      contentType: contentType(target.path),
      pace: async (n) => {
        this.p.bytes_fetched += n;
        if (this.stopped) throw new AptgateError('UPSTREAM_FAILED', `${target.key}: pre-loading stopped`);
        // a replaced list's file in flight stays paced: the new list likely names it too
        await this.bucket.take(n, () => this.stopped);
      },
    };
  }
}
