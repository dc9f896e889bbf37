// The audit log: who (a user, a token's owner, the local command line) did what, when, from
// where, with which arguments and what came of it. Appended only (state/audit.ts has no UPDATE or
// DELETE, and the table's triggers refuse both). Secrets never reach it: values under keys such
// as password, secret or token, and anything shaped like one of our tokens, become "[redacted]";
// arguments and details are capped at 8 KiB of JSON.
import { fail, isAptgateError } from '../errors.js';
import { AuditStore, type AuditFilter, type AuditRow } from '../state/audit.js';
import type { Db } from '../state/db.js';
import type { Principal } from './principal.js';
import { nextTurn } from '../sys/time-slice.js';

export const REDACTED = '[redacted]';
export const AUDIT_JSON_MAX = 8 * 1024;
export const AUDIT_QUERY_MAX = 1000;

export interface AuditRecord {
  principal: Principal;
  /** the operation's name, e.g. users.add, gate.promote, session.login */
  action: string;
  args?: unknown;
  /** 'ok' or the error code */
  result: string;
  /** e.g. the gate generations a promotion made, so the console links to the evidence */
  detail?: unknown;
}

export interface AuditEntry {
  id: number;
  at: number;
  actorKind: Principal['kind'];
  actor: string;
  tokenId: number | null;
  address: string | null;
  action: string;
  args: unknown;
  result: string;
  detail: unknown;
}

export interface AuditQuery {
  /** epoch ms: entries at or after */
  since?: number;
  /** an entry id: only older entries (the next page) */
  before?: number;
  /** the actor's name ("alice", "local root") */
  user?: string;
  /** an action, or every action under it ("users" → users.add, users.remove, …) */
  action?: string;
  /** default 100, at most 1000 */
  limit?: number;
}

const ACTION = /^[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*$/i;
// key names whose values are secrets; tokenId, token_id and the like are not
const SECRET_KEY = /(password|passwd|secret|csrf|cookie|authorization|credential|token)$/;
const SECRET_VALUE = /agt_[A-Za-z0-9_-]{16,}/g;
const SECRET_WORDS = /password|passwd|secret|credential/;

function secretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SECRET_KEY.test(k) || SECRET_WORDS.test(k);
}

/** A copy of `value` with every secret replaced by "[redacted]" (plain JSON data in, plain JSON data out). */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return value.replace(SECRET_VALUE, REDACTED);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? String(value) : typeof value === 'function' ? undefined : value;
  }
  if (depth > 20 || seen.has(value)) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = secretKey(k) && v !== undefined && v !== null ? REDACTED : redact(v, depth + 1, seen);
  }
  return out;
}

/** The JSON text stored for args or detail: redacted, and no more than 8 KiB. */
export function auditJson(value: unknown): string | null {
  if (value === undefined) return null;
  // far beyond the cap, only the size is kept: redacting key by key first would hold the event
  // loop (a refused request's megabyte of 110,000 keys: ~400 ms) for text that is dropped anyway
  const size = jsonBytes(value);
  if (size > AUDIT_JSON_MAX * 4) return JSON.stringify({ truncated: true, bytes: size });
  const text = JSON.stringify(redact(value)) ?? null;
  if (text === null || Buffer.byteLength(text) <= AUDIT_JSON_MAX) return text;
  return JSON.stringify({ truncated: true, bytes: Buffer.byteLength(text) });
}

/** The bytes of a value's JSON, or 0 when it has none or cannot have one (a cycle, a bigint: redact() copes). */
function jsonBytes(value: unknown): number {
  try {
    const text = JSON.stringify(value) as string | undefined;
    return text === undefined ? 0 : Buffer.byteLength(text);
  } catch {
    return 0;
  }
}

function parse(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export class AuditLog {
  private readonly store: AuditStore;

  constructor(
    db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.store = new AuditStore(db);
  }

  /** Appends one entry; returns it as a query would. */
  record(r: AuditRecord): AuditEntry {
    if (typeof r.action !== 'string' || r.action.length > 100 || !ACTION.test(r.action))
      fail('BAD_REQUEST', `not an action name: "${String(r.action).slice(0, 40)}"`);
    const row: Omit<AuditRow, 'id'> = {
      at: this.now(),
      actorKind: r.principal.kind,
      actor: r.principal.name,
      tokenId: r.principal.tokenId ?? null,
      address: r.principal.address ?? null,
      action: r.action,
      args: auditJson(r.args),
      result: String(r.result).slice(0, 64),
      detail: auditJson(r.detail),
    };
    const id = this.store.append(row);
    return toEntry({ id, ...row });
  }

  /**
   * A login attempt (action session.login), successful or not: the name as it was given (cut to
   * 64 characters: it may be anything), the client address, ok or the error code.
   */
  recordLogin(name: unknown, address: string | undefined, result: string): AuditEntry {
    const user = typeof name === 'string' ? name.slice(0, 64) : '';
    return this.record({
      principal: { kind: 'user', name: user, role: 'viewer', ...(address === undefined ? {} : { address }) },
      action: 'session.login',
      args: { user },
      result,
    });
  }

  /**
   * Runs fn and records it: result 'ok' (with detailOf's detail) or the error's code (an error
   * that is not an AptgateError: INTERNAL). The error is thrown on.
   */
  async recorded<T>(
    entry: { principal: Principal; action: string; args?: unknown },
    fn: () => T | Promise<T>,
    detailOf?: (result: T) => unknown,
  ): Promise<T> {
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      this.record({ ...entry, result: isAptgateError(err) ? err.code : 'INTERNAL' });
      throw err;
    }
    this.record({ ...entry, result: 'ok', ...(detailOf ? { detail: detailOf(result) } : {}) });
    return result;
  }

  /** Newest first. */
  query(q: AuditQuery = {}): AuditEntry[] {
    return this.store.query(filterOf(q)).map(toEntry);
  }

  /**
   * The same answer as query(), read in slices of AUDIT_SLICE ids, newest first, with the event
   * loop free between them: a rare action or user, or a date, over a large log is a scan that
   * one query would hold the loop for (400,000 entries: ~100 ms), and any viewer may ask it.
   */
  async queryInSlices(q: AuditQuery = {}, slice = AUDIT_SLICE): Promise<AuditEntry[]> {
    const f = filterOf(q);
    const bounds = this.store.bounds();
    const out: AuditRow[] = [];
    if (!bounds) return [];
    let top = Math.min(f.before ?? Infinity, bounds.max + 1);
    while (out.length < f.limit && top > bounds.min) {
      const from = Math.max(bounds.min, top - slice);
      out.push(...this.store.query({ ...f, before: top, from, limit: f.limit - out.length }));
      top = from;
      if (out.length < f.limit && top > bounds.min) await nextTurn();
    }
    return out.map(toEntry);
  }
}

/** Ids read per slice by queryInSlices: a few milliseconds of scanning. */
export const AUDIT_SLICE = 20_000;

function filterOf(q: AuditQuery): AuditFilter {
  const limit = q.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_QUERY_MAX)
    fail('USAGE', `limit: expected 1..${AUDIT_QUERY_MAX}, got ${String(limit).slice(0, 20)}`);
  if (q.action !== undefined && (q.action.length > 100 || !ACTION.test(q.action)))
    fail('USAGE', `action: not an action name: "${q.action.slice(0, 40)}"`);
  for (const [k, v] of [
    ['since', q.since],
    ['before', q.before],
  ] as const)
    if (v !== undefined && !Number.isSafeInteger(v)) fail('USAGE', `${k}: expected a whole number`);
  return {
    limit,
    ...(q.since === undefined ? {} : { since: q.since }),
    ...(q.before === undefined ? {} : { before: q.before }),
    ...(q.user === undefined ? {} : { actor: q.user }),
    ...(q.action === undefined ? {} : { action: q.action }),
  };
}

function toEntry(r: AuditRow): AuditEntry {
  return {
    id: r.id,
    at: r.at,
    actorKind: r.actorKind,
    actor: r.actor,
    tokenId: r.tokenId,
    address: r.address,
    action: r.action,
    args: parse(r.args),
    result: r.result,
    detail: parse(r.detail),
  };
}
