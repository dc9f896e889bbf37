// One error shape for every answer of /api/v1: `{ error: { code, message, details? } }` with the
// status of the code (errors.ts). Schema violations are USAGE naming the field, a body beyond the
// limit BODY_TOO_LARGE, anything unexpected INTERNAL (logged here, never described to the client).
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { AptgateError, errorCodes, type ErrorCode } from '../errors.js';

export interface ApiErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

export function sendError(reply: FastifyReply, err: AptgateError): FastifyReply {
  const body: ApiErrorBody = {
    error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
  };
  const retry = err.details?.retryAfter;
  if (typeof retry === 'number') reply.header('Retry-After', String(Math.max(1, Math.ceil(retry))));
  return reply.code(errorCodes[err.code]).type('application/json; charset=utf-8').send(body);
}

/** The API's error for whatever a handler, a hook or fastify itself threw. */
export function apiError(err: unknown): AptgateError {
  if (err instanceof AptgateError) return err;
  const f = err as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (f.validation) {
    const where = f.validationContext === 'querystring' ? 'query' : (f.validationContext ?? 'request');
    return new AptgateError(
      'USAGE',
      `${where}: ${String(f.message ?? 'invalid').replace(/^(body|querystring|params)\/?/, '')}`,
    );
  }
  if (f.statusCode === 413) return new AptgateError('BODY_TOO_LARGE', 'the request body is larger than the API takes');
  if (f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || f.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH')
    return new AptgateError('BAD_REQUEST', 'send the body as application/json');
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500)
    return new AptgateError('BAD_REQUEST', String(f.message ?? 'bad request').slice(0, 200));
  return new AptgateError('INTERNAL', 'the server failed to answer this request (its log has the details)');
}

export function registerApiErrors(scope: FastifyInstance): void {
  scope.setErrorHandler((err, request, reply) => {
    const e = apiError(err);
    if (e.code === 'INTERNAL') request.log.error({ err, url: request.url }, 'API request failed');
    return sendError(reply, e);
  });
  scope.setNotFoundHandler((request, reply) =>
    sendError(reply, new AptgateError('NOT_FOUND', `no API route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
