// CONNECT: refused (this is not an open proxy) unless host:port is on the passthrough
// list; allowed tunnels are spliced byte for byte and never cached.
import { connect as netConnect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { recordAccess, type AccessDeps } from './respond.js';

export function handleConnect(config: Config, access: AccessDeps, log: Logger) {
  return (req: IncomingMessage, client: Duplex, head: Buffer): void => {
    const started = Date.now();
    const target = (req.url ?? '').toLowerCase();
    const remote = (client as Socket).remoteAddress;
    client.on('error', () => client.destroy());
    if (!config.proxy.passthrough.includes(target)) {
      const body = `403 CONNECT_REFUSED: aptgate tunnels only ${config.proxy.passthrough.join(', ') || 'nothing'} (proxy.passthrough); use http:// sources so packages are cached and verified\n`;
      client.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nX-Aptgate-Error: CONNECT_REFUSED\r\n\r\n${body}`,
      );
      recordAccess(access, log, {
        client: remote,
        method: 'CONNECT',
        path: target,
        result: 'refused',
        status: 403,
        bytes: 0,
        ms: Date.now() - started,
      });
      return;
    }
    const colon = target.lastIndexOf(':');
    const upstream = netConnect({
      host: target.slice(0, colon),
      port: Number(target.slice(colon + 1)),
      timeout: config.proxy.connectTimeoutMs,
    });
    let bytes = 0;
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const fail = (why: string) => {
      if (!client.destroyed && bytes === 0)
        client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      upstream.destroy();
      log.warn({ target, err: why }, 'tunnel failed');
    };
    upstream.once('timeout', () => fail('connect timeout'));
    upstream.once('error', (e) => fail(e.message));
    client.once('close', () => {
      upstream.destroy();
      recordAccess(access, log, {
        client: remote,
        method: 'CONNECT',
        path: target,
        result: 'pass',
        status: 200,
        bytes,
        ms: Date.now() - started,
      });
    });
  };
}
