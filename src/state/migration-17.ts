// Migration 17 (issue 17): rollouts in waves (state/rollouts.ts reads and writes them). Apart
// from the store: the migrations load before any store (an import of the store here would make
// a cycle through db.ts).
export const MIGRATION_17 = `
  CREATE TABLE IF NOT EXISTS rollout (
    id INTEGER PRIMARY KEY,
    stage TEXT NOT NULL,
    class_name TEXT NOT NULL,
    waves TEXT NOT NULL,
    soak_ms INTEGER NOT NULL,
    halt TEXT NOT NULL,
    job_kind TEXT NOT NULL,
    salt TEXT NOT NULL,
    state TEXT NOT NULL,
    wave INTEGER NOT NULL,
    wave_opened TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    state_reason TEXT,
    events TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS rollout_by_class ON rollout (stage, class_name, id);
  CREATE TABLE IF NOT EXISTS rollout_pin (
    rollout_id INTEGER NOT NULL REFERENCES rollout (id),
    backend TEXT NOT NULL,
    suite TEXT NOT NULL,
    from_gen INTEGER NOT NULL,
    to_gen INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, backend, suite)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS rollout_machine (
    rollout_id INTEGER NOT NULL REFERENCES rollout (id),
    machine_id INTEGER NOT NULL,
    wave INTEGER NOT NULL,
    job_id INTEGER,
    PRIMARY KEY (rollout_id, machine_id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS rollout_salt (
    stage TEXT NOT NULL,
    class_name TEXT NOT NULL,
    salt TEXT NOT NULL,
    PRIMARY KEY (stage, class_name)
  ) WITHOUT ROWID;
`;
