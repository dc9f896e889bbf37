// The agent's XML-RPC client: node's http/https (no native module, no dependency beyond the
// codec), every call after enrolment signed (protocol/signing.ts) with a timestamp newer than the
// previous one, kept in the state directory; the answer to a signed call must carry the
// server's signature over it, bound to the call's nonce, or it is refused before anything in
// it is used (plain HTTP lets anyone in the path answer). Node 18: the packaged agent runs there.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { AptgateError, isAptgateError } from '../errors.js';
import { decodeResponse, encodeCall } from '../protocol/codec.js';
import { errorCodeOfFault, faultCodes, faultOf } from '../protocol/faults.js';
import {
  RESPONSE_SIGNATURE_HEADER,
  responseSignatureMatches,
  SIGNATURE_HEADERS,
  signRequest,
} from '../protocol/signing.js';
import type { AgentState, Identity } from './identity.js';
import { explainTransportError, type SettingPlaces } from './transport-error.js';

const DEFAULT_PLACES: SettingPlaces = {
  server: 'server = of /etc/aptgate-agent/agent.conf (or --server)',
  configFile: '/etc/aptgate-agent/agent.conf',
};

/**
 * A fault the server answered: the AptgateError its number stands for (protocol/faults.ts;
 * RPC_INTERNAL_ERROR for a number this agent does not know), with the number as received.
 */
export class ServerFault extends AptgateError {
  /**
   * `signed` false: a fault 2 (AUTH_FAILED) without the server's signature, the one fault a
   * server cannot sign (it does not know this machine's secret); whoever is in the path can
   * make one up, so it is only ever answered by enrolling again through a signed call.
   */
  constructor(
    readonly faultCode: number,
    message: string,
    readonly signed = true,
  ) {
    super(errorCodeOfFault(faultCode) ?? 'RPC_INTERNAL_ERROR', message, { fault: faultCode });
    this.name = 'ServerFault';
  }
}

export interface ClientOptions {
  server: string;
  caFile?: string;
  timeoutS: number;
  /** where the server URL and ca_file are set: named when the server cannot be reached for a fixable reason */
  places?: SettingPlaces;
}

interface Answer {
  bytes: Buffer;
  signature: string | undefined;
}

/** Text from an answer nobody vouches for, fit for a log line. */
function shown(s: string): string {
  return JSON.stringify(s.slice(0, 200).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?'));
}

export class RpcClient {
  private readonly url: URL;
  private readonly ca: Buffer | undefined;

  constructor(
    private readonly opts: ClientOptions,
    private readonly signer?: { identity: Identity; state: AgentState },
  ) {
    this.url = new URL('/RPC2', opts.server);
    this.ca = opts.caFile ? readFileSync(opts.caFile) : undefined;
  }

  private nextTimestamp(): number {
    const s = this.signer!.state;
    const ts = Math.max(Date.now(), s.lastTimestamp() + 1);
    s.saveTimestamp(ts);
    return ts;
  }

  async call<T = unknown>(method: string, params: unknown[]): Promise<T> {
    const body = encodeCall(method, params);
    const headers: Record<string, string> = {
      'content-type': 'text/xml',
      'content-length': String(Buffer.byteLength(body)),
    };
    if (this.signer)
      Object.assign(
        headers,
        signRequest(this.signer.identity.secret, String(this.signer.identity.machine), this.nextTimestamp(), body),
      );
    const answer = await this.post(body, headers);
    if (this.signer) await this.verify(method, answer, headers[SIGNATURE_HEADERS.nonce]!);
    try {
      return (await decodeResponse(answer.bytes.toString('utf8'))) as T;
    } catch (err) {
      const f = err as { faultCode?: number; message: string };
      // a fault answered, or one the decoder raised reading the answer (a forbidden member name)
      const own = isAptgateError(err) ? faultOf(err.code) : undefined;
      const faultCode = typeof f.faultCode === 'number' ? f.faultCode : own ? faultCodes[own] : undefined;
      if (faultCode !== undefined) throw new ServerFault(faultCode, f.message);
      throw new AptgateError('AGENT_TRANSPORT', `bad answer from ${this.opts.server}: ${f.message}`);
    }
  }

  /** Refuses an answer to a signed call that the server did not sign for this call. */
  private async verify(method: string, answer: Answer, nonce: string): Promise<void> {
    const { identity } = this.signer!;
    if (responseSignatureMatches(identity.secret, String(identity.machine), nonce, answer.bytes, answer.signature))
      return;
    const fault = await decodeResponse(answer.bytes.toString('utf8')).then(
      () => undefined,
      (e: { faultCode?: unknown; message: string }) => e,
    );
    if (fault?.faultCode === faultCodes.AUTH_FAILED)
      throw new ServerFault(faultCodes.AUTH_FAILED, fault.message, false);
    const said =
      typeof fault?.faultCode === 'number' ? ` (it was fault ${fault.faultCode}: ${shown(fault.message)})` : '';
    throw new AptgateError(
      'AGENT_UNTRUSTED_ANSWER',
      `${this.url.href}: the answer to ${method} ${answer.signature === undefined ? 'carries no' : 'does not match its'} server signature: refused, nothing in it is used${said}; something between this machine and the server may have changed it (https and ca_file prevent that)`,
    );
  }

  private post(body: string, headers: Record<string, string>): Promise<Answer> {
    const lib = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        this.url,
        { method: 'POST', headers, timeout: this.opts.timeoutS * 1000, ...(this.ca ? { ca: this.ca } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 200)
              return reject(new AptgateError('AGENT_TRANSPORT', `${this.url.href}: HTTP ${res.statusCode}`));
            const sig = res.headers[RESPONSE_SIGNATURE_HEADER];
            resolve({ bytes: Buffer.concat(chunks), signature: typeof sig === 'string' ? sig : undefined });
          });
          res.on('error', (e) => reject(new AptgateError('AGENT_TRANSPORT', `${this.url.href}: ${e.message}`)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.opts.timeoutS} s`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        void explainTransportError(this.url, e, this.opts.places ?? DEFAULT_PLACES).then((hint) => {
          reject(new AptgateError('AGENT_TRANSPORT', hint ?? `${this.url.href}: ${e.message}`, { code: e.code }));
        });
      });
      req.end(body);
    });
  }
}
