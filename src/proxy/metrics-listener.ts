// server.metrics_listen: /-/metrics on a listener of its own (e.g. 127.0.0.1:9142 for a local
// Prometheus), so the main port need not expose it. Plain HTTP, GET and HEAD of /-/metrics
// only; server.allow applies here too.
import http from 'node:http';
import type { Logger } from '../log.js';
import { NOT_ALLOWED, type ClientFilter } from './admission.js';

export function createMetricsServer(render: () => string, filter: ClientFilter, log: Logger): http.Server {
  const server = http.createServer((req, res) => {
    const client = req.socket.remoteAddress;
    let status: number;
    let body: string;
    let type = 'text/plain; charset=utf-8';
    if (!filter.allows(client)) {
      status = 403;
      body = filter.refusal(client);
      res.setHeader('X-Aptgate-Error', NOT_ALLOWED);
      res.setHeader('Connection', 'close');
    } else if ((req.url ?? '').split('?')[0] !== '/-/metrics') {
      status = 404;
      body = '404 NOT_FOUND: this listener (server.metrics_listen) serves /-/metrics only\n';
      res.setHeader('X-Aptgate-Error', 'NOT_FOUND');
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      status = 405;
      body = `405 METHOD_NOT_ALLOWED: ${req.method} is not supported: use GET\n`;
      res.setHeader('X-Aptgate-Error', 'METHOD_NOT_ALLOWED');
    } else {
      status = 200;
      body = render();
      type = 'text/plain; version=0.0.4; charset=utf-8';
    }
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(req.method === 'HEAD' ? undefined : body);
    // scrapes are not logged (as on the main port); what was refused is
    if (status !== 200)
      log.info(
        {
          client,
          method: req.method,
          path: req.url,
          result: status === 404 ? 'not_found' : 'refused',
          status,
          bytes: 0,
          ms: 0,
          ...(status === 403 ? { reason: 'not in server.allow' } : {}),
        },
        'access',
      );
  });
  // as on the main port: no slow client keeps a socket for long
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  return server;
}
