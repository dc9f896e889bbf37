// Per-call authentication of agents, shared by the server and the agent: an HMAC-SHA256 with
// the machine's secret over the machine id, a timestamp, a nonce and the body's SHA-256, sent
// in headers, so the secret never travels after enrolment. The server accepts a timestamp only
// inside a window around its clock and only when it is newer than the machine's last accepted
// one, which refuses replays even across server restarts. The server's answer to a verified
// request is signed the same way, bound to that request's nonce, so an agent can tell the
// server's answer from one made up in the path (plain HTTP).
import { createHash, randomBytes } from 'node:crypto';
import { hmacHex, hmacMatches } from './hmac.js';

export const SIGNATURE_HEADERS = {
  machine: 'x-aptgate-machine',
  timestamp: 'x-aptgate-timestamp',
  nonce: 'x-aptgate-nonce',
  signature: 'x-aptgate-signature',
} as const;

/** How far a signed timestamp may be from the server's clock, either way. */
export const SIGNATURE_WINDOW_MS = 300_000;

export interface SignedHeaders {
  machine: string;
  /** milliseconds since the epoch, decimal */
  timestamp: string;
  nonce: string;
  signature: string;
}

function sha256(body: string | Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

function material(machine: string, timestamp: string, nonce: string, body: string | Buffer): string {
  return `aptgate-rpc-v1\n${machine}\n${timestamp}\n${nonce}\n${sha256(body)}`;
}

export function signature(
  secret: string,
  machine: string,
  timestamp: string,
  nonce: string,
  body: string | Buffer,
): string {
  return hmacHex(secret, material(machine, timestamp, nonce, body));
}

/** Headers for one call; `timestamp` must be newer than the previous call's (see Signer). */
export function signRequest(
  secret: string,
  machine: string,
  timestamp: number,
  body: string | Buffer,
): Record<string, string> {
  const ts = String(timestamp);
  const nonce = randomBytes(12).toString('hex');
  return {
    [SIGNATURE_HEADERS.machine]: machine,
    [SIGNATURE_HEADERS.timestamp]: ts,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: signature(secret, machine, ts, nonce, body),
  };
}

/** The header of a signed answer. */
export const RESPONSE_SIGNATURE_HEADER = 'x-aptgate-response-signature';

/**
 * hex HMAC-SHA256(secret, "aptgate-rpc-v1-response\n<machine>\n<request nonce>\n<hex SHA-256 of the answer's bytes>")
 */
export function responseSignature(secret: string, machine: string, nonce: string, body: Buffer): string {
  return hmacHex(secret, `aptgate-rpc-v1-response\n${machine}\n${nonce}\n${sha256(body)}`);
}

/** Whether `presented` is the signature of this answer to the request with `nonce` (constant time). */
export function responseSignatureMatches(
  secret: string,
  machine: string,
  nonce: string,
  body: Buffer,
  presented: unknown,
): boolean {
  return hmacMatches(responseSignature(secret, machine, nonce, body), presented);
}

/** Constant-time comparison of a presented signature with the expected one. */
export function signatureMatches(secret: string, h: SignedHeaders, body: string | Buffer): boolean {
  return hmacMatches(signature(secret, h.machine, h.timestamp, h.nonce, body), h.signature);
}

/** Reads the four headers; undefined when one is missing or malformed. */
export function signedHeaders(headers: Record<string, string | string[] | undefined>): SignedHeaders | undefined {
  const get = (k: string) => {
    const v = headers[k];
    return typeof v === 'string' ? v : undefined;
  };
  const machine = get(SIGNATURE_HEADERS.machine);
  const timestamp = get(SIGNATURE_HEADERS.timestamp);
  const nonce = get(SIGNATURE_HEADERS.nonce);
  const sig = get(SIGNATURE_HEADERS.signature);
  if (!machine || !timestamp || !nonce || !sig) return undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(machine) || !/^[1-9][0-9]{0,15}$/.test(timestamp) || !/^[0-9a-f]{16,64}$/.test(nonce))
    return undefined;
  return { machine, timestamp, nonce, signature: sig };
}

// ---- sites (issue 18): a site's calls are signed the same way with the site's secret, under a
// header of their own and another label, so a site's signature never passes for a machine's ----

export const SITE_HEADER = 'x-aptgate-site';

function siteMaterial(site: string, timestamp: string, nonce: string, body: string | Buffer): string {
  return `aptgate-site-v1\n${site}\n${timestamp}\n${nonce}\n${sha256(body)}`;
}

/** The headers of one call of a site; `timestamp` newer than its previous call's. */
export function signSiteRequest(
  secret: string,
  site: string,
  timestamp: number,
  body: string | Buffer,
): Record<string, string> {
  const ts = String(timestamp);
  const nonce = randomBytes(12).toString('hex');
  return {
    [SITE_HEADER]: site,
    [SIGNATURE_HEADERS.timestamp]: ts,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: hmacHex(secret, siteMaterial(site, ts, nonce, body)),
  };
}

/** A site call's headers (the site's id in place of the machine's); undefined when missing or malformed. */
export function siteSignedHeaders(headers: Record<string, string | string[] | undefined>): SignedHeaders | undefined {
  const site = headers[SITE_HEADER];
  if (typeof site !== 'string') return undefined;
  return signedHeaders({ ...headers, [SIGNATURE_HEADERS.machine]: site });
}

/** Constant-time check of a site call's signature. */
export function siteSignatureMatches(secret: string, h: SignedHeaders, body: string | Buffer): boolean {
  return hmacMatches(hmacHex(secret, siteMaterial(h.machine, h.timestamp, h.nonce, body)), h.signature);
}

/** The signature of an answer to a site's call, bound to the call's nonce. */
export function siteResponseSignature(secret: string, site: string, nonce: string, body: Buffer): string {
  return hmacHex(secret, `aptgate-site-v1-response\n${site}\n${nonce}\n${sha256(body)}`);
}

export function siteResponseSignatureMatches(
  secret: string,
  site: string,
  nonce: string,
  body: Buffer,
  presented: unknown,
): boolean {
  return hmacMatches(siteResponseSignature(secret, site, nonce, body), presented);
}
