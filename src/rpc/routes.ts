// POST /RPC2 on the aptgate server: a body limit, XML-RPC faults (HTTP 200) for everything a
// client can get wrong, one log line per call.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { decodeCall, encodeFault, encodeResponse } from './codec.js';
import type { MethodTable } from './methods.js';
import { faultCodes, RpcFault } from './protocol.js';

export interface RpcRouteOptions {
  /** largest accepted request body in bytes */
  bodyLimit: number;
  /** the machine that signed the request; undefined when unsigned; throws RpcFault when the signature is bad */
  authenticate?: (headers: Record<string, string | string[] | undefined>, body: string) => number | undefined;
}

function sendFault(reply: FastifyReply, code: number, message: string): FastifyReply {
  return reply.code(200).type('text/xml; charset=utf-8').send(encodeFault(code, message));
}

export function registerRpcRoutes(app: FastifyInstance, table: MethodTable, opts: RpcRouteOptions): void {
  void app.register(async (scope) => {
    // XML-RPC clients send text/xml; whatever else arrives is read the same way and rejected
    // by the decoder, so a client always gets a fault it can show
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));
    scope.setErrorHandler((err: Error & { code?: string; statusCode?: number }, request, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendFault(reply, faultCodes.INVALID_REQUEST, `request body larger than ${opts.bodyLimit} bytes`);
      request.log.error({ err: err.message }, 'rpc request failed');
      return sendFault(reply, faultCodes.INTERNAL_ERROR, 'internal error');
    });
    scope.post('/RPC2', { bodyLimit: opts.bodyLimit }, async (request, reply) => {
      const started = performance.now();
      let method = '-';
      let machine: number | undefined;
      try {
        const body = typeof request.body === 'string' ? request.body : '';
        machine = opts.authenticate?.(request.headers, body);
        const call = await decodeCall(body);
        method = call.method;
        const result = await table.call(call.method, call.params, { client: request.ip, ...(request.headers.host ? { host: request.headers.host } : {}), ...(machine !== undefined ? { machine } : {}) });
        const xml = encodeResponse(result);
        request.log.info({ client: request.ip, machine, rpc: method, ms: Math.round(performance.now() - started) }, 'rpc');
        return reply.code(200).type('text/xml; charset=utf-8').send(xml);
      } catch (err) {
        const fault = err instanceof RpcFault ? err : undefined;
        if (!fault) request.log.error({ client: request.ip, rpc: method, err: (err as Error).message }, 'rpc method failed');
        request.log.info({ client: request.ip, machine, rpc: method.slice(0, 100), fault: fault?.faultCode ?? faultCodes.INTERNAL_ERROR, ms: Math.round(performance.now() - started) }, 'rpc');
        return sendFault(reply, fault?.faultCode ?? faultCodes.INTERNAL_ERROR, fault?.message ?? 'internal error');
      }
    });
  });
}
