// The better-sqlite3 connection (the only importer of better-sqlite3): pragmas and migrations.
import Database from 'better-sqlite3';
import { fail } from '../errors.js';
import { migrations } from './migrations.js';

export type Db = Database.Database;
// better-sqlite3's own bound: named parameters are any object ({}), positional ones an array
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type Statement<P extends unknown[] | {} = unknown[], R = unknown> = Database.Statement<P, R>;

const statements = new WeakMap<Db, Map<string, Statement>>();

/** A prepared statement, prepared once per connection (hot paths: check-ins, reports). */
export function cached<P extends unknown[] = unknown[], R = unknown>(db: Db, sql: string): Statement<P, R> {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s as unknown as Statement<P, R>;
}

/** Opens (and migrates) the database; it is created only when `mustExist` is false (serve), never its directory. */
export function openDb(file: string, opts: { readonly?: boolean; mustExist?: boolean } = {}): Db {
  const db = new Database(file, {
    readonly: opts.readonly ?? false,
    fileMustExist: (opts.readonly ?? false) || (opts.mustExist ?? false),
  });
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db);
  }
  return db;
}

export function migrate(db: Db): void {
  const latest = migrations[migrations.length - 1]!.version;
  // immediate: a second process starting at the same moment waits instead of migrating twice
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > latest)
      fail('STATE_SCHEMA', `database schema ${current} is newer than this aptgate (${latest})`, { current, latest });
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
  }).immediate();
}
