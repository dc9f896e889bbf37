// POST /RPC2 on the aptgate server: XML-RPC faults (HTTP 200) for everything a client can get
// wrong, one log line per call. What a client can make it do before it has proven anything is
// small: the body limit and the decoder's limits depend on the signature headers (protocol/limits.ts),
// the whole body must arrive within a deadline, the signature is checked before the body is
// decoded, an unsigned call of a signed method is refused as soon as its name is read, and the
// decoder and the encoder of the answer work in slices. Answers to a verified request are signed for it
// (protocol/signing.ts).
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AptgateError, fail, isAptgateError } from '../errors.js';
import { nextTurn } from '../sys/time-slice.js';
import { decodeCall, encodeFault, encodeResponseSliced } from '../protocol/codec.js';
import { ANONYMOUS_LIMITS, SIGNED_LIMITS, type RequestLimits } from '../protocol/limits.js';
import type { VerifiedMachine } from '../fleet/auth.js';
import type { VerifiedSite } from '../fleet/sites.js';
import { faultAnswer } from './faults.js';
import type { MethodTable } from './methods.js';
import {
  RESPONSE_SIGNATURE_HEADER,
  responseSignature,
  signatureMatches,
  signedHeaders,
  SITE_HEADER,
  siteResponseSignature,
  siteSignatureMatches,
  siteSignedHeaders,
} from '../protocol/signing.js';

export interface RpcRouteOptions {
  /** limits of a request with signature headers; default SIGNED_LIMITS */
  signed?: RequestLimits;
  /** limits of a request without; default ANONYMOUS_LIMITS */
  anonymous?: RequestLimits;
  /** the whole body must have arrived this long after the headers */
  bodyTimeoutMs: number;
  /**
   * the machine that signed the request (its row, which travels in the call's context); undefined when unsigned; throws
   * an AptgateError (AUTH_FAILED, ...) when the signature is bad. `client`: the address the call came from (recorded as
   * the machine's last address)
   */
  authenticate?: (
    headers: Record<string, string | string[] | undefined>,
    body: string,
    client: string,
  ) => VerifiedMachine | undefined;
  /** a machine's secret, to sign the answers to its verified requests */
  secretOf?: (machine: number) => string | undefined;
  /**
   * the secret of a machine's re-enrolment that waits for approval (its calls are answered MACHINE_PENDING, signed with
   * it)
   */
  waitingSecretOf?: (machine: number) => string | undefined;
  /**
   * the site that signed the request (a site cache's own calls, its header instead of a machine's); throws AUTH_FAILED,
   * REPLAY_REFUSED
   */
  authenticateSite?: (headers: Record<string, string | string[] | undefined>, body: string) => VerifiedSite | undefined;
  /** a site's secret, to sign the answer to a replayed or stale request it signed */
  siteSecretOf?: (site: number) => string | undefined;
}

/** Who an answer is signed for: the machine whose verified request it answers, and that request's nonce. */
interface AnswerKey {
  secret: string;
  machine: string;
  nonce: string;
  /** a site's call (its own label) */
  site?: boolean;
}

function send(reply: FastifyReply, xml: string, key: AnswerKey | undefined): FastifyReply {
  const bytes = Buffer.from(xml, 'utf8');
  if (key)
    reply.header(
      RESPONSE_SIGNATURE_HEADER,
      (key.site ? siteResponseSignature : responseSignature)(key.secret, key.machine, key.nonce, bytes),
    );
  return reply.code(200).type('text/xml; charset=utf-8').send(bytes);
}

function sendFault(
  reply: FastifyReply,
  fault: { faultCode: number; faultString: string },
  key?: AnswerKey,
): FastifyReply {
  return send(reply, encodeFault(fault.faultCode, fault.faultString), key);
}

/**
 * Bytes all bodies with signature headers may hold together while they arrive: until the body
 * is read, its signature cannot be checked, so anyone can send such headers (any machine
 * number) and the signed body limit; many at once must not exhaust the server's memory.
 */
export const SIGNED_BODIES_BUDGET = 64 * 1024 * 1024;
let signedBodiesBytes = 0;

/**
 * The body as bytes, or a fault: larger than `limit` (by Content-Length before anything is
 * read, or while reading), or not complete within `timeoutMs`.
 */
export function readBody(req: IncomingMessage, limit: number, signed: boolean, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      new AptgateError(
        'RPC_INVALID_REQUEST',
        `request body larger than ${limit} bytes${signed ? '' : ' (the limit of a request without signature headers)'}`,
      );
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    let held = 0;
    const finish = (err: Error | undefined) => {
      clearTimeout(timer);
      signedBodiesBytes -= held;
      held = 0;
      req.off('data', onData).off('end', onEnd).off('error', finish).off('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return finish(tooLarge());
      if (signed && size > ANONYMOUS_LIMITS.bodyBytes) {
        if (signedBodiesBytes + c.length > SIGNED_BODIES_BUDGET) {
          return finish(
            new AptgateError(
              'RPC_INVALID_REQUEST',
              `the server is receiving too many large signed bodies at once (${SIGNED_BODIES_BUDGET} bytes together): try again later`,
            ),
          );
        }
        signedBodiesBytes += c.length;
        held += c.length;
      }
      chunks.push(c);
    };
    const onEnd = () => finish(undefined);
    const onClose = () => finish(new Error('the client went away before the body was complete'));
    const timer = setTimeout(
      () => finish(new AptgateError('RPC_INVALID_REQUEST', `request body not complete within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    req.on('data', onData).on('end', onEnd).on('error', finish).on('close', onClose);
    req.resume();
  });
}

export function registerRpcRoutes(app: FastifyInstance, table: MethodTable, opts: RpcRouteOptions): void {
  const signedLimits = opts.signed ?? SIGNED_LIMITS;
  const anonymousLimits = opts.anonymous ?? ANONYMOUS_LIMITS;
  void app.register(async (scope) => {
    // XML-RPC clients send text/xml; whatever else arrives is read the same way and rejected
    // by the decoder, so a client always gets a fault it can show
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage) => {
      const signed = signedHeaders(request.headers) !== undefined;
      return readBody(payload, (signed ? signedLimits : anonymousLimits).bodyBytes, signed, opts.bodyTimeoutMs);
    });
    scope.setErrorHandler((err: Error & { code?: string; statusCode?: number }, request, reply) => {
      // the body's faults (fastify closes the connection after them: the client may still be sending)
      const fault = faultAnswer(err);
      if (fault.internal) request.log.error({ err: err.message }, 'rpc request failed');
      else request.log.info({ client: request.ip, rpc: '-', fault: fault.faultCode }, 'rpc');
      return sendFault(reply, fault);
    });
    scope.post('/RPC2', async (request, reply) => {
      const started = performance.now();
      let method = '-';
      let machine: number | undefined;
      let verified: VerifiedMachine | undefined;
      let site: VerifiedSite | undefined;
      let key: AnswerKey | undefined;
      const siteCall = request.headers[SITE_HEADER] !== undefined;
      const headers = siteCall ? siteSignedHeaders(request.headers) : signedHeaders(request.headers);
      try {
        const raw = Buffer.isBuffer(request.body) ? request.body : undefined;
        // a body of megabytes: reading it as text and hashing it are steps of their own
        const large = raw !== undefined && raw.length > 1024 * 1024;
        const body = raw ? raw.toString('utf8') : '';
        if (large) await nextTurn();
        try {
          if (siteCall) {
            if (!opts.authenticateSite) fail('AUTH_FAILED', 'this server takes no site calls');
            site = opts.authenticateSite(request.headers, body);
          } else {
            verified = opts.authenticate?.(request.headers, body, request.ip);
            machine = verified?.id;
          }
        } catch (err) {
          if (siteCall && isAptgateError(err, 'REPLAY_REFUSED') && headers) {
            const secret = opts.siteSecretOf?.(Number(headers.machine));
            if (secret && siteSignatureMatches(secret, headers, body))
              key = { secret, machine: headers.machine, nonce: headers.nonce, site: true };
            throw err;
          }
          // the timestamp is checked only once the signature matched (fleet/auth.ts): a stale
          // or replayed request is the machine's own, and it may trust this answer
          // (MACHINE_PENDING here: a waiting re-enrolment's credential signed it); the answer is
          // signed with whichever credential signed the request, never another
          if ((isAptgateError(err, 'REPLAY_REFUSED') || isAptgateError(err, 'MACHINE_PENDING')) && headers) {
            const id = Number(headers.machine);
            const secret = [opts.secretOf?.(id), opts.waitingSecretOf?.(id)].find(
              (x) => x !== undefined && signatureMatches(x, headers, body),
            );
            if (secret) key = { secret, machine: headers.machine, nonce: headers.nonce };
          }
          throw err;
        }
        // signed with the secret the request's signature was checked with
        if (verified && headers) key = { secret: verified.secret, machine: String(verified.id), nonce: headers.nonce };
        if (site && headers) key = { secret: site.secret, machine: String(site.id), nonce: headers.nonce, site: true };
        if (large) await nextTurn();
        const signed = machine !== undefined;
        const call = await decodeCall(body, {
          limits: signed ? signedLimits : anonymousLimits,
          // before any parameter is decoded: no such method, or a signed one called unsigned
          onMethod: (name) => {
            method = name;
            table.admit(name, signed, site !== undefined);
          },
        });
        method = call.method;
        const result = await table.call(call.method, call.params, {
          client: request.ip,
          ...(request.headers.host ? { host: request.headers.host } : {}),
          ...(verified ? { machine: verified.id, verified } : {}),
          ...(site ? { site } : {}),
        });
        const xml = await encodeResponseSliced(result);
        request.log.info(
          { client: request.ip, machine, rpc: method, ms: Math.round(performance.now() - started) },
          'rpc',
        );
        return send(reply, xml, key);
      } catch (err) {
        const fault = faultAnswer(err);
        if (fault.internal)
          request.log.error({ client: request.ip, rpc: method, err: (err as Error).message }, 'rpc method failed');
        request.log.info(
          {
            client: request.ip,
            machine,
            rpc: method.slice(0, 100),
            fault: fault.faultCode,
            ms: Math.round(performance.now() - started),
          },
          'rpc',
        );
        return sendFault(reply, fault, key);
      }
    });
  });
}
