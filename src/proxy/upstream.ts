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
  return path.split('/').map((s) => encodeURIComponent(s).replace(/%2B/gi, '%2b').replace(/%3A/gi, ':')).join('/');
}

/** Whether an upstream (read/connect) error is a timeout. */
export function isTimeout(err: unknown): boolean {
  return /TIMEOUT/i.test((err as { code?: string }).code ?? '') || ((err as Error).name ?? '').includes('Timeout');
}

/** Whether a (possibly redirected) URL still names `path`, whatever the mirror's prefix. */
function samePath(url: string, path: string): boolean {
  try {
    return decodeURIComponent(new URL(url).pathname).endsWith(`/${path}`);
  } catch {
    return false;
  }
}

export function header(h: UpstreamResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export class Upstream {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly config: Config,
    private readonly metrics: ProxyMetrics,
    private readonly log: Logger,
    dispatcher?: Dispatcher,
  ) {
    this.ownsDispatcher = dispatcher === undefined;
    this.dispatcher = dispatcher ?? new Agent({
      connect: { timeout: config.proxy.connectTimeoutMs },
      headersTimeout: config.proxy.idleTimeoutMs,
      bodyTimeout: config.proxy.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      connections: 32,
    });
  }

  /** Mirrors in the order to try: healthy ones as configured, then the ones kept aside. */
  order(backend: BackendConfig): string[] {
    const now = Date.now();
    const healthy = backend.mirrors.filter((m) => (this.downUntil.get(m) ?? 0) <= now);
    const aside = backend.mirrors.filter((m) => !healthy.includes(m))
      .sort((a, b) => (this.downUntil.get(a) ?? 0) - (this.downUntil.get(b) ?? 0));
    return [...healthy, ...aside];
  }

  markBad(backend: BackendConfig, mirror: string, reason: string): void {
    this.metrics.upstreamErrors.inc({ backend: backend.name, mirror });
    this.downUntil.set(mirror, Date.now() + this.config.proxy.mirrorRetryMs);
    this.log.warn({ backend: backend.name, mirror, reason }, 'mirror set aside');
  }

  health(): Array<{ mirror: string; healthy: boolean; downUntil: number | null }> {
    const now = Date.now();
    const out = [];
    for (const b of this.config.backends.values()) {
      for (const m of b.mirrors) {
        const d = this.downUntil.get(m) ?? 0;
        out.push({ mirror: m, healthy: d <= now, downUntil: d > now ? d : null });
      }
    }
    return out;
  }

  /**
   * GET (or HEAD) `path` of the backend from the first mirror that answers without a
   * transport error or 5xx. 2xx, 304 and 4xx answers are returned as they are.
   */
  async get(backend: BackendConfig, path: string, opts: GetOptions = {}): Promise<UpstreamResponse> {
    const mirrors = opts.mirror ? [opts.mirror] : this.order(backend);
    let last: AptgateError | undefined;
    for (const mirror of mirrors) {
      try {
        const res = await this.request(backend, `${mirror}/${encodePath(path)}`, opts);
        if (res.status >= 500) {
          res.body.destroy();
          this.markBad(backend, mirror, `HTTP ${res.status}`);
          last = new AptgateError('UPSTREAM_FAILED', `${mirror} answered ${res.status} for ${path}`, { mirror, status: res.status });
          continue;
        }
        return { ...res, mirror, elsewhere: !samePath(res.url, path) };
      } catch (err) {
        // a refused redirect says nothing about the mirror's health: try the next, keep this one
        if (isAptgateError(err) && err.details?.['redirect'] !== undefined) {
          last = err;
          continue;
        }
        this.markBad(backend, mirror, (err as Error).message);
        last = new AptgateError(isTimeout(err) ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED', `${mirror}: ${(err as Error).message}`, { mirror }, { cause: err });
      }
    }
    throw last ?? new AptgateError('UPSTREAM_FAILED', `backend ${backend.name} has no mirror`);
  }

  /** Where a backend's upstream may redirect to: its mirrors' origins and its redirect_hosts. */
  private redirectAllowed(backend: BackendConfig, next: URL): boolean {
    return backend.mirrors.some((m) => new URL(m).origin === next.origin) || backend.redirectHosts.includes(next.host.toLowerCase());
  }

  private async request(backend: BackendConfig, url: string, opts: GetOptions): Promise<Omit<UpstreamResponse, 'mirror' | 'elsewhere'>> {
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
        if (next.protocol !== 'http:' && next.protocol !== 'https:') fail('UPSTREAM_FAILED', `redirect to ${next.protocol} refused`);
        if (u.protocol === 'https:' && next.protocol === 'http:') fail('UPSTREAM_FAILED', 'redirect from https to http refused');
        if (!this.redirectAllowed(backend, next)) {
          fail('UPSTREAM_FAILED', `${current} redirects to ${next.origin}, which is not a mirror of backend ${backend.name} (see backend.${backend.name}.redirect_hosts)`, { redirect: next.origin });
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
      if (isTimeout(err)) fail('UPSTREAM_TIMEOUT', `${res.url}: upstream stopped sending after ${n} bytes (${(err as Error).message})`, { url: res.url }, err);
      fail('UPSTREAM_FAILED', `${res.url}: transfer broke after ${n} bytes: ${(err as Error).message}`, { url: res.url }, err);
    }
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
