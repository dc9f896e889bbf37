// The server's log as people read it: on a terminal (server.log_format = auto) each record is
//   2026-12-07 04:30:12.345 INFO  GET /debian/dists/bookworm/InRelease 200 hit 1.2 KiB 3 ms client=10.0.0.5
// instead of pino's JSON line. It is a pino destination that rewrites the line pino serialised,
// in the same call (no worker thread, no queue: nothing can be lost at exit). Everything a client
// can put in a record (a path, a hostname) reaches the terminal only through visible().
import { formatBytes } from './term/bytes.js';
import { visible, visibleText } from './term/visible.js';

export type LogFormat = 'human' | 'json';

/** server.log_format (or --log-format) and whether stdout is a terminal → the format written. */
export function logFormatOf(setting: 'auto' | 'human' | 'json', isTTY: boolean): LogFormat {
  return setting === 'auto' ? (isTTY ? 'human' : 'json') : setting;
}

/**
 * The pino options fastify gets: JSON through pino's own destination (the journal, pipes), the
 * human form through humanLine; JSON on a terminal still passes through visibleText (a C1 control
 * or bidi override in a client's path becomes \uXXXX: the same JSON, harmless to the terminal).
 */
export function loggerOptions(
  level: string,
  format: LogFormat,
  isTTY: boolean,
  write: (s: string) => void = (s) => {
    process.stdout.write(s);
  },
): object {
  if (format === 'human') return { level, stream: { write: (line: string) => write(humanLine(line)) } };
  return isTTY ? { level, stream: { write: (line: string) => write(visibleText(line)) } } : { level };
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, and fastify's request ids (the access line says what the request was) */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'reqId']);
/** the fields an access line shows in its message */
const ACCESS = new Set(['method', 'path', 'status', 'result', 'bytes', 'ms', 'client']);
/** values shown bare: not empty, no blank, quote, equals sign, backslash or control character */
const PLAIN = /^[^\s"=\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$/u;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
let cachedSecond = -1;
let cachedPrefix = '';

/** "2026-12-07 04:30:12.345" in local time (the part up to the second is computed once a second). */
export function localTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    cachedPrefix = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    cachedSecond = second;
  }
  return `${cachedPrefix}.${pad(ms - second * 1000, 3)}`;
}

/** One field value: plain text bare, anything else as a JSON string; never a control character. */
function value(v: unknown): string {
  if (typeof v === 'string') return PLAIN.test(v) ? visible(v) : visible(JSON.stringify(v));
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string')
    return value((v as { message: string }).message);
  return visible(JSON.stringify(v) ?? String(v));
}

/** A pino JSON line → one line for people (an error's stack follows on indented lines). */
export function humanLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return visibleText(json.endsWith('\n') ? json : json + '\n');
  }
  const time = typeof rec['time'] === 'number' ? localTime(rec['time']) : '-';
  const level = LEVELS[rec['level'] as number] ?? String(rec['level']).toUpperCase().padEnd(5);
  const msg = typeof rec['msg'] === 'string' ? rec['msg'] : '';
  let out: string;
  let skip: Set<string> = HIDDEN;
  if (msg === 'access' && typeof rec['method'] === 'string') {
    out = `${time} ${level} ${value(rec['method'])} ${value(rec['path'])} ${value(rec['status'])} ${value(rec['result'])} ${typeof rec['bytes'] === 'number' ? formatBytes(rec['bytes']) : '-'} ${value(rec['ms'])} ms`;
    if (rec['client'] !== undefined) out += ` client=${value(rec['client'])}`;
    skip = ACCESS;
  } else {
    out = `${time} ${level} ${visible(msg)}`;
  }
  for (const k in rec) {
    if (skip.has(k) || HIDDEN.has(k) || rec[k] === undefined) continue;
    out += ` ${visible(k)}=${value(rec[k])}`;
  }
  const stack = (rec['err'] as { stack?: unknown } | undefined)?.stack;
  if (typeof stack === 'string') for (const l of stack.split('\n').slice(1)) out += `\n    ${visible(l.trim())}`;
  return out + '\n';
}
