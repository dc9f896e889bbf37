// The stage repositories' HTTP surface: GET/HEAD /stage/<stage>/<backend>/..., answered as
// stage.ts decides (the gate's own stages) or, at a site cache, as site-stages.ts does (its
// parent's), and recorded like every proxy request (respond.ts).
import type { FastifyInstance } from 'fastify';
import { respond } from './respond.js';
import type { ProxyRuntime } from './runtime.js';
import { stageAnswer, type StageFiles } from './stage.js';

export type { StageFiles } from './stage.js';

export function registerStageRoutes(app: FastifyInstance, proxy: ProxyRuntime, files: StageFiles): void {
  const site = proxy.siteStages;
  app.route({
    method: ['GET', 'HEAD'],
    url: '/stage/*',
    handler: (request, reply) =>
      respond(proxy, request, reply, () =>
        site
          ? site.answer(request.raw, request.originalUrl, request.ip)
          : stageAnswer(proxy, files, request.raw, request.originalUrl, request.ip),
      ),
  });
}
