// A site's side of the registry (issue 18): its identity at the central server (site id and
// secret from site.register, kept in STATE_DIR/site/identity.json, mode 0600) and a small
// XML-RPC client for the parent's /RPC2: the codec of protocol/, every call after registration
// signed with the site's secret (a timestamp newer than the previous one), the answer refused
// unless the parent signed it for that call. node's http/https: undici stays in proxy/upstream.ts.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { AptgateError } from '../errors.js';
import { decodeResponse, encodeCall } from '../protocol/codec.js';
import { errorCodeOfFault } from '../protocol/faults.js';
import {
  RESPONSE_SIGNATURE_HEADER,
  SIGNATURE_HEADERS,
  signSiteRequest,
  siteResponseSignatureMatches,
} from '../protocol/signing.js';

export interface SiteIdentity {
  /** the parent's base URL it registered with */
  parent: string;
  site: number;
  name: string;
  secret: string;
}

/** STATE_DIR/site: the identity and (by default) the parent's key. */
export function siteStateDir(config: Config): string {
  return path.join(config.stateDir || path.dirname(config.db), 'site');
}

export function siteIdentityFile(config: Config): string {
  return path.join(siteStateDir(config), 'identity.json');
}

/** The site's identity, or undefined when it has not joined (or the file is not one). */
export function readSiteIdentity(config: Config): SiteIdentity | undefined {
  const file = siteIdentityFile(config);
  if (!existsSync(file)) return undefined;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as Partial<SiteIdentity>;
    if (
      typeof j.parent === 'string' &&
      typeof j.site === 'number' &&
      Number.isInteger(j.site) &&
      typeof j.name === 'string' &&
      typeof j.secret === 'string' &&
      j.secret.length >= 32
    )
      return { parent: j.parent, site: j.site, name: j.name, secret: j.secret };
  } catch {
    // a damaged file: the site is as if it had not joined
  }
  return undefined;
}

/** Writes the identity (0600, renamed into place: never half a file). */
export async function writeSiteIdentity(config: Config, id: SiteIdentity): Promise<string> {
  const file = siteIdentityFile(config);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // a random name created exclusively: a link left at a guessable name (it was FILE.PID.tmp) had
  // the secret written, and chmod applied, through it
  const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.chmod(0o600);
    await fh.writeFile(`${JSON.stringify(id, null, 2)}\n`);
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  return file;
}

/** A fault the parent answered (the code its number stands for, else RPC_INTERNAL_ERROR). */
export class ParentFault extends AptgateError {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super(errorCodeOfFault(faultCode) ?? 'RPC_INTERNAL_ERROR', message, { fault: faultCode });
  }
}

/** Elements (of any name) an answer to a site may hold: its answers hold about 30. */
const MAX_ANSWER_TAGS = 256;

function tags(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x3c); i !== -1 && n <= MAX_ANSWER_TAGS; i = b.indexOf(0x3c, i + 1)) n++;
  return n;
}

export class SiteClient {
  private readonly url: URL;
  private last = 0;

  constructor(
    parent: string,
    private readonly identity?: Pick<SiteIdentity, 'site' | 'secret'>,
    private readonly timeoutMs = 30_000,
  ) {
    this.url = new URL('/RPC2', parent);
  }

  async call<T = unknown>(method: string, params: unknown[]): Promise<T> {
    const body = encodeCall(method, params);
    const headers: Record<string, string> = {
      'content-type': 'text/xml',
      'content-length': String(Buffer.byteLength(body)),
    };
    if (this.identity) {
      this.last = Math.max(Date.now(), this.last + 1);
      Object.assign(headers, signSiteRequest(this.identity.secret, String(this.identity.site), this.last, body));
    }
    const answer = await this.post(body, headers);
    // a site's answers are a few elements (a fault, {accepted}, {hash, list as one string}); the
    // XML-RPC decoder held the loop for 0.4 to 0.7 s on a megabyte of nested junk, and a
    // refused answer was decoded too (to say what it said), so anyone in the path could do it
    if (tags(answer.bytes) > MAX_ANSWER_TAGS)
      throw new AptgateError(
        'UPSTREAM_FAILED',
        `${this.url.href}: the answer to ${method} holds more than ${MAX_ANSWER_TAGS} XML elements: not the parent's`,
      );
    if (
      this.identity &&
      !siteResponseSignatureMatches(
        this.identity.secret,
        String(this.identity.site),
        headers[SIGNATURE_HEADERS.nonce]!,
        answer.bytes,
        answer.signature,
      )
    ) {
      // the parent cannot sign what it answers an unknown site or a bad signature: say what it said
      const said = await decodeResponse(answer.bytes.toString('utf8')).then(
        () => '',
        (e: { faultCode?: number; message: string }) => ` (fault ${e.faultCode ?? '?'}: ${e.message.slice(0, 200)})`,
      );
      throw new AptgateError(
        'AUTH_FAILED',
        `${this.url.href}: the answer to ${method} carries no valid signature of the parent for this site${said}`,
      );
    }
    try {
      return (await decodeResponse(answer.bytes.toString('utf8'))) as T;
    } catch (err) {
      const f = err as { faultCode?: number; message: string };
      if (typeof f.faultCode === 'number') throw new ParentFault(f.faultCode, f.message);
      throw new AptgateError('UPSTREAM_FAILED', `bad answer from ${this.url.href}: ${f.message}`);
    }
  }

  private post(body: string, headers: Record<string, string>): Promise<{ bytes: Buffer; signature?: string }> {
    const lib = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(this.url, { method: 'POST', headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // a report's answer is tiny: a parent (or whoever answers) sending more is cut off
          if (size > 1024 * 1024) req.destroy(new Error('answer larger than 1 MiB'));
          else chunks.push(c);
        });
        res.on('end', () => {
          if (res.statusCode !== 200)
            return reject(new AptgateError('UPSTREAM_FAILED', `${this.url.href}: HTTP ${res.statusCode}`));
          const sig = res.headers[RESPONSE_SIGNATURE_HEADER];
          resolve({ bytes: Buffer.concat(chunks), ...(typeof sig === 'string' ? { signature: sig } : {}) });
        });
        res.on('error', (e) => reject(new AptgateError('UPSTREAM_FAILED', `${this.url.href}: ${e.message}`)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs / 1000} s`)));
      req.on('error', (e) => reject(new AptgateError('UPSTREAM_FAILED', `${this.url.href}: ${e.message}`)));
      req.end(body);
    });
  }
}
