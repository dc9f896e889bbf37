/**
 * The fixture upstream mirror: a real node:http server on 127.0.0.1:<ephemeral port> serving the
 * files under a directory (normally FixtureRepo.root), with request counting, request hooks and
 * injectable faults.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type Fault =
  /** wait before sending headers (then answer normally) */
  | { kind: 'delay'; ms: number }
  /** answer with this status (e.g. 500, 503, 404) and a short text/plain body */
  | { kind: 'status'; status: number }
  /** send headers with the full Content-Length, then afterBytes of body, then destroy the socket */
  | { kind: 'reset'; afterBytes: number }
  /** same Content-Length, but the last byte of the body is XORed with 0xff (no-op for empty files) */
  | { kind: 'wrong-bytes' }
  /** Content-Length and body of size+delta (zero bytes appended, or the body truncated), consistent with each other */
  | { kind: 'wrong-length'; delta: number }
  /** stream the body in chunks of chunkBytes with intervalMs pauses between them */
  | { kind: 'slow'; chunkBytes: number; intervalMs: number }
  /**
   * send headers and the first 64 KiB of the body (for files of 64 KiB or less: all but the last
   * byte), then wait for `until` before sending the rest. `reached` (optional) is called once that
   * first part has been handed to the kernel, i.e. the request is now provably in flight.
   */
  | { kind: 'gate'; until: Promise<void>; reached?: () => void };

export type PathMatch = string | RegExp | ((path: string) => boolean);

export interface RecordedRequest {
  method: string;
  /** decoded path relative to the root ('dists/stable/InRelease'), or the raw URL path if it is outside the prefix */
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

interface FaultRule {
  match: PathMatch;
  fault: Fault;
  remaining: number;
}

interface HookRule {
  match: PathMatch;
  hook: (path: string) => void | Promise<void>;
  remaining: number;
}

export const GATE_BYTES = 64 * 1024;

function stripSlash(p: string): string {
  return p.replace(/^\/+/, '');
}

function matches(m: PathMatch, p: string): boolean {
  if (typeof m === 'string') return stripSlash(m) === p;
  if (m instanceof RegExp) {
    m.lastIndex = 0;
    return m.test(p);
  }
  return m(p);
}

function httpDate(d: Date): string {
  return d.toUTCString();
}

export class FixtureUpstream {
  /** http://127.0.0.1:<port> (no trailing slash, without the prefix) */
  readonly url: string;
  /** url + prefix: the repository base URI to put into sources (no trailing slash) */
  readonly base: string;
  readonly port: number;
  readonly root: string;
  readonly prefix: string;
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly counts = new Map<string, number>();
  private log: RecordedRequest[] = [];
  private faults: FaultRule[] = [];
  private hooks: HookRule[] = [];
  /** errors thrown by onRequest hooks (the request was answered with 500) */
  readonly hookErrors: unknown[] = [];

  private constructor(server: http.Server, root: string, prefix: string, port: number) {
    this.server = server;
    this.root = root;
    this.prefix = prefix;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.base = `${this.url}${prefix}`;
  }

  /**
   * Serves GET/HEAD of regular files under root at `${prefix}/<path under root>`. prefix, if given,
   * must start with '/' and not end with one (e.g. '/debian').
   */
  static async start(root: string, opts: { prefix?: string } = {}): Promise<FixtureUpstream> {
    const prefix = opts.prefix ?? '';
    if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) throw new Error(`bad prefix ${prefix}`);
    const server = http.createServer({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // No connection can be accepted before these synchronous registrations run (events are macrotasks).
    const port = (server.address() as AddressInfo).port;
    const up = new FixtureUpstream(server, path.resolve(root), prefix, port);
    server.on('connection', (s: Socket) => {
      up.sockets.add(s);
      s.on('close', () => up.sockets.delete(s));
    });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      up.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`fixture upstream error: ${String(err)}\n`);
        } else {
          res.destroy();
        }
      });
    });
    return up;
  }

  /** number of requests (any method) for this path relative to the root, e.g. 'dists/stable/InRelease' */
  hits(p: string): number {
    return this.counts.get(stripSlash(p)) ?? 0;
  }

  totalHits(): number {
    return this.log.length;
  }

  requests(): RecordedRequest[] {
    return [...this.log];
  }

  resetCounts(): void {
    this.counts.clear();
    this.log = [];
  }

  /**
   * Injects a fault for requests whose path matches: a string matches one exact path relative to
   * the root (leading '/' ignored), a RegExp is tested against that path. Rules apply in order of
   * registration, the first rule with uses left wins and is consumed (`times`, default Infinity).
   */
  fault(match: PathMatch, fault: Fault, times = Infinity): void {
    this.faults.push({ match, fault, remaining: times });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /**
   * Calls hook (and awaits it) before a matching request is answered; all matching hooks run, in
   * registration order, each `times` times (default Infinity). A throwing hook makes that request a 500.
   */
  onRequest(match: PathMatch, hook: (path: string) => void | Promise<void>, times = Infinity): void {
    this.hooks.push({ match, hook, remaining: times });
  }

  clearHooks(): void {
    this.hooks = [];
  }

  /** closes the server and destroys open sockets (in-flight responses are cut) */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private parsePath(rawUrl: string): { rel: string | undefined; recorded: string } {
    let p = rawUrl.split('?')[0]!.split('#')[0]!;
    const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(p); // absolute-form request target
    if (abs) p = p.slice(abs[0].length) || '/';
    if (!p.startsWith(`${this.prefix}/`)) return { rel: undefined, recorded: p };
    let rel: string;
    try {
      rel = decodeURIComponent(p.slice(this.prefix.length + 1));
    } catch {
      return { rel: undefined, recorded: p };
    }
    const segs = rel.split('/');
    if (rel.includes('\0') || segs.some((s) => s === '..' || s === '.')) return { rel: undefined, recorded: rel };
    return { rel, recorded: rel };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const { rel, recorded } = this.parsePath(req.url ?? '/');
    this.log.push({ method, path: recorded, headers: { ...req.headers } });
    this.counts.set(recorded, (this.counts.get(recorded) ?? 0) + 1);

    for (const h of this.hooks) {
      if (h.remaining > 0 && matches(h.match, recorded)) {
        h.remaining--;
        try {
          await h.hook(recorded);
        } catch (err) {
          this.hookErrors.push(err);
          return this.sendText(res, method, 500, `onRequest hook failed: ${String(err)}\n`);
        }
      }
    }

    let fault: Fault | undefined;
    for (const f of this.faults) {
      if (f.remaining > 0 && matches(f.match, recorded)) {
        f.remaining--;
        fault = f.fault;
        break;
      }
    }

    if (fault?.kind === 'delay') await sleep(fault.ms);
    if (fault?.kind === 'status')
      return this.sendText(res, method, fault.status, `fixture fault: status ${fault.status}\n`);
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.sendText(res, method, 405, 'method not allowed\n');
    }
    if (rel === undefined) return this.sendText(res, method, 404, 'not found\n');

    let fh: FileHandle;
    try {
      fh = await open(path.join(this.root, rel), 'r');
    } catch {
      return this.sendText(res, method, 404, 'not found\n');
    }
    let handedOff = false;
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return this.sendText(res, method, 404, 'not found\n');
      const size = Number(st.size);
      const mtime = new Date(Number(st.mtimeMs));
      const etag = `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
      const headers: http.OutgoingHttpHeaders = {
        'Content-Type': 'application/octet-stream',
        'Last-Modified': httpDate(mtime),
        ETag: etag,
      };
      const bodyFault = fault && fault.kind !== 'delay' ? fault : undefined;

      if (!bodyFault) {
        // Conditional requests (If-None-Match wins over If-Modified-Since, RFC 9110 13.2.2)
        const inm = req.headers['if-none-match'];
        const ims = req.headers['if-modified-since'];
        let notModified = false;
        if (inm !== undefined) {
          notModified = inm.split(',').some((t) => t.trim() === '*' || t.trim().replace(/^W\//, '') === etag);
        } else if (ims !== undefined) {
          const since = Date.parse(ims);
          notModified = !Number.isNaN(since) && Math.floor(mtime.getTime() / 1000) <= Math.floor(since / 1000);
        }
        if (notModified) {
          res.writeHead(304, { 'Last-Modified': headers['Last-Modified'], ETag: etag });
          res.end();
          return;
        }
        res.writeHead(200, { ...headers, 'Content-Length': size });
        if (method === 'HEAD' || size === 0) {
          res.end();
          return;
        }
        handedOff = true;
        const stream = fh.createReadStream({ autoClose: true });
        stream.on('error', () => res.destroy());
        res.on('close', () => stream.destroy());
        stream.pipe(res);
        return;
      }

      const body = await fh.readFile();
      switch (bodyFault.kind) {
        case 'wrong-bytes': {
          const bad = Buffer.from(body);
          if (bad.length > 0) bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
          res.writeHead(200, { ...headers, 'Content-Length': bad.length });
          res.end(method === 'HEAD' ? undefined : bad);
          return;
        }
        case 'wrong-length': {
          const n = Math.max(0, body.length + bodyFault.delta);
          const bad = n <= body.length ? body.subarray(0, n) : Buffer.concat([body, Buffer.alloc(n - body.length)]);
          res.writeHead(200, { ...headers, 'Content-Length': bad.length });
          res.end(method === 'HEAD' ? undefined : bad);
          return;
        }
        case 'reset': {
          res.writeHead(200, { ...headers, 'Content-Length': body.length });
          if (method === 'HEAD') {
            res.end();
            return;
          }
          const part = body.subarray(0, Math.max(0, Math.min(bodyFault.afterBytes, body.length)));
          await this.flush(res, part);
          res.socket?.destroy();
          res.destroy();
          return;
        }
        case 'slow': {
          res.writeHead(200, { ...headers, 'Content-Length': body.length });
          if (method === 'HEAD') {
            res.end();
            return;
          }
          const step = Math.max(1, bodyFault.chunkBytes);
          for (let off = 0; off < body.length; off += step) {
            if (res.destroyed) return;
            if (off > 0) await sleep(bodyFault.intervalMs);
            if (res.destroyed) return;
            if (!res.write(body.subarray(off, off + step))) await waitDrain(res);
          }
          if (!res.destroyed) res.end();
          return;
        }
        case 'gate': {
          res.writeHead(200, { ...headers, 'Content-Length': body.length });
          if (method === 'HEAD') {
            res.end();
            return;
          }
          const first = Math.min(GATE_BYTES, Math.max(0, body.length - 1));
          await this.flush(res, body.subarray(0, first));
          bodyFault.reached?.();
          await bodyFault.until;
          if (!res.destroyed) res.end(body.subarray(first));
          return;
        }
        default: {
          const never: never = bodyFault;
          throw new Error(`unknown fault ${JSON.stringify(never)}`);
        }
      }
    } finally {
      if (!handedOff) await fh.close();
    }
  }

  /** sends headers (already set with writeHead) plus data and resolves once they are written to the socket */
  private flush(res: http.ServerResponse, data: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (res.destroyed) return resolve();
      if (data.length > 0) {
        res.write(data, () => resolve());
        return;
      }
      res.flushHeaders();
      const sock = res.socket;
      if (!sock || sock.destroyed) return resolve();
      sock.write(Buffer.alloc(0), () => resolve());
    });
  }

  private sendText(res: http.ServerResponse, method: string, status: number, text: string): void {
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
      res.writeHead(status);
      res.end();
      return;
    }
    const body = Buffer.from(text);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    res.end(method === 'HEAD' ? undefined : body);
  }
}

function waitDrain(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
