// Migration 18 (issue 18): the site caches registered under this server (state/sites.ts reads
// and writes them). Apart from the store: the migrations load before any store.
export const MIGRATION_18 = `
  CREATE TABLE IF NOT EXISTS site (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL,
    networks TEXT NOT NULL DEFAULT '[]',
    classes TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    token_id INTEGER,
    last_ts INTEGER NOT NULL DEFAULT 0,
    last_contact INTEGER,
    last_address TEXT,
    bytes_local INTEGER NOT NULL DEFAULT 0,
    bytes_parent INTEGER NOT NULL DEFAULT 0,
    hits INTEGER NOT NULL DEFAULT 0,
    misses INTEGER NOT NULL DEFAULT 0,
    run_started INTEGER NOT NULL DEFAULT 0,
    run_counters TEXT NOT NULL DEFAULT '{}',
    health TEXT NOT NULL DEFAULT 'unknown',
    health_reason TEXT NOT NULL DEFAULT '',
    preload TEXT NOT NULL DEFAULT '{}'
  );
  CREATE TABLE IF NOT EXISTS site_token (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    name TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    used_at INTEGER,
    site_id INTEGER
  );
`;
