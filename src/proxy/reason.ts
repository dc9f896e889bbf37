// The reason phrase of a gateway error (502, 504): apt prints it in its "Err:" line, often the
// only thing an administrator sees, so it names the cause ("Upstream unreachable:
// deb.example.org: ENOTFOUND") instead of "Bad Gateway". It goes into the HTTP status line:
// built from fixed words, configured mirror hosts and short codes only (never from text a
// mirror or a client sent), then reduced to printable ASCII of bounded length.
import { isAptgateError, type ErrorCode } from '../errors.js';

const FIXED: Partial<Record<ErrorCode, string>> = {
  UPSTREAM_FAILED: 'Upstream failed',
  UPSTREAM_TIMEOUT: 'Upstream timeout',
  UPSTREAM_TOO_LARGE: 'Upstream answer too large',
  INTEGRITY: 'Upstream file does not match the signed index',
  SIGNATURE: 'Upstream signature not valid',
  RELEASE_INVALID: 'Upstream Release not valid',
  ROLLBACK: 'Upstream Release older than the one served before',
};

const MAX_REASON = 200;

/** Printable ASCII, at most 200 characters: safe in a status line whatever went in. */
export function statusLineText(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]+/g, '?').trim();
  return clean.length > MAX_REASON ? `${clean.slice(0, MAX_REASON - 3)}...` : clean;
}

/** The reason phrase for an error answered with a gateway status, or undefined (the standard one). */
export function reasonPhrase(err: unknown, status: number): string | undefined {
  if (status !== 502 && status !== 504) return undefined;
  if (!isAptgateError(err)) return undefined;
  const given = err.details?.['reason'];
  if (typeof given === 'string') return statusLineText(given);
  const fixed = FIXED[err.code];
  if (!fixed) return undefined;
  const mirror = err.details?.['mirror'];
  let host: string | undefined;
  try {
    host = typeof mirror === 'string' ? new URL(mirror).host : undefined;
  } catch {
    host = undefined;
  }
  return statusLineText(host ? `${fixed}: ${host}` : fixed);
}
