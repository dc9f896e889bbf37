// The OpenAPI document of /api/v1, made by @fastify/swagger (its only user) from the schemas the
// routes declare, served at /api/v1/openapi.json. It is public, like docs/api.md: it describes
// the routes, never data, and tools read it before they hold a token.
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../version.js';

export async function registerOpenApi(scope: FastifyInstance): Promise<void> {
  await scope.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'aptgate API',
        version: VERSION,
        description:
          'The administration API of aptgate (docs/api.md). Authenticate with `Authorization: Bearer agt_api_…` ' +
          '(an API token) or a browser session (POST /session; changes carry X-Aptgate-CSRF). Errors: ' +
          '`{ error: { code, message, details? } }` with the status of the code (docs/errors.md).',
      },
      servers: [{ url: '/api/v1' }],
      components: {
        securitySchemes: {
          token: { type: 'http', scheme: 'bearer', description: 'an API token (aptgate api-tokens create)' },
          session: { type: 'apiKey', in: 'cookie', name: 'aptgate_session' },
        },
      },
      security: [{ token: [] }, { session: [] }],
    },
    // paths relative to the server URL above
    transform: ({ schema, url }) => ({ schema, url: url.replace(/^\/api\/v1/, '') || '/' }),
  });
  scope.get('/openapi.json', { schema: { hide: true } }, async () => scope.swagger());
}
