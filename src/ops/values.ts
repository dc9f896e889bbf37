// The values an operation takes as text (from a command line or a request): durations, whole
// numbers, ids, dates, "since" — each mistake is USAGE naming the option, on every edge alike.
import { parseDuration } from '../config.js';
import { fail, isAptgateError } from '../errors.js';
import { oneLine } from '../fleet/queries/context.js';

/** The longest duration an option takes: 100 years (a longer one would be a date no Date can hold). */
export const DURATION_MAX_MS = 36_500 * 86_400_000;

/** "30s", "10m", "6h", "7d" → milliseconds. */
export function durationOption(option: string, value: string): number {
  try {
    const ms = parseDuration(option, value);
    if (ms <= 0) fail('USAGE', `${option}: a duration must be positive`);
    if (!(ms <= DURATION_MAX_MS)) fail('USAGE', `${option}: at most 36500d (100 years), got "${value.slice(0, 40)}"`);
    return ms;
  } catch (err) {
    if (isAptgateError(err, 'CONFIG_INVALID'))
      fail('USAGE', `${option}: expected a duration such as 30s, 10m, 6h or 7d, got "${value.slice(0, 40)}"`);
    throw err;
  }
}

export function intOption(option: string, value: string, min: number, max: number): number {
  if (!/^-?\d{1,10}$/.test(value.trim()) || Number(value) < min || Number(value) > max)
    fail('USAGE', `${option}: expected an integer ${min}..${max}, got "${value.slice(0, 40)}"`);
  return Number(value);
}

export function idArgument(what: string, value: string): number {
  if (!/^\d{1,15}$/.test(value)) fail('USAGE', `${what} must be a number, not "${value.slice(0, 40)}"`);
  return Number(value);
}

/** An ISO 8601 date or date-time (local time when no zone is given) → epoch milliseconds. */
export function dateOption(option: string, value: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(
    value.trim(),
  );
  const t = ok
    ? Date.parse(value.trim().replace(' ', 'T') + (/^\d{4}-\d{2}-\d{2}$/.test(value.trim()) ? 'T00:00' : ''))
    : NaN;
  if (Number.isNaN(t))
    fail(
      'USAGE',
      `${option}: expected an ISO date such as 2026-12-24 or 2026-12-24T22:00, got "${value.slice(0, 40)}"`,
    );
  return t;
}

/** Free text for notes and descriptions: one line, printable, bounded. */
export const textOption = oneLine;

/** "1d", "6h" (that long ago) or an ISO date → epoch ms. */
export function sinceOption(value: string, now: number, option = '--since'): number {
  if (/^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*$/.test(value)) return now - durationOption(option, value);
  if (/^\s*\d{4}-/.test(value)) return dateOption(option, value);
  fail(
    'USAGE',
    `${option}: expected a duration such as 1d or 6h, or an ISO date such as 2026-12-24, got "${value.slice(0, 40)}"`,
  );
}
