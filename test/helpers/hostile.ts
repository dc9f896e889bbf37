/**
 * A hostile (or merely broken) upstream mirror for attack tests: a real node:http server on
 * 127.0.0.1 serving a directory the way a web server does (a directory without its trailing
 * slash is a 301, with it an HTML listing), where any path can be given its own answer: raw
 * bytes without Content-Length, redirects anywhere, a body that stalls.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

export interface HostileContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** the decoded path below the prefix */
  rel: string;
  /** the bytes of the file at rel under the root (throws when there is none) */
  file(): Promise<Buffer>;
}

export type HostileHandler = (ctx: HostileContext) => void | Promise<void>;
type Match = string | RegExp | ((rel: string) => boolean);

function matches(m: Match, rel: string): boolean {
  if (typeof m === 'string') return m === rel;
  if (m instanceof RegExp) return m.test(rel);
  return m(rel);
}

export class HostileUpstream {
  readonly url: string;
  /** url + prefix, the mirror URL to configure */
  readonly base: string;
  private readonly sockets = new Set<Socket>();
  private readonly counts = new Map<string, number>();
  private rules: Array<{ match: Match; handler: HostileHandler; remaining: number }> = [];

  private constructor(
    private readonly server: http.Server,
    readonly root: string,
    readonly prefix: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.base = `${this.url}${prefix}`;
  }

  static async start(root: string, prefix = '/debian'): Promise<HostileUpstream> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const up = new HostileUpstream(server, path.resolve(root), prefix, (server.address() as AddressInfo).port);
    server.on('connection', (s: Socket) => {
      up.sockets.add(s);
      s.on('close', () => up.sockets.delete(s));
    });
    server.on('request', (req, res) => {
      up.handle(req, res).catch(() => res.destroy());
    });
    return up;
  }

  /** Answers matching requests with `handler` (`times` times, default always); first rule wins. */
  on(match: Match, handler: HostileHandler, times = Infinity): void {
    this.rules.push({ match, handler, remaining: times });
  }

  clear(): void {
    this.rules = [];
  }

  /** Requests seen for a path (relative to the prefix, or the raw path outside it). */
  hits(rel: string): number {
    return this.counts.get(rel) ?? 0;
  }

  totalHits(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  resetCounts(): void {
    this.counts.clear();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const inside = raw.startsWith(`${this.prefix}/`);
    const rel = inside ? raw.slice(this.prefix.length + 1) : raw;
    this.counts.set(rel, (this.counts.get(rel) ?? 0) + 1);
    const file = path.join(this.root, rel);
    const ctx: HostileContext = { req, res, rel, file: () => readFile(file) };
    for (const r of this.rules) {
      if (r.remaining > 0 && matches(r.match, rel)) {
        r.remaining--;
        return r.handler(ctx);
      }
    }
    if (!inside || rel.split('/').includes('..')) return text(res, 404, 'not found\n');
    const st = await stat(file).catch(() => undefined);
    if (!st) return text(res, 404, 'not found\n');
    if (st.isDirectory()) {
      if (!rel.endsWith('/') && rel !== '') {
        res.writeHead(301, { Location: `${this.prefix}/${rel}/`, 'Content-Type': 'text/html' });
        res.end(`<html><body>Moved <a href="${rel}/">here</a></body></html>\n`);
        return;
      }
      const names = await readdir(file);
      const body = `<html><head><title>Index of /${rel}</title></head><body><h1>Index of /${rel}</h1>\n${names.map((n) => `<a href="${n}">${n}</a><br>`).join('\n')}\n</body></html>\n`;
      res.writeHead(200, { 'Content-Type': 'text/html;charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const body = await readFile(file);
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': body.length,
      'Last-Modified': st.mtime.toUTCString(),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

export function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Answers on the raw socket: a status line, `headers`, `Connection: close`, then `body`, then
 * the connection closes. Without a Content-Length the body ends where the connection does
 * (HTTP/1.1 close-delimited), so a cut body looks complete on the wire.
 */
export function rawClose(
  res: http.ServerResponse,
  status: string,
  headers: Record<string, string>,
  body: Buffer,
): void {
  const head = [
    `HTTP/1.1 ${status}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    'Connection: close',
    '',
    '',
  ].join('\r\n');
  const sock = res.socket!;
  sock.write(head);
  sock.end(body);
}

/** A redirect to `location` (absolute or relative). */
export function redirect(res: http.ServerResponse, status: number, location: string): void {
  res.writeHead(status, { Location: location, 'Content-Type': 'text/html', 'Content-Length': 0 });
  res.end();
}

/** The bytes with the last one flipped. */
export function flipLast(b: Buffer): Buffer {
  const bad = Buffer.from(b);
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
  return bad;
}
