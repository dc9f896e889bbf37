// The proxy's HTTP surface on the shared fastify instance: GET/HEAD of any backend path (in
// both modes), CONNECT, and the operator endpoints /-/health and /-/metrics.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AptgateError } from '../errors.js';
import { NOT_ALLOWED, refusedAccess, type ClientFilter } from './admission.js';
import { handleConnect } from './connect.js';
import { respond } from './respond.js';
import type { ProxyRuntime } from './runtime.js';
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
  const connect = handleConnect(proxy.config, proxy, app.log);
  // CONNECT bypasses fastify (and its onRequest hook): server.allow is checked here
  app.server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    if (allow.allows(client.remoteAddress)) return connect(req, client, head);
    client.on('error', () => client.destroy());
    const body = allow.refusal(client.remoteAddress);
    client.end(
      `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nX-Aptgate-Error: ${NOT_ALLOWED}\r\n\r\n${body}`,
    );
    // as the onRequest refusal (admission.ts): counted and logged, not a client of the proxy
    proxy.metrics.requests.inc({ result: 'refused' });
    app.log.info(refusedAccess(client.remoteAddress, 'CONNECT', req.url), 'access');
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

  // a site cache: its parent's own stage URLs through it as apt's proxy are its /stage/ (site-stages.ts)
  const site = proxy.siteStages;
  const handler = (request: FastifyRequest, reply: FastifyReply) =>
    respond(proxy, request, reply, () => {
      const staged = site?.stagePathOf(request.originalUrl);
      if (site && staged) return site.answer(request.raw, staged, request.ip);
      return proxy.service.handle(request.raw, resolveTarget(request.originalUrl, proxy.backends), request.ip);
    });

  app.route({ method: ['GET', 'HEAD'], url: '/*', handler });
  app.route({ method: ['GET', 'HEAD'], url: ABSOLUTE_FORM_ROUTE, handler });
  app.route({
    method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: '/*',
    handler: (request, reply) =>
      respond(proxy, request, reply, () =>
        Promise.reject(new AptgateError('METHOD_NOT_ALLOWED', `${request.method} is not supported: apt uses GET`)),
      ),
  });
}
