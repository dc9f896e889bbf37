// A counting TCP relay for bench:sites: put between two tiers (site → central, central → upstream), it counts the bytes
// each way (HTTP heads included: what the link carries) and notes the request line of every request that crosses it
// (apt's requests have no bodies, so each request ends at its blank line). Optionally a thin link: the answers of all
// its connections together at most `rate` bytes/s (a token bucket; requests are not limited). Runs in the bench's
// process.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface LinkCount {
  /** parent → child: the answers */
  down: number;
  /** child → parent: the requests */
  up: number;
  /** request lines seen ("GET /bench/pool/... HTTP/1.1", or the absolute form a proxy is sent) */
  requests: string[];
  connections: number;
}

export class Relay {
  count: LinkCount = { down: 0, up: 0, requests: [], connections: 0 };
  private readonly sockets = new Set<Socket>();
  /** when the link is free again (performance.now() ms), for the token bucket */
  private next = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly rate: number,
  ) {}

  /** `rate`: bytes/s parent → child over all connections, 0 = no limit */
  static async start(targetPort: number, port = 0, rate = 0): Promise<Relay> {
    const server = createServer();
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, '127.0.0.1', () => res());
    });
    const relay = new Relay(server, (server.address() as { port: number }).port, rate);
    server.on('connection', (client) => relay.pair(client, targetPort));
    return relay;
  }

  /** Counts start again from zero (between rounds). */
  reset(): LinkCount {
    const c = this.count;
    this.count = { down: 0, up: 0, requests: [], connections: 0 };
    return c;
  }

  private pair(client: Socket, targetPort: number): void {
    this.count.connections++;
    const parent = connect({ host: '127.0.0.1', port: targetPort });
    this.sockets.add(client).add(parent);
    let head = '';
    client.on('data', (b: Buffer) => {
      this.count.up += b.length;
      head += b.toString('latin1');
      for (let i = head.indexOf('\r\n\r\n'); i !== -1; i = head.indexOf('\r\n\r\n')) {
        this.count.requests.push(head.slice(0, head.indexOf('\r\n')));
        head = head.slice(i + 4);
      }
      if (head.length > 65536) head = ''; // not apt's traffic; counting bytes is what matters
    });
    // parent → child by hand (not pipe(): its 'drain' handling would resume a stream the link holds back)
    let drain = false;
    let link = false;
    const resume = () => {
      if (!drain && !link) parent.resume();
    };
    parent.on('data', (b: Buffer) => {
      this.count.down += b.length;
      if (!client.write(b)) {
        drain = true;
        parent.pause();
      }
      const wait = this.hold(b.length);
      if (wait > 10) {
        link = true;
        parent.pause();
        setTimeout(() => {
          link = false;
          resume();
        }, wait);
      }
    });
    client.on('drain', () => {
      drain = false;
      resume();
    });
    parent.on('end', () => client.end());
    client.pipe(parent);
    const close = () => {
      client.destroy();
      parent.destroy();
      this.sockets.delete(client);
      this.sockets.delete(parent);
    };
    client.on('error', close).on('close', close);
    parent.on('error', close).on('close', close);
  }

  /** ms until `bytes` more have crossed the link at its rate */
  private hold(bytes: number): number {
    if (this.rate <= 0) return 0;
    const now = performance.now();
    this.next = Math.max(this.next, now) + (bytes * 1000) / this.rate;
    return this.next - now;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
