// Ids that are never given twice. SQLite gives a new row max(id) + 1, so deleting the row with
// the highest id hands that id to the next row. Profiles and views key caches everywhere (the
// outdated answers' table, the worker's and the server's memory, an answer being computed while
// its profile is collected): a reused id let a new profile be served a deleted one's answer
// (found by the cooldown test: a machine "still outdated" on packages it had upgraded). The
// highest id deleted is kept (migration 16) and new ids start above it.
import { cached, type Db } from './db.js';

export type FloorTable = 'profile' | 'view_def';

/** SQL for the next id of `table` (use as the id column's value of an INSERT). */
export function nextIdSql(table: FloorTable): string {
  return `(SELECT max(coalesce((SELECT max(id) FROM ${table}), 0),
    coalesce((SELECT last FROM id_floor WHERE name = '${table}'), 0)) + 1)`;
}

/** Records that `id` of `table` was deleted: no new row gets it or a lower one. */
export function raiseFloor(db: Db, table: FloorTable, id: number): void {
  cached<[string, number]>(
    db,
    'INSERT INTO id_floor (name, last) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last = max(last, excluded.last)',
  ).run(table, id);
}
