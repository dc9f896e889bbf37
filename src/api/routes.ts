// The HTTP API under /api/v1: a route per operation of the registry (ops/registry.ts) with its
// schemas, the session routes, the OpenAPI document. Every route but login and the document
// needs a caller (auth.ts), every operation checks the caller's role (ops/run.ts), every error
// has one shape (errors.ts). Answers are never cached and never sniffed.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../assembly/services.js';
import { AptgateError, fail, isAptgateError } from '../errors.js';
import { inputsInQuery, pathParams, type AnyOperation, type JsonSchema } from '../ops/operation.js';
import { OPERATIONS } from '../ops/registry.js';
import { runOperation } from '../ops/run.js';
import { callerOf, registerCookies, sessionCookie, type Caller } from './auth.js';
import { apiError, registerApiErrors } from './errors.js';
import { registerJsonBodies } from './json-body.js';
import { registerOpenApi } from './openapi.js';
import { registerSessionRoutes } from './session.js';

export const API_PREFIX = '/api/v1';
export const API_BODY_LIMIT = 1024 * 1024;

export interface ApiOptions {
  services: Services;
  /** the listener speaks HTTPS: the session cookie is Secure */
  tls: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiCaller?: Caller;
  }
}

function pick(props: Record<string, JsonSchema>, keys: readonly string[]): Record<string, JsonSchema> {
  return Object.fromEntries(keys.filter((k) => k in props).map((k) => [k, props[k]!]));
}

/** The fastify schema of an operation: path parameters, then the query string or the body. */
export function routeSchema(o: AnyOperation): Record<string, unknown> {
  const params = pathParams(o.path);
  const props = o.input.properties;
  const required = o.input.required ?? [];
  const rest = Object.keys(props).filter((k) => !params.includes(k));
  const restSchema = {
    type: 'object',
    properties: pick(props, rest),
    required: required.filter((k) => rest.includes(k)),
    additionalProperties: false,
  };
  return {
    summary: o.summary,
    description: `Operation \`${o.name}\`; role ${o.role}${o.changes ? '; recorded in the audit log' : ''}.`,
    tags: [o.name.split('.')[0]],
    operationId: o.name,
    ...(params.length
      ? { params: { type: 'object', properties: pick(props, params), required: params, additionalProperties: false } }
      : {}),
    ...(inputsInQuery(o.method) ? { querystring: restSchema } : rest.length ? { body: restSchema } : {}),
    response: { 200: o.output },
  };
}

/** Whether a body is `{}` (a text/plain body is a string: Object.keys of a megabyte of it is a million keys). */
function isEmptyObject(body: unknown): boolean {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  for (const _ in body) return false;
  return true;
}

/** The input as sent (for a refused call's audit entry too: a body that is no object gives none). */
function inputOf(o: AnyOperation, request: FastifyRequest): object {
  const extra = inputsInQuery(o.method) ? request.query : request.body;
  const plain = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});
  return { ...plain(extra), ...plain(request.params) };
}

/**
 * The operation refused with `err` before it runs (its input broke the schema): through
 * runOperation all the same, so the role is checked first (a viewer learns nothing about an
 * admin's operation from its input errors) and a change is in the audit log either way.
 */
function refusedWith(o: AnyOperation, err: AptgateError): AnyOperation {
  return {
    ...o,
    auditArgs: (i: object) => {
      try {
        return o.auditArgs ? o.auditArgs(i) : i;
      } catch {
        return { invalid: true };
      }
    },
    run: () => {
      throw err;
    },
  };
}

/**
 * Which CSRF refusals are recorded: the first of a user, address and action a minute. A page on a
 * sibling host sends the administrator's cookie along: it must not be able to fill the audit log
 * in their name, request by request.
 */
class FirstPerMinute {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  first(key: string): boolean {
    const now = this.now();
    if ((this.until.get(key) ?? 0) > now) return false;
    this.until.delete(key);
    this.until.set(key, now + 60_000);
    if (this.until.size > 10_000) this.until.delete(this.until.keys().next().value!);
    return true;
  }
}

export async function apiRoutes(app: FastifyInstance, opts: ApiOptions): Promise<void> {
  const { services } = opts;
  const csrfNoted = new FirstPerMinute(services.now);
  await app.register(
    async (scope) => {
      await registerCookies(scope);
      registerApiErrors(scope);
      registerJsonBodies(scope);
      await registerOpenApi(scope);
      scope.addHook('onSend', async (_request, reply, payload) => {
        // the server's own time for the answer (bench:api reads it; browsers show it)
        reply.header('Server-Timing', `app;dur=${reply.elapsedTime.toFixed(1)}`);
        reply.header('Cache-Control', 'no-store');
        reply.header('X-Content-Type-Options', 'nosniff');
        reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
        return payload;
      });
      registerSessionRoutes(scope, services, opts.tls);
      for (const o of OPERATIONS) {
        const takesBody = !inputsInQuery(o.method);
        const hasBody = takesBody && Object.keys(o.input.properties).some((k) => !pathParams(o.path).includes(k));
        scope.route({
          method: o.method,
          url: o.path,
          bodyLimit: API_BODY_LIMIT,
          schema: routeSchema(o),
          // schema errors reach the handler: the role comes before them, and refused changes are audited
          attachValidation: true,
          // the caller before the input: without credentials, nothing about the input is told
          preValidation: async (request) => {
            try {
              request.apiCaller = callerOf(services.access, request);
            } catch (err) {
              // a session's change without its CSRF token: someone tried it in that user's name
              const token = o.changes && isAptgateError(err, 'CSRF_REFUSED') ? sessionCookie(request) : undefined;
              const principal = token && services.access.sessionPrincipal(token, request.ip);
              if (principal && csrfNoted.first(`${principal.name}\n${request.ip}\n${o.name}`))
                services.audit.record({
                  principal,
                  action: o.name,
                  args: refusedWith(o, err as AptgateError).auditArgs!(inputOf(o, request)),
                  result: 'CSRF_REFUSED',
                });
              throw err;
            }
            if (takesBody && (request.body === undefined || request.body === null)) request.body = {};
          },
          handler: async (request) => {
            const principal = request.apiCaller!.principal;
            const invalid = request.validationError
              ? apiError(request.validationError)
              : !hasBody && takesBody && !isEmptyObject(request.body)
                ? new AptgateError('USAGE', `${o.method} ${API_PREFIX}${o.path} takes no body`)
                : undefined;
            if (invalid) return runOperation(refusedWith(o, invalid), services, principal, inputOf(o, request));
            return runOperation(o, services, principal, inputOf(o, request));
          },
        });
      }
      // anything else under /api/v1 is the API's 404, not the proxy's (its catch-all route is apt's)
      scope.route({
        method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'],
        url: '/*',
        handler: async (request) => fail('NOT_FOUND', `no API route ${request.method} ${request.url.split('?')[0]}`),
      });
    },
    { prefix: API_PREFIX },
  );
}
