// The proxy's HTTP surface on the shared fastify instance: GET/HEAD of any backend path (in
// both modes), CONNECT, and the operator endpoints /-/health and /-/metrics.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NOT_ALLOWED, type ClientFilter } from './admission.js';
import { handleConnect } from './connect.js';
import type { ProxyRuntime } from './runtime.js';
import { serveError } from './serve.js';
import { errorStatus, type Handled } from './service.js';
import { resolveTarget } from './target.js';

/** fastify routes origin-form URLs only; absolute-form (proxy mode) requests go to this path. */
export const ABSOLUTE_FORM_ROUTE = '/-/absolute-form';

export function rewriteAbsoluteForm(url: string): string {
  return url.startsWith('/') ? url : ABSOLUTE_FORM_ROUTE;
}

const ROOT_PAGE = (port: string) => `aptgate: apt caching proxy

Proxy mode (every http source):
  echo 'Acquire::http::Proxy "http://THIS-HOST:${port}/";' > /etc/apt/apt.conf.d/01aptgate

Remap mode (per source): URIs: http://THIS-HOST:${port}/<backend>
  e.g. deb http://THIS-HOST:${port}/debian bookworm main

Health: /-/health   Metrics: /-/metrics
`;

const METRICS_ELSEWHERE = '404 NOT_FOUND: /-/metrics is served on server.metrics_listen, not on this port\n';

export function registerProxyRoutes(app: FastifyInstance, proxy: ProxyRuntime, allow: ClientFilter): void {
  const connect = handleConnect(proxy.config, proxy.metrics, app.log, proxy.clients);
  // CONNECT bypasses fastify (and its onRequest hook): server.allow is checked here
  app.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (allow.allows(client.remoteAddress)) return connect(req, client, head);
    client.on('error', () => client.destroy());
    const body = allow.refusal(client.remoteAddress);
    client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nX-Aptgate-Error: ${NOT_ALLOWED}\r\n\r\n${body}`);
    proxy.metrics.requests.inc({ result: 'refused' });
    app.log.info({ client: client.remoteAddress, method: 'CONNECT', path: req.url, result: 'refused', status: 403, bytes: 0, ms: 0, reason: 'not in server.allow' }, 'access');
  });

  app.get('/-/health', async () => proxy.health());
  app.get('/-/metrics', async (_req, reply) => {
    if (proxy.config.metricsListen) {
      reply.code(404).header('Content-Type', 'text/plain; charset=utf-8').header('X-Aptgate-Error', 'NOT_FOUND');
      return METRICS_ELSEWHERE;
    }
    reply.header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    return proxy.registry.render();
  });
  app.get('/', async (req, reply) => {
    reply.header('Content-Type', 'text/plain; charset=utf-8');
    return ROOT_PAGE(String(req.socket.localPort ?? proxy.config.port));
  });

  const handler = async (request: FastifyRequest, reply: import('fastify').FastifyReply) => {
    reply.hijack();
    const req = request.raw;
    const res = reply.raw;
    const started = performance.now();
    const url = request.originalUrl;
    let handled: Handled | undefined;
    let status: number;
    let result: string;
    try {
      const target = resolveTarget(url, proxy.backends);
      handled = await proxy.service.handle(req, res, target, request.ip);
      status = handled.status;
      result = handled.outcome;
    } catch (err) {
      const e = errorStatus(err);
      serveError(req, res, e.status, e.code, e.message, e.reason);
      status = e.status;
      result = e.status === 400 || e.status === 403 ? 'refused' : e.status === 404 ? 'not_found' : 'error';
      if (e.status >= 500) request.log.warn({ code: e.code, err: e.message, path: url }, 'request failed');
    }
    const bytes = handled ? await handled.bytes : 0;
    proxy.metrics.requests.inc({ result });
    proxy.clients.note(request.ip, result, bytes);
    request.log.info({ client: request.ip, method: req.method, path: url, result, status, bytes, ms: Math.round(performance.now() - started) }, 'access');
  };

  app.route({ method: ['GET', 'HEAD'], url: '/*', handler });
  app.route({ method: ['GET', 'HEAD'], url: ABSOLUTE_FORM_ROUTE, handler });
  app.route({
    method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: '/*',
    handler: async (request, reply) => {
      reply.hijack();
      serveError(request.raw, reply.raw, 405, 'METHOD_NOT_ALLOWED', `${request.method} is not supported: apt uses GET`);
      proxy.metrics.requests.inc({ result: 'refused' });
      proxy.clients.note(request.ip, 'refused', 0);
      request.log.info({ client: request.ip, method: request.method, path: request.originalUrl, result: 'refused', status: 405, bytes: 0, ms: 0 }, 'access');
    },
  });
}
