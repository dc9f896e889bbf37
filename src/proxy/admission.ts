// server.allow: which client networks may use the server at all. Checked for every request on
// every listener before anything else runs (no routing, no body read): the proxy, the stages,
// /-/health, /-/metrics, CONNECT and /RPC2 alike. An empty list admits everyone.
import { BlockList } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ErrorCode } from '../errors.js';
import { unmapIPv4 } from '../sys/address.js';

export const NOT_ALLOWED: ErrorCode = 'CLIENT_NOT_ALLOWED';

export class ClientFilter {
  private readonly list: BlockList | undefined;

  /** `cidrs` as config.ts parsed them ("10.0.0.0/8", "fd00::/8"): valid, host bits clear. */
  constructor(readonly cidrs: readonly string[]) {
    if (!cidrs.length) return;
    this.list = new BlockList();
    for (const c of cidrs) {
      const [net, bits] = c.split('/') as [string, string];
      this.list.addSubnet(net, Number(bits), net.includes(':') ? 'ipv6' : 'ipv4');
    }
  }

  get open(): boolean {
    return this.list === undefined;
  }

  allows(address: string | undefined): boolean {
    if (!this.list) return true;
    if (!address) return false;
    // IPv4 clients of a dual-stack socket are judged as IPv4
    const a = unmapIPv4(address);
    return this.list.check(a, a.includes(':') ? 'ipv6' : 'ipv4');
  }

  /** The body of the 403 (one line, the address is ours to print: a socket address). */
  refusal(address: string | undefined): string {
    return `403 ${NOT_ALLOWED}: client ${address ?? '(unknown)'} is not in server.allow (${this.cidrs.join(', ')}); ask the administrator of this aptgate\n`;
  }
}

/** The access line of a client refused by server.allow (onRequest below, and CONNECT in routes.ts). */
export function refusedAccess(client: string | undefined, method: string, path: string | undefined) {
  return { client, method, path, result: 'refused', status: 403, bytes: 0, ms: 0, reason: 'not in server.allow' };
}

/** Answers 403 to every request from outside server.allow, and logs it as a refused access. */
export function registerAdmission(app: FastifyInstance, filter: ClientFilter, onRefused: () => void): void {
  if (filter.open) return;
  app.addHook('onRequest', async (request, reply) => {
    const client = request.socket.remoteAddress;
    if (filter.allows(client)) return;
    onRefused();
    request.log.info(refusedAccess(client, request.method, request.originalUrl), 'access');
    reply
      .code(403)
      .headers({ 'content-type': 'text/plain; charset=utf-8', 'x-aptgate-error': NOT_ALLOWED, connection: 'close' })
      .send(filter.refusal(client));
    return reply;
  });
}
