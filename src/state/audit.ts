// The audit log's table: rows are appended and read, never changed (no UPDATE or DELETE here, and
// the table's triggers refuse both). access/audit.ts decides what goes into a row.
import { cached, type Db } from './db.js';

export interface AuditRow {
  id: number;
  at: number;
  actorKind: 'user' | 'token' | 'local';
  actor: string;
  tokenId: number | null;
  address: string | null;
  action: string;
  /** JSON text */
  args: string | null;
  /** 'ok' or an error code */
  result: string;
  /** JSON text */
  detail: string | null;
}

export interface AuditFilter {
  /** at >= since (epoch ms) */
  since?: number;
  /** id < before (the next page of a newest-first listing) */
  before?: number;
  /** id >= from: one slice of the table (the API reads a large log slice by slice) */
  from?: number;
  /** the actor's name, exactly */
  actor?: string;
  /** an action exactly, or every action under it: "users" matches "users.add" */
  action?: string;
  limit: number;
}

export class AuditStore {
  constructor(private readonly db: Db) {}

  append(row: Omit<AuditRow, 'id'>): number {
    return Number(
      cached<[number, string, string, number | null, string | null, string, string | null, string, string | null]>(
        this.db,
        `INSERT INTO audit (at, actor_kind, actor, token_id, address, action, args, result, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(row.at, row.actorKind, row.actor, row.tokenId, row.address, row.action, row.args, row.result, row.detail)
        .lastInsertRowid,
    );
  }

  /** The lowest and the highest id, or undefined when the log is empty. */
  bounds(): { min: number; max: number } | undefined {
    const b = cached<[], { min: number | null; max: number | null }>(
      this.db,
      'SELECT min(id) AS min, max(id) AS max FROM audit',
    ).get();
    return b && b.min !== null && b.max !== null ? { min: b.min, max: b.max } : undefined;
  }

  /** Newest first. */
  query(f: AuditFilter): AuditRow[] {
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (f.since !== undefined) {
      // +at: not through the index on at, whose range is not bounded by the slice of ids
      where.push(f.from === undefined ? 'at >= ?' : '+at >= ?');
      params.push(f.since);
    }
    if (f.before !== undefined) {
      where.push('id < ?');
      params.push(f.before);
    }
    if (f.from !== undefined) {
      where.push('id >= ?');
      params.push(f.from);
    }
    if (f.actor !== undefined) {
      where.push('actor = ?');
      params.push(f.actor);
    }
    if (f.action !== undefined) {
      // a prefix compared as text (LIKE would read _ in an action name as a wildcard)
      where.push('(action = ? OR substr(action, 1, ?) = ?)');
      params.push(f.action, f.action.length + 1, `${f.action}.`);
    }
    params.push(f.limit);
    return cached<Array<string | number>, AuditRow>(
      this.db,
      `SELECT id, at, actor_kind AS actorKind, actor, token_id AS tokenId, address, action, args, result, detail
         FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
    ).all(...params);
  }
}
