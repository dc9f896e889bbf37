// The accounts of the API and the console: name, role and the password's scrypt hash (access/
// makes and checks it). Rows are read without the hash unless the caller asks for it by name.
import { cached, type Db } from './db.js';

export interface UserRow {
  id: number;
  name: string;
  /** 'viewer' | 'operator' | 'admin' (the table's CHECK) */
  role: string;
  createdAt: number;
  updatedAt: number;
}

const COLUMNS = 'id, name, role, created_at AS createdAt, updated_at AS updatedAt';

export class UserStore {
  constructor(private readonly db: Db) {}

  /** Adds a user; undefined when the name is taken. */
  add(name: string, role: string, passwordHash: string, now: number): UserRow | undefined {
    const r = cached<[string, string, string, number, number]>(
      this.db,
      'INSERT INTO user (name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
    ).run(name, role, passwordHash, now, now);
    return r.changes === 0 ? undefined : this.byId(Number(r.lastInsertRowid));
  }

  byId(id: number): UserRow | undefined {
    return cached<[number], UserRow>(this.db, `SELECT ${COLUMNS} FROM user WHERE id = ?`).get(id);
  }

  byName(name: string): UserRow | undefined {
    return cached<[string], UserRow>(this.db, `SELECT ${COLUMNS} FROM user WHERE name = ?`).get(name);
  }

  /** The user with the stored hash (login only). */
  withHash(name: string): (UserRow & { passwordHash: string }) | undefined {
    return cached<[string], UserRow & { passwordHash: string }>(
      this.db,
      `SELECT ${COLUMNS}, password_hash AS passwordHash FROM user WHERE name = ?`,
    ).get(name);
  }

  list(): UserRow[] {
    return cached<[], UserRow>(this.db, `SELECT ${COLUMNS} FROM user ORDER BY name`).all();
  }

  countRole(role: string): number {
    return cached<[string], { n: number }>(this.db, 'SELECT count(*) AS n FROM user WHERE role = ?').get(role)!.n;
  }

  setPasswordHash(id: number, passwordHash: string, now: number): boolean {
    return (
      cached<[string, number, number]>(this.db, 'UPDATE user SET password_hash = ?, updated_at = ? WHERE id = ?').run(
        passwordHash,
        now,
        id,
      ).changes > 0
    );
  }

  setRole(id: number, role: string, now: number): boolean {
    return (
      cached<[string, number, number]>(this.db, 'UPDATE user SET role = ?, updated_at = ? WHERE id = ?').run(
        role,
        now,
        id,
      ).changes > 0
    );
  }

  /** Removes the user; its sessions and API tokens go with it (ON DELETE CASCADE). */
  remove(id: number): boolean {
    return cached<[number]>(this.db, 'DELETE FROM user WHERE id = ?').run(id).changes > 0;
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE: another process's change waits, nothing interleaves). */
  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}
