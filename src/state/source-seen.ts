// When a source version was first seen in a suite (migration 15): the signed Date of the first
// snapshot whose content had it. The gate's cooldown counts a version's age from there.
import { cached, type Db } from './db.js';

export class SourceSeenStore {
  constructor(private readonly db: Db) {}

  /** Records versions seen in a snapshot; an earlier record of a version stays. */
  note(
    backend: string,
    suite: string,
    snapshot: { id: number; date: number },
    versions: Iterable<readonly [source: string, version: string]>,
  ): void {
    const stmt = cached<[string, string, string, string, number, number]>(
      this.db,
      `INSERT INTO source_seen (backend, suite, source, version, first_seen, snapshot_id) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET first_seen = excluded.first_seen, snapshot_id = excluded.snapshot_id
      WHERE excluded.first_seen < source_seen.first_seen`,
    );
    for (const [source, version] of versions) stmt.run(backend, suite, source, version, snapshot.date, snapshot.id);
  }

  /** The Date (ms) of the first snapshot of the suite that had this version; undefined when unknown. */
  firstSeen(backend: string, suite: string, source: string, version: string): number | undefined {
    return cached<[string, string, string, string], { t: number }>(
      this.db,
      'SELECT first_seen AS t FROM source_seen WHERE backend = ? AND suite = ? AND source = ? AND version = ?',
    ).get(backend, suite, source, version)?.t;
  }
}
