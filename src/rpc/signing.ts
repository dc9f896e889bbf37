// Per-call authentication of agents, shared by the server and the agent: an HMAC-SHA256 with
// the machine's secret over the machine id, a timestamp, a nonce and the body's SHA-256, sent
// in headers, so the secret never travels after enrolment. The server accepts a timestamp only
// inside a window around its clock and only when it is newer than the machine's last accepted
// one, which refuses replays even across server restarts.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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

function material(machine: string, timestamp: string, nonce: string, body: string | Buffer): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return `aptgate-rpc-v1\n${machine}\n${timestamp}\n${nonce}\n${bodyHash}`;
}

export function signature(secret: string, machine: string, timestamp: string, nonce: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(material(machine, timestamp, nonce, body)).digest('hex');
}

/** Headers for one call; `timestamp` must be newer than the previous call's (see Signer). */
export function signRequest(secret: string, machine: string, timestamp: number, body: string | Buffer): Record<string, string> {
  const ts = String(timestamp);
  const nonce = randomBytes(12).toString('hex');
  return {
    [SIGNATURE_HEADERS.machine]: machine,
    [SIGNATURE_HEADERS.timestamp]: ts,
    [SIGNATURE_HEADERS.nonce]: nonce,
    [SIGNATURE_HEADERS.signature]: signature(secret, machine, ts, nonce, body),
  };
}

/** Constant-time comparison of a presented signature with the expected one. */
export function signatureMatches(secret: string, h: SignedHeaders, body: string | Buffer): boolean {
  if (!/^[0-9a-f]{64}$/.test(h.signature)) return false;
  const want = Buffer.from(signature(secret, h.machine, h.timestamp, h.nonce, body), 'hex');
  return timingSafeEqual(want, Buffer.from(h.signature, 'hex'));
}

/** Reads the four headers; undefined when one is missing or malformed. */
export function signedHeaders(headers: Record<string, string | string[] | undefined>): SignedHeaders | undefined {
  const get = (k: string) => { const v = headers[k]; return typeof v === 'string' ? v : undefined; };
  const machine = get(SIGNATURE_HEADERS.machine);
  const timestamp = get(SIGNATURE_HEADERS.timestamp);
  const nonce = get(SIGNATURE_HEADERS.nonce);
  const sig = get(SIGNATURE_HEADERS.signature);
  if (!machine || !timestamp || !nonce || !sig) return undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(machine) || !/^[1-9][0-9]{0,15}$/.test(timestamp) || !/^[0-9a-f]{16,64}$/.test(nonce)) return undefined;
  return { machine, timestamp, nonce, signature: sig };
}
