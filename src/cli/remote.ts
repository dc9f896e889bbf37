// The command line against a remote server: an operation becomes its /api/v1 request (path
// parameters in the path, the rest in the query string or a JSON body), sent with an API token;
// the answer is the same JSON the operation gives on the server host, so the same formatter
// prints it. Errors come back as the server's codes (same exit statuses). The token comes from
// APTGATE_TOKEN or from `aptgate login` (credentials.ts). Node's own fetch: no library here.
import { AptgateError, errorCodes, fail, type ErrorCode } from '../errors.js';
import { inputsInQuery, pathParams, type AnyOperation } from '../ops/operation.js';

export const REMOTE_TIMEOUT_MS = 120_000;

/** The server's base URL as given (http or https, no query, no credentials), without a trailing slash. */
export function serverUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    fail('USAGE', `--server: expected a URL such as https://aptgate.example:3142, got "${value.slice(0, 80)}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail('USAGE', '--server: an http or https URL');
  if (u.username || u.password)
    fail('USAGE', '--server: no credentials in the URL (use aptgate login or APTGATE_TOKEN)');
  if (u.search || u.hash) fail('USAGE', '--server: a URL without query or fragment');
  return u.href.replace(/\/+$/, '');
}

/** The request an operation makes: URL and init (headers without the token). */
export function requestOf(
  server: string,
  o: AnyOperation,
  input: Record<string, unknown>,
): { url: URL; init: RequestInit } {
  let p = o.path;
  const params = pathParams(o.path);
  for (const k of params) {
    const v = input[k];
    if (v === undefined || v === null) fail('USAGE', `${o.name}: ${k} is required`);
    // a URL's "." and ".." segments are resolved away (also as %2E): /classes/./stage would be
    // DELETE /classes/stage, another operation on another class
    if (v === '.' || v === '..') fail('USAGE', `${o.name}: "${String(v)}" is not a ${k}`);
    p = p.replace(`:${k}`, encodeURIComponent(String(v)));
  }
  const url = new URL(`${server}/api/v1${p}`);
  const rest = Object.fromEntries(Object.entries(input).filter(([k, v]) => !params.includes(k) && v !== undefined));
  const init: RequestInit = { method: o.method, headers: { accept: 'application/json' }, redirect: 'error' };
  if (inputsInQuery(o.method)) {
    for (const [k, v] of Object.entries(rest))
      for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(one));
  } else {
    init.body = JSON.stringify(rest);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  return { url, init };
}

/** Runs an operation on a remote server; its answer, or its error as the server's code. */
export async function remoteCall(
  server: string,
  token: string,
  o: AnyOperation,
  input: Record<string, unknown>,
): Promise<unknown> {
  const { url, init } = requestOf(server, o, input);
  (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
  return answerOf(server, await send(url, init, server));
}

/** One request to the server (no redirect followed: the token stays with it); unreachable is REMOTE_FAILED. */
export async function send(url: URL | string, init: RequestInit, label: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    fail('REMOTE_FAILED', `${label}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

/** The largest answer the command line reads: a server answering without end must not exhaust its memory. */
export const REMOTE_ANSWER_MAX = 64 * 1024 * 1024;

async function textOf(server: string, res: Response): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > REMOTE_ANSWER_MAX) {
        await res.body.cancel().catch(() => undefined);
        fail(
          'REMOTE_FAILED',
          `${server}: answered more than ${REMOTE_ANSWER_MAX / 1024 / 1024} MiB: not aptgate's API`,
        );
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The JSON of an answer, or the error it carries. */
export async function answerOf(server: string, res: Response): Promise<unknown> {
  const text = await textOf(server, res);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    fail(
      'REMOTE_FAILED',
      `${server}: answered ${res.status} with something that is not aptgate's API (${text.slice(0, 80).trim()})`,
    );
  }
  if (res.ok) return body;
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error;
  if (e && typeof e.code === 'string' && e.code in errorCodes && typeof e.message === 'string')
    throw new AptgateError(
      e.code as ErrorCode,
      e.message,
      e.details && typeof e.details === 'object' ? (e.details as Record<string, unknown>) : undefined,
    );
  fail('REMOTE_FAILED', `${server}: answered ${res.status} without an aptgate error`);
}
