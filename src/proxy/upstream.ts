// Upstream mirrors (the only undici user): ordered fail-over on connect errors, timeouts and
// 5xx, with a failed mirror kept aside for a while; redirects followed by hand, and only to
// the backend's own mirror hosts or its `redirect_hosts` (never to whatever a mirror names:
// another service on the network, aptgate itself).
import { Agent, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { BackendConfig, Config } from '../config.js';
import { AptgateError, fail, isAptgateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProxyMetrics } from './metrics.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** must be consumed or destroyed */
  body: Readable;
  mirror: string;
  url: string;
  /** a redirect led to another path than the one asked for: never cached under the asked name */
  elsewhere: boolean;
}

export interface GetOptions {
  headers?: Record<string, string>;
  method?: 'GET' | 'HEAD';
  /** ask only this mirror (e.g. Release.gpg from the mirror that gave Release) */
  mirror?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'aptgate/0.1 (+https://packages.debian.org)';

function encodePath(path: string): string {
  return path
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/%2B/gi, '%2b').replace(/%3A/gi, ':'))
    .join('/');
}

/** Whether an upstream (read/connect) error is a timeout. */
export function isTimeout(err: unknown): boolean {
  return /TIMEOUT/i.test((err as { code?: string }).code ?? '') || ((err as Error).name ?? '').includes('Timeout');
}

function hostOf(mirror: string): string {
  return new URL(mirror).host;
}

/** Whether a (possibly redirected) URL still names `path`, whatever the mirror's prefix. */
function samePath(url: string, path: string): boolean {
  try {
    return decodeURIComponent(new URL(url).pathname).endsWith(`/${path}`);
  } catch {
    return false;
  }
}

/**
 * A short cause from a fixed vocabulary (an errno or undici code, timeout, an HTTP status):
 * it goes into apt's status line and /-/health, so never the text of an error, which may
 * quote what a mirror or a certificate said.
 */
export function causeOf(err: unknown): string {
  if (isTimeout(err)) return 'timeout';
  if (isAptgateError(err)) return 'bad redirect';
  const code = (err as { code?: unknown }).code;
  if (code === 'UND_ERR_SOCKET') return 'connection closed';
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : 'error';
}

/** What is known of one mirror (per URL: backends naming the same mirror share it). */
interface MirrorRecord {
  /** set aside (tried after the others) until then */
  downUntil: number;
  /** the first failure since the last answer; undefined: not failing */
  failingSince: number | undefined;
  lastError: string | undefined;
  lastCause: string | undefined;
  /** the last answer below 500 */
  lastOk: number | undefined;
}

/**
 * A mirror as /-/health shows it: unknown until first asked, ok once it answered, failing since its first failure after
 * that.
 */
export interface MirrorHealth {
  mirror: string;
  state: 'unknown' | 'ok' | 'failing';
  /** failing: since when (ISO 8601) */
  since?: string;
  /** failing: the last error and its short cause (ENOTFOUND, ECONNREFUSED, timeout, HTTP 503, ...) */
  lastError?: string;
  cause?: string;
  /** failing: tried first again from then (until then other mirrors go first) */
  retryAt?: string;
  /** the last answer (ISO 8601) */
  lastOk?: string;
}

/** Failures of what a mirror sent, not of reaching it (suites.ts and fill.ts record them). */
const CONTENT_CAUSES = new Set(['SIGNATURE', 'RELEASE_INVALID', 'INTEGRITY', 'ROLLBACK', 'UPSTREAM_TOO_LARGE']);

/** One request's outcome at a mirror, for whoever watches a mirror (a site's parent, site-parent.ts). */
export interface MirrorEvent {
  mirror: string;
  /** it answered (below 500) and nothing was wrong with what it sent */
  ok: boolean;
  /** it answered at all: an HTTP status (5xx too), or content found wrong (a bad signature, wrong bytes) */
  answered: boolean;
  error?: string;
  cause?: string;
}

const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

export function header(h: UpstreamResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export class Upstream {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly mirrors = new Map<string, MirrorRecord>();
  /** aborts the mirror checks in flight when the proxy closes */
  private readonly closing = new AbortController();
  private readonly watchers: Array<(e: MirrorEvent) => void> = [];

  constructor(
    private readonly config: Config,
    private readonly metrics: ProxyMetrics,
    private readonly log: Logger,
    dispatcher?: Dispatcher,
  ) {
    this.ownsDispatcher = dispatcher === undefined;
    this.dispatcher =
      dispatcher ??
      new Agent({
        connect: { timeout: config.proxy.connectTimeoutMs },
        headersTimeout: config.proxy.idleTimeoutMs,
        bodyTimeout: config.proxy.idleTimeoutMs,
        keepAliveTimeout: 30_000,
        connections: 32,
      });
  }

  private record(mirror: string): MirrorRecord {
    let r = this.mirrors.get(mirror);
    if (!r) {
      r = { downUntil: 0, failingSince: undefined, lastError: undefined, lastCause: undefined, lastOk: undefined };
      this.mirrors.set(mirror, r);
    }
    return r;
  }

  /** Mirrors in the order to try: healthy ones as configured, then the ones kept aside. */
  order(backend: BackendConfig): string[] {
    const now = Date.now();
    const down = (m: string) => this.mirrors.get(m)?.downUntil ?? 0;
    const healthy = backend.mirrors.filter((m) => down(m) <= now);
    const aside = backend.mirrors.filter((m) => !healthy.includes(m)).sort((a, b) => down(a) - down(b));
    return [...healthy, ...aside];
  }

  /** Calls `fn` with each recorded outcome of a request to a mirror. */
  watch(fn: (e: MirrorEvent) => void): void {
    this.watchers.push(fn);
  }

  /** Records a failure (the mirror is set aside for proxy.mirror_retry); `quiet`: the caller logs it. */
  markBad(backend: BackendConfig, mirror: string, reason: string, cause = 'error', quiet = false): void {
    this.metrics.upstreamErrors.inc({ backend: backend.name, mirror });
    const r = this.record(mirror);
    const now = Date.now();
    r.downUntil = now + this.config.proxy.mirrorRetryMs;
    r.failingSince ??= now;
    r.lastError = reason;
    r.lastCause = cause;
    if (!quiet) this.log.warn({ backend: backend.name, mirror, reason }, 'mirror set aside');
    const answered = CONTENT_CAUSES.has(cause) || cause.startsWith('HTTP ');
    for (const w of this.watchers) w({ mirror, ok: false, answered, error: reason, cause });
  }

  /** Records an answer: the mirror is not failing (any more). */
  markGood(backend: BackendConfig, mirror: string): void {
    const r = this.record(mirror);
    if (r.failingSince !== undefined)
      this.log.info({ backend: backend.name, mirror, failingSince: iso(r.failingSince) }, 'mirror answers again');
    r.failingSince = undefined;
    r.downUntil = 0;
    r.lastOk = Date.now();
    for (const w of this.watchers) w({ mirror, ok: true, answered: true });
  }

  /**
   * Whether a check should ask the mirror again: it failed to answer (not: answered with bad
   * content, which a HEAD cannot clear) and its time aside is over.
   */
  due(mirror: string): boolean {
    const r = this.mirrors.get(mirror);
    return r?.failingSince !== undefined && r.downUntil <= Date.now() && !CONTENT_CAUSES.has(r.lastCause ?? '');
  }

  health(): Array<{ mirror: string; healthy: boolean; downUntil: number | null }> {
    const now = Date.now();
    const out = [];
    for (const b of this.config.backends.values()) {
      for (const m of b.mirrors) {
        const d = this.mirrors.get(m)?.downUntil ?? 0;
        out.push({ mirror: m, healthy: d <= now, downUntil: d > now ? d : null });
      }
    }
    return out;
  }

  /** The state of each of the backend's mirrors, in configured order. */
  mirrorHealth(backend: BackendConfig): MirrorHealth[] {
    return backend.mirrors.map((mirror) => {
      const r = this.mirrors.get(mirror);
      if (!r || (r.failingSince === undefined && r.lastOk === undefined)) return { mirror, state: 'unknown' };
      if (r.failingSince === undefined) return { mirror, state: 'ok', lastOk: iso(r.lastOk)! };
      return {
        mirror,
        state: 'failing',
        since: iso(r.failingSince)!,
        lastError: r.lastError!,
        cause: r.lastCause!,
        retryAt: iso(r.downUntil)!,
        ...(r.lastOk ? { lastOk: iso(r.lastOk)! } : {}),
      };
    });
  }

  /**
   * Whether the mirror answers at all: a HEAD of its dists/ (any answer below 500 counts,
   * redirects are not followed) within proxy.connect_timeout. Recorded like any request;
   * the caller logs a failure. Undefined when the proxy closed meanwhile.
   */
  async probe(
    backend: BackendConfig,
    mirror: string,
  ): Promise<{ ok: true } | { ok: false; cause: string; error: string } | undefined> {
    const url = new URL(`${mirror}/dists/`);
    const limitMs = Math.max(1000, this.config.proxy.connectTimeoutMs);
    // one controller for the time limit and the proxy closing (a timer of our own: it must fire)
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(Object.assign(new Error(`no answer within ${limitMs / 1000} s`), { name: 'TimeoutError' })),
      limitMs,
    );
    const onClose = () => abort.abort();
    this.closing.signal.addEventListener('abort', onClose);
    try {
      const res = await this.dispatcher.request({
        origin: url.origin,
        path: url.pathname,
        method: 'HEAD',
        headers: { 'user-agent': USER_AGENT },
        signal: abort.signal,
      });
      res.body.on('error', () => undefined);
      res.body.destroy();
      if (res.statusCode >= 500) {
        this.markBad(backend, mirror, `HTTP ${res.statusCode} for dists/`, `HTTP ${res.statusCode}`, true);
        return { ok: false, cause: `HTTP ${res.statusCode}`, error: `answered ${res.statusCode} for ${url.href}` };
      }
      this.markGood(backend, mirror);
      return { ok: true };
    } catch (err) {
      if (this.closing.signal.aborted) return undefined;
      const cause = causeOf(err);
      const error = cause === 'timeout' ? `no answer within ${limitMs / 1000} s` : (err as Error).message;
      this.markBad(backend, mirror, error, cause, true);
      return { ok: false, cause, error };
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  /**
   * GET (or HEAD) `path` of the backend from the first mirror that answers without a
   * transport error or 5xx. 2xx, 304 and 4xx answers are returned as they are.
   */
  async get(backend: BackendConfig, path: string, opts: GetOptions = {}): Promise<UpstreamResponse> {
    const mirrors = opts.mirror ? [opts.mirror] : this.order(backend);
    let last: AptgateError | undefined;
    // "host: cause" of each mirror that failed, for the reason phrase apt shows
    const failures: string[] = [];
    let answered = false;
    for (const mirror of mirrors) {
      try {
        const res = await this.request(backend, `${mirror}/${encodePath(path)}`, opts);
        if (res.status >= 500) {
          res.body.destroy();
          this.markBad(backend, mirror, `HTTP ${res.status}`, `HTTP ${res.status}`);
          failures.push(`${hostOf(mirror)}: HTTP ${res.status}`);
          answered = true;
          last = new AptgateError('UPSTREAM_FAILED', `${mirror} answered ${res.status} for ${path}`, {
            mirror,
            status: res.status,
          });
          continue;
        }
        this.markGood(backend, mirror);
        return { ...res, mirror, elsewhere: !samePath(res.url, path) };
      } catch (err) {
        // a refused redirect says nothing about the mirror's health: try the next, keep this one
        if (isAptgateError(err) && err.details?.['redirect'] !== undefined) {
          failures.push(`${hostOf(mirror)}: redirect refused`);
          answered = true;
          last = err;
          continue;
        }
        const cause = causeOf(err);
        this.markBad(backend, mirror, (err as Error).message, cause);
        failures.push(`${hostOf(mirror)}: ${cause}`);
        last = new AptgateError(
          cause === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED',
          `${mirror}: ${(err as Error).message}`,
          { mirror },
          { cause: err },
        );
      }
    }
    if (!last) throw new AptgateError('UPSTREAM_FAILED', `backend ${backend.name} has no mirror`);
    const kind =
      last.code === 'UPSTREAM_TIMEOUT' ? 'Upstream timeout' : answered ? 'Upstream failed' : 'Upstream unreachable';
    throw new AptgateError(
      last.code,
      last.message,
      { ...last.details, reason: `${kind}: ${failures.join(', ')}` },
      { cause: last.cause },
    );
  }

  /** Where a backend's upstream may redirect to: its mirrors' origins and its redirect_hosts. */
  private redirectAllowed(backend: BackendConfig, next: URL): boolean {
    return (
      backend.mirrors.some((m) => new URL(m).origin === next.origin) ||
      backend.redirectHosts.includes(next.host.toLowerCase())
    );
  }

  private async request(
    backend: BackendConfig,
    url: string,
    opts: GetOptions,
  ): Promise<Omit<UpstreamResponse, 'mirror' | 'elsewhere'>> {
    let current = url;
    for (let hop = 0; hop <= 5; hop++) {
      const u = new URL(current);
      this.metrics.upstreamRequests.inc({ host: u.host });
      const res = await this.dispatcher.request({
        origin: u.origin,
        path: u.pathname + u.search,
        method: opts.method ?? 'GET',
        headers: { 'user-agent': USER_AGENT, ...opts.headers },
      });
      // undici reports a body destroyed unread as an 'error'; consumers that care read it
      // through iteration or their own listener, an unread body is simply dropped
      res.body.on('error', () => undefined);
      if (REDIRECTS.has(res.statusCode)) {
        const location = header(res.headers, 'location');
        res.body.destroy();
        if (!location) fail('UPSTREAM_FAILED', `redirect without Location from ${current}`);
        const next = new URL(location, current);
        if (next.protocol !== 'http:' && next.protocol !== 'https:')
          fail('UPSTREAM_FAILED', `redirect to ${next.protocol} refused`);
        if (u.protocol === 'https:' && next.protocol === 'http:')
          fail('UPSTREAM_FAILED', 'redirect from https to http refused');
        if (!this.redirectAllowed(backend, next)) {
          fail(
            'UPSTREAM_FAILED',
            `${current} redirects to ${next.origin}, which is not a mirror of backend ${backend.name} (see backend.${backend.name}.redirect_hosts)`,
            { redirect: next.origin },
          );
        }
        current = next.href;
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
    }
    fail('UPSTREAM_FAILED', `too many redirects from ${url}`);
  }

  /** Reads a whole (small) body, refusing more than `limit` bytes. */
  static async readAll(res: UpstreamResponse, limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        n += c.length;
        if (n > limit) {
          res.body.destroy();
          fail('UPSTREAM_TOO_LARGE', `${res.url}: more than ${limit} bytes`, { url: res.url });
        }
        chunks.push(c);
      }
    } catch (err) {
      if (isAptgateError(err)) throw err;
      if (isTimeout(err))
        fail(
          'UPSTREAM_TIMEOUT',
          `${res.url}: upstream stopped sending after ${n} bytes (${(err as Error).message})`,
          { url: res.url },
          err,
        );
      fail(
        'UPSTREAM_FAILED',
        `${res.url}: transfer broke after ${n} bytes: ${(err as Error).message}`,
        { url: res.url },
        err,
      );
    }
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {
    this.closing.abort();
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
