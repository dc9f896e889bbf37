// An HTTP relay to a target server for the site tests (a link between a site and its parent):
// it records the paths asked and answered, and can flip one byte of .deb bodies (a parent
// serving wrong bytes), counting the .deb bodies it passes. When the target is gone, a request's connection is dropped.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export class Relay {
  corruptDebs = false;
  /** which .deb paths get a byte flipped (default: every one while `corruptDebs`) */
  corrupt: (path: string) => boolean = () => this.corruptDebs;
  /** the .deb GETs passed on, and the bytes of their bodies as the target sent them */
  readonly debs: string[] = [];
  debBytes = 0;
  readonly seen: string[] = [];
  readonly answered: string[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<Relay> {
    const t = new URL(target);
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const relay = new Relay(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', (s: Socket) => {
      relay.sockets.add(s);
      s.on('close', () => relay.sockets.delete(s));
    });
    server.on('request', (req, res) => {
      const p = req.url ?? '/';
      relay.seen.push(p);
      const isDeb = p.endsWith('.deb') && req.method === 'GET';
      if (isDeb) relay.debs.push(p);
      const up = http.request(
        { host: t.hostname, port: t.port, method: req.method, path: p, headers: req.headers },
        (ur) => {
          relay.answered.push(p);
          if (isDeb) ur.on('data', (c: Buffer) => (relay.debBytes += c.length));
          const corrupt = isDeb && ur.statusCode === 200 && relay.corrupt(p);
          if (!corrupt) {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          ur.on('data', (c: Buffer) => chunks.push(c));
          ur.on('end', () => {
            const body = Buffer.concat(chunks);
            // one byte in the middle of the body: same length, wrong hash
            if (body.length > 0) body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
            res.writeHead(200, { ...ur.headers, 'content-length': body.length });
            res.end(body);
          });
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    return relay;
  }

  /** requests for paths ending with `suffix` */
  count(suffix: string): number {
    return this.seen.filter((p) => p.endsWith(suffix)).length;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
