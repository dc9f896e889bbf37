// API tokens for scripts: the SHA-256 of the token (shown once, never stored), its owner, label,
// role, expiry, revocation and last use. Revoked and expired tokens stay listed; a removed
// owner's tokens go with the owner (ON DELETE CASCADE). Read joined with the owner, so each row
// carries the owner's current role (a token is capped at it).
import { cached, type Db } from './db.js';

export interface ApiTokenRow {
  id: number;
  userId: number;
  owner: string;
  ownerRole: string;
  name: string | null;
  role: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  lastUsed: number | null;
}

const SELECT = `SELECT t.id, t.user_id AS userId, u.name AS owner, u.role AS ownerRole, t.name, t.role,
  t.created_at AS createdAt, t.expires_at AS expiresAt, t.revoked_at AS revokedAt, t.last_used AS lastUsed
  FROM api_token t JOIN user u ON u.id = t.user_id`;

export class ApiTokenStore {
  constructor(private readonly db: Db) {}

  add(t: {
    tokenHash: string;
    userId: number;
    name: string | null;
    role: string;
    createdAt: number;
    expiresAt: number;
  }): number {
    return Number(
      cached<[string, number, string | null, string, number, number]>(
        this.db,
        'INSERT INTO api_token (token_hash, user_id, name, role, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(t.tokenHash, t.userId, t.name, t.role, t.createdAt, t.expiresAt).lastInsertRowid,
    );
  }

  byHash(tokenHash: string): ApiTokenRow | undefined {
    return cached<[string], ApiTokenRow>(this.db, `${SELECT} WHERE t.token_hash = ?`).get(tokenHash);
  }

  byId(id: number): ApiTokenRow | undefined {
    return cached<[number], ApiTokenRow>(this.db, `${SELECT} WHERE t.id = ?`).get(id);
  }

  /** Every token (or one user's), newest first. */
  list(userId?: number): ApiTokenRow[] {
    return userId === undefined
      ? cached<[], ApiTokenRow>(this.db, `${SELECT} ORDER BY t.id DESC`).all()
      : cached<[number], ApiTokenRow>(this.db, `${SELECT} WHERE t.user_id = ? ORDER BY t.id DESC`).all(userId);
  }

  /** Marks the token revoked (once: the first time stays); false when there is no such token. */
  revoke(id: number, now: number): boolean {
    cached<[number, number]>(this.db, 'UPDATE api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(
      now,
      id,
    );
    return this.byId(id) !== undefined;
  }

  /** A user's tokens neither revoked nor expired. */
  countActive(userId: number, now: number): number {
    return cached<[number, number], { n: number }>(
      this.db,
      'SELECT count(*) AS n FROM api_token WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?',
    ).get(userId, now)!.n;
  }

  /** Forgets a user's revoked or expired tokens but the newest `keep`; returns how many. */
  forgetDead(userId: number, now: number, keep: number): number {
    return cached<[number, number, number]>(
      this.db,
      `DELETE FROM api_token WHERE id IN (
         SELECT id FROM api_token WHERE user_id = ? AND (revoked_at IS NOT NULL OR expires_at <= ?)
         ORDER BY id DESC LIMIT -1 OFFSET ?)`,
    ).run(userId, now, keep).changes;
  }

  touch(id: number, now: number): void {
    cached<[number, number]>(this.db, 'UPDATE api_token SET last_used = ? WHERE id = ?').run(now, id);
  }
}
