// POST /RPC2 at a site cache (issue 18): relayed to the parent's /RPC2 unchanged, for agents that
// cannot reach the central server. The signatures are end to end: the body and the headers they
// cover (machine or site, timestamp, nonce, signature) go through as they are, and so does the
// answer's signature; the site vouches for nothing. The body is held to the limits of the /RPC2
// route (signed or not) and must arrive within the same deadline; the client's Host goes along,
// so the central server hands out stage sources at the address the agent reached.
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
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

/**
 * Relays a call has passed through: a site whose parent leads back to itself (a parent URL
 * naming the site, a name or a forward pointing back, two sites each other's parent) relayed
 * each call to itself without end. A chain of sites is a few relays deep.
 */
export const RELAY_HOPS_HEADER = 'x-aptgate-relayed';
const MAX_HOPS = 8;

/**
 * The relayed answer is the parent's bytes served from the site's own origin (where its console
 * may be): whatever the parent (or anyone between) says, it is XML-RPC's type, never sniffed,
 * and a browser runs nothing in it.
 */
const ANSWER_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
};

/** The largest answer relayed back (an agent's outdated lists can be large; a signed body's limit). */
const ANSWER_LIMIT = SIGNED_LIMITS.bodyBytes * 2;

const servername = (u: URL): string => (isIP(u.hostname.replace(/^\[|\]$/g, '')) ? '' : u.hostname);

export function registerRpcRelay(app: FastifyInstance, o: RelayOptions): void {
  const target = new URL('/RPC2', o.parent);
  const lib = target.protocol === 'https:' ? https : http;
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage) => {
      // the parent's own rule (rpc/routes.ts): only a machine's signature headers open the larger body;
      // a site's calls are small, and a bogus site header must not carry 8 MiB over the parent link
      const signed = signedHeaders(request.headers) !== undefined;
      return readBody(payload, (signed ? SIGNED_LIMITS : ANONYMOUS_LIMITS).bodyBytes, signed, o.bodyTimeoutMs);
    });
    scope.setErrorHandler((err: Error, request, reply) => {
      request.log.info({ client: request.ip, err: err.message }, 'rpc relay refused');
      return reply.code(400).type('text/plain').send(`${err.message}\n`);
    });
    scope.post('/RPC2', async (request, reply) => {
      const hops = Number(request.headers[RELAY_HOPS_HEADER] ?? 0);
      if (!(Number.isInteger(hops) && hops >= 0 && hops < MAX_HOPS)) {
        request.log.warn({ client: request.ip, parent: o.parent, hops }, 'rpc relay loop');
        return reply
          .code(508)
          .type('text/plain')
          .send(
            `relayed ${String(hops).slice(0, 20)} times already: a loop of relays ([site] parent leads back here?)\n`,
          );
      }
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const headers: Record<string, string> = {
        'content-length': String(body.length),
        [RELAY_HOPS_HEADER]: String(hops + 1),
      };
      for (const h of PASSED) {
        const v = request.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      try {
        const answer = await new Promise<{ status: number; signature?: string; bytes: Buffer }>((resolve, reject) => {
          const req = lib.request(
            target,
            {
              method: 'POST',
              headers,
              timeout: o.answerTimeoutMs ?? 120_000,
              // TLS checks the parent's certificate against the parent's name: node takes the
              // name from the Host header otherwise, and that one is the client's ('' for an
              // address: no SNI, the certificate checked against the address)
              ...(target.protocol === 'https:' ? { servername: servername(target) } : {}),
            },
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
        });
        if (answer.signature !== undefined) reply.header(RESPONSE_SIGNATURE_HEADER, answer.signature);
        // XML-RPC answers 200 (its faults inside) or an HTTP error; anything else is not the parent's
        const status = answer.status >= 200 && answer.status <= 599 ? answer.status : 502;
        return reply.code(status).headers(ANSWER_HEADERS).type('text/xml; charset=utf-8').send(answer.bytes);
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
