// Browser sessions: the SHA-256 of the cookie's value (the value itself is never stored), the
// user, the CSRF token, when it was made and last used, its absolute expiry, the address it was
// made from. Read joined with the user, so a session always carries the user's current role.
import { cached, type Db } from './db.js';

export interface SessionRow {
  idHash: string;
  userId: number;
  csrf: string;
  createdAt: number;
  lastUsed: number;
  expiresAt: number;
  address: string | null;
}

/** A session with its user's name and current role. */
export interface SessionWithUser extends SessionRow {
  userName: string;
  userRole: string;
}

export class SessionStore {
  constructor(private readonly db: Db) {}

  add(s: SessionRow): void {
    cached<[string, number, string, number, number, number, string | null]>(
      this.db,
      'INSERT INTO session (id_hash, user_id, csrf, created_at, last_used, expires_at, address) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(s.idHash, s.userId, s.csrf, s.createdAt, s.lastUsed, s.expiresAt, s.address);
  }

  byHash(idHash: string): SessionWithUser | undefined {
    return cached<[string], SessionWithUser>(
      this.db,
      `SELECT s.id_hash AS idHash, s.user_id AS userId, s.csrf, s.created_at AS createdAt, s.last_used AS lastUsed,
              s.expires_at AS expiresAt, s.address, u.name AS userName, u.role AS userRole
       FROM session s JOIN user u ON u.id = s.user_id WHERE s.id_hash = ?`,
    ).get(idHash);
  }

  touch(idHash: string, now: number): void {
    cached<[number, string]>(this.db, 'UPDATE session SET last_used = ? WHERE id_hash = ?').run(now, idHash);
  }

  /** Ends a user's sessions but the `keep` most recently created; returns how many. */
  keepNewest(userId: number, keep: number): number {
    return cached<[number, number]>(
      this.db,
      `DELETE FROM session WHERE id_hash IN (
         SELECT id_hash FROM session WHERE user_id = ? ORDER BY created_at DESC, id_hash LIMIT -1 OFFSET ?)`,
    ).run(userId, keep).changes;
  }

  remove(idHash: string): boolean {
    return cached<[string]>(this.db, 'DELETE FROM session WHERE id_hash = ?').run(idHash).changes > 0;
  }

  /** Ends every session of a user (a new password, a removed account); returns how many. */
  removeForUser(userId: number): number {
    return cached<[number]>(this.db, 'DELETE FROM session WHERE user_id = ?').run(userId).changes;
  }

  /** Forgets sessions past their absolute expiry or idle since `idleBefore`; returns how many. */
  prune(now: number, idleBefore: number): number {
    return cached<[number, number]>(this.db, 'DELETE FROM session WHERE expires_at <= ? OR last_used <= ?').run(
      now,
      idleBefore,
    ).changes;
  }
}
