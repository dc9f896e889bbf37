// The stage repositories' HTTP surface: GET/HEAD /stage/<stage>/<backend>/..., answered as
// stage.ts decides and recorded like every proxy request (respond.ts).
import type { FastifyInstance } from 'fastify';
import { respond } from './respond.js';
import type { ProxyRuntime } from './runtime.js';
import { stageAnswer, type StageFiles } from './stage.js';

export type { StageFiles } from './stage.js';

export function registerStageRoutes(app: FastifyInstance, proxy: ProxyRuntime, files: StageFiles): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/stage/*',
    handler: (request, reply) =>
      respond(proxy, request, reply, () => stageAnswer(proxy, files, request.raw, request.originalUrl, request.ip)),
  });
}
