// /stage/<stage>/<backend>/...: each stage of the release gate as its own signed repository.
// Its dists/ files are the stage's published files; a pool file is served (from the shared
// cache, verified like any other) only when that stage's Packages name it, else 404.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { AptgateError } from '../errors.js';
import type { ProxyRuntime } from './runtime.js';
import { serveError, serveRepresentation } from './serve.js';
import { errorStatus } from './service.js';
import { decodePath } from './target.js';

/** What the gate lends the proxy: its published files and the pool files each stage names. */
export interface StageFiles {
  indexFile(stage: string, backend: string, suite: string, rel: string): Promise<string | undefined>;
  allowsPool(stage: string, backend: string, filename: string): Promise<boolean>;
}

const STAGE_RE = /^\/stage\/([a-z0-9][a-z0-9_-]{0,31})\/([^/]+)\/(.*)$/;

function contentType(rel: string): string {
  if (rel.endsWith('.gz')) return 'application/gzip';
  if (rel.endsWith('.gpg')) return 'application/pgp-signature';
  return 'text/plain; charset=utf-8';
}

export function registerStageRoutes(app: FastifyInstance, proxy: ProxyRuntime, files: StageFiles): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/stage/*',
    handler: async (request, reply) => {
      reply.hijack();
      const req = request.raw;
      const res = reply.raw;
      const started = performance.now();
      let status = 200;
      let result = 'stage';
      let bytes = 0;
      try {
        const m = STAGE_RE.exec(request.originalUrl.split('?')[0]!);
        if (!m) throw new AptgateError('NOT_FOUND', 'expected /stage/<stage>/<backend>/...');
        const [, stage, backendName, raw] = m as unknown as [string, string, string, string];
        const backend = proxy.backends.byName(backendName);
        if (!backend) throw new AptgateError('NOT_A_BACKEND', `"${backendName.slice(0, 60)}" is not a backend`);
        const rest = decodePath(raw);
        const dists = /^dists\/([^/]+)\/(.+)$/.exec(rest);
        if (dists) {
          const file = await files.indexFile(stage, backend.name, dists[1]!, dists[2]!);
          const st = file ? await stat(file).catch(() => undefined) : undefined;
          if (!file || !st?.isFile()) throw new AptgateError('NOT_FOUND', `stage ${stage} publishes no ${backend.name}/dists/${dists[1]}/${dists[2]}`);
          const served = serveRepresentation(req, res, {
            size: st.size, lastModified: st.mtime, contentType: contentType(dists[2]!),
            open: (s, e) => createReadStream(file, { start: s, ...(e === undefined ? {} : { end: e }) }),
          }, { 'X-Aptgate-Stage': stage });
          status = served.status;
          bytes = await served.bytes;
        } else if (rest.startsWith('pool/')) {
          if (!(await files.allowsPool(stage, backend.name, rest))) throw new AptgateError('NOT_FOUND', `stage ${stage} does not offer ${rest}`);
          const handled = await proxy.service.handle(req, res, { backend, path: rest, mode: 'remap', key: `${backend.name}/${rest}` }, request.ip);
          status = handled.status;
          result = `stage-${handled.outcome}`;
          bytes = await handled.bytes;
        } else {
          throw new AptgateError('NOT_FOUND', `stage ${stage}: only dists/ and pool/ exist`);
        }
      } catch (err) {
        const e = errorStatus(err);
        serveError(req, res, e.status, e.code, e.message, e.reason);
        status = e.status;
        result = e.status === 404 ? 'not_found' : e.status < 500 ? 'refused' : 'error';
      }
      proxy.metrics.requests.inc({ result: status < 400 ? 'hit' : status === 404 ? 'not_found' : status < 500 ? 'refused' : 'error' });
      proxy.clients.note(request.ip, result, bytes);
      request.log.info({ client: request.ip, method: req.method, path: request.originalUrl, result, status, bytes, ms: Math.round(performance.now() - started) }, 'access');
    },
  });
}
