// The agent's XML-RPC client: node's http/https (no native module, no dependency beyond the
// codec), every call after enrolment signed (rpc/signing.ts) with a timestamp newer than the
// previous one, kept in the state directory.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { AptgateError } from '../errors.js';
import { decodeResponse, encodeCall } from '../rpc/codec.js';
import { signRequest } from '../rpc/signing.js';
import type { AgentState, Identity } from './identity.js';

export class RpcError extends Error {
  constructor(readonly faultCode: number, message: string) {
    super(message);
    this.name = 'RpcError';
  }
}

export interface ClientOptions {
  server: string;
  caFile?: string;
  timeoutS: number;
}

export class RpcClient {
  private readonly url: URL;
  private readonly ca: Buffer | undefined;

  constructor(private readonly opts: ClientOptions, private readonly signer?: { identity: Identity; state: AgentState }) {
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
    const headers: Record<string, string> = { 'content-type': 'text/xml', 'content-length': String(Buffer.byteLength(body)) };
    if (this.signer) Object.assign(headers, signRequest(this.signer.identity.secret, String(this.signer.identity.machine), this.nextTimestamp(), body));
    const text = await this.post(body, headers);
    try {
      return await decodeResponse(text) as T;
    } catch (err) {
      const f = err as { faultCode?: number; message: string };
      if (typeof f.faultCode === 'number') throw new RpcError(f.faultCode, f.message);
      throw new AptgateError('AGENT_TRANSPORT', `bad answer from ${this.opts.server}: ${f.message}`);
    }
  }

  private post(body: string, headers: Record<string, string>): Promise<string> {
    const lib = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(this.url, { method: 'POST', headers, timeout: this.opts.timeoutS * 1000, ...(this.ca ? { ca: this.ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new AptgateError('AGENT_TRANSPORT', `${this.url.href}: HTTP ${res.statusCode}`));
          else resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', (e) => reject(new AptgateError('AGENT_TRANSPORT', `${this.url.href}: ${e.message}`)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.opts.timeoutS} s`)));
      req.on('error', (e) => reject(new AptgateError('AGENT_TRANSPORT', `${this.url.href}: ${e.message}`)));
      req.end(body);
    });
  }
}
