// Migrations from 14 on (migrations.ts holds 1–13 and is at the 500-line limit). Never edit a
// released migration: add the next number.
import { MIGRATION_14 } from './migration-14.js';
import { MIGRATION_17 } from './migration-17.js';
import { MIGRATION_18 } from './migration-18.js';

export const LATER_MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  {
    // issue 17: security advisories from their feeds, and what changelogs name
    version: 14,
    sql: MIGRATION_14,
  },
  {
    // issue 17: when each source version was first seen in a suite (the Date of the first signed
    // Release that had it): the cooldown counts a version's age from there
    version: 15,
    sql: `
      CREATE TABLE IF NOT EXISTS source_seen (
        backend TEXT NOT NULL,
        suite TEXT NOT NULL,
        source TEXT NOT NULL,
        version TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        snapshot_id INTEGER NOT NULL,
        PRIMARY KEY (backend, suite, source, version)
      ) WITHOUT ROWID;
    `,
  },
  {
    // the highest deleted id of tables whose ids key caches: never given again (state/id-floor.ts)
    version: 16,
    sql: `
      CREATE TABLE IF NOT EXISTS id_floor (name TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
    `,
  },
  {
    // issue 17: rollouts in waves (state/rollouts.ts)
    version: 17,
    sql: MIGRATION_17,
  },
  {
    // issue 18: site caches under this server, their enrolment tokens and last reports (state/sites.ts)
    version: 18,
    sql: MIGRATION_18,
  },
  {
    // the newest snapshot of a suite by its signed Date (currentAll, newest): without it each
    // question sorted every snapshot the suite ever had, seconds per tick after a year of them
    version: 19,
    sql: `CREATE INDEX IF NOT EXISTS snapshot_by_date ON snapshot (backend, suite, kind, date, id);`,
  },
];
