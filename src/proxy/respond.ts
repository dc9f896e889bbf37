// The proxy's edge for one request: what the domain decided is served (serve.ts), or its error,
// and the request is recorded once — one access line, aptgate_requests_total and the client's
// counts (`aptgate clients`), all with the same result. Every proxy route (backend paths, stage
// repositories, the 405 for other methods) and CONNECT record through here.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAptgateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Answer, Outcome } from './answer.js';
import type { ClientTracker } from './clients.js';
import type { ProxyMetrics } from './metrics.js';
import { reasonPhrase } from './reason.js';
import { serveAnswer, serveError } from './serve.js';

/**
 * The result of a request: how its answer was got (Outcome), `not_modified` (a 304 from what
 * aptgate holds), or for an error answer `not_found` (404), `refused` (any other 4xx: the
 * request is one aptgate does not serve) or `error` (5xx).
 */
export type Result = Outcome | 'not_modified' | 'refused' | 'not_found' | 'error';

export function answerResult(answer: Answer, status: number): Result {
  return answer.kind === 'representation' && status === 304 ? 'not_modified' : answer.outcome;
}

export function errorResult(status: number): Result {
  return status === 404 ? 'not_found' : status < 500 ? 'refused' : 'error';
}

export function errorStatus(err: unknown): {
  status: number;
  code: string;
  message: string;
  reason: string | undefined;
} {
  if (isAptgateError(err))
    return { status: err.status, code: err.code, message: err.message, reason: reasonPhrase(err, err.status) };
  return { status: 500, code: 'INTERNAL', message: (err as Error).message, reason: undefined };
}

export interface AccessLine {
  client: string | undefined;
  method: string | undefined;
  path: string | undefined;
  result: Result;
  status: number;
  bytes: number;
  ms: number;
  reason?: string;
}

export interface AccessDeps {
  metrics: ProxyMetrics;
  clients: ClientTracker;
}

/** Records one request: the access line, the requests metric and the client's counts. */
export function recordAccess(deps: AccessDeps, log: Logger, line: AccessLine): void {
  deps.metrics.requests.inc({ result: line.result });
  deps.clients.note(line.client, line.result, line.bytes);
  log.info(line, 'access');
}

/**
 * Answers a request with what `decide` returns (it writes nothing itself), or with the error
 * it throws, then records it once the response is over.
 */
export async function respond(
  deps: AccessDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  decide: () => Promise<Answer>,
): Promise<void> {
  reply.hijack();
  const req = request.raw;
  const res = reply.raw;
  const started = performance.now();
  let status: number;
  let result: Result;
  let bytes = 0;
  try {
    const answer = await decide();
    const served = serveAnswer(req, res, answer);
    status = served.status;
    result = answerResult(answer, status);
    bytes = await served.bytes;
  } catch (err) {
    const e = errorStatus(err);
    serveError(req, res, e.status, e.code, e.message, e.reason);
    status = e.status;
    result = errorResult(e.status);
    if (e.status >= 500)
      request.log.warn({ code: e.code, err: e.message, path: request.originalUrl }, 'request failed');
  }
  recordAccess(deps, request.log, {
    client: request.ip,
    method: req.method,
    path: request.originalUrl,
    result,
    status,
    bytes,
    ms: Math.round(performance.now() - started),
  });
}
