// POST /RPC2 at a site cache (issue 18): relayed to the parent's /RPC2 unchanged, for agents that
// cannot reach the central server. The signatures are end to end: the body and the headers they
// cover (machine or site, timestamp, nonce, signature) go through as they are, and so does the
// answer's signature; the site vouches for nothing. The body is held to the limits of the /RPC2
// route (signed or not) and must arrive within the same deadline; the client's Host goes along,
// so the central server hands out stage sources at the address the agent reached.
import http from 'node:http';
import https from 'node:https';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { ANONYMOUS_LIMITS, SIGNED_LIMITS } from '../protocol/limits.js';
import { RESPONSE_SIGNATURE_HEADER, SIGNATURE_HEADERS, signedHeaders, SITE_HEADER } from '../protocol/signing.js';
import { readBody } from './routes.js';

export interface RelayOptions {
  /** the parent's base URL */
  parent: string;
  bodyTimeoutMs: number;
  /** how long the parent may take to answer */
  answerTimeoutMs?: number;
}

/** The headers the parent needs: the signature's, the body's type and the client's Host. */
const PASSED = ['content-type', 'host', SITE_HEADER, ...Object.values(SIGNATURE_HEADERS)];

/** The largest answer relayed back (an agent's outdated lists can be large; a signed body's limit). */
const ANSWER_LIMIT = SIGNED_LIMITS.bodyBytes * 2;

export function registerRpcRelay(app: FastifyInstance, o: RelayOptions): void {
  const target = new URL('/RPC2', o.parent);
  const lib = target.protocol === 'https:' ? https : http;
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage) => {
      const signed = signedHeaders(request.headers) !== undefined || request.headers[SITE_HEADER] !== undefined;
      return readBody(payload, (signed ? SIGNED_LIMITS : ANONYMOUS_LIMITS).bodyBytes, signed, o.bodyTimeoutMs);
    });
    scope.setErrorHandler((err: Error, request, reply) => {
      request.log.info({ client: request.ip, err: err.message }, 'rpc relay refused');
      return reply.code(400).type('text/plain').send(`${err.message}\n`);
    });
    scope.post('/RPC2', async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const headers: Record<string, string> = { 'content-length': String(body.length) };
      for (const h of PASSED) {
        const v = request.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      try {
        const answer = await new Promise<{ status: number; type: string; signature?: string; bytes: Buffer }>(
          (resolve, reject) => {
            const req = lib.request(
              target,
              { method: 'POST', headers, timeout: o.answerTimeoutMs ?? 120_000 },
              (res) => {
                const chunks: Buffer[] = [];
                let size = 0;
                res.on('data', (c: Buffer) => {
                  size += c.length;
                  if (size > ANSWER_LIMIT) req.destroy(new Error(`the parent's answer exceeds ${ANSWER_LIMIT} bytes`));
                  else chunks.push(c);
                });
                res.on('end', () => {
                  const sig = res.headers[RESPONSE_SIGNATURE_HEADER];
                  resolve({
                    status: res.statusCode ?? 502,
                    type: res.headers['content-type'] ?? 'text/xml; charset=utf-8',
                    ...(typeof sig === 'string' ? { signature: sig } : {}),
                    bytes: Buffer.concat(chunks),
                  });
                });
                res.on('error', reject);
              },
            );
            req.on('timeout', () => req.destroy(new Error('the parent did not answer in time')));
            req.on('error', reject);
            req.end(body);
          },
        );
        if (answer.signature !== undefined) reply.header(RESPONSE_SIGNATURE_HEADER, answer.signature);
        return reply.code(answer.status).type(answer.type).send(answer.bytes);
      } catch (err) {
        request.log.warn({ client: request.ip, parent: o.parent, err: (err as Error).message }, 'rpc relay failed');
        return reply
          .code(502)
          .type('text/plain')
          .send(`the parent ${o.parent} could not be reached: ${(err as Error).message}\n`);
      }
    });
  });
}
