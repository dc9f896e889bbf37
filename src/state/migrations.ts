// Numbered schema migrations; PRAGMA user_version records the last one applied.
// Never edit a released migration: add the next number.
import { LATER_MIGRATIONS } from './migrations-later.js';

export const migrations: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      -- every verified generation of a suite's signed root (InRelease, or Release + Release.gpg)
      CREATE TABLE snapshot (
        id INTEGER PRIMARY KEY,
        backend TEXT NOT NULL,
        suite TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('inrelease', 'release')),
        sha256 TEXT NOT NULL,
        date INTEGER NOT NULL,
        valid_until INTEGER,
        origin TEXT, label TEXT, suite_field TEXT, codename TEXT, version TEXT,
        not_automatic INTEGER NOT NULL DEFAULT 0,
        but_automatic_upgrades INTEGER NOT NULL DEFAULT 0,
        fetched_at INTEGER NOT NULL,
        mirror TEXT,
        upstream_last_modified TEXT,
        upstream_etag TEXT,
        UNIQUE (backend, suite, kind, sha256)
      );
      CREATE INDEX snapshot_by_suite ON snapshot (backend, suite, kind, id);

      -- one parsed Packages content (by the hash of its uncompressed bytes)
      CREATE TABLE index_file (
        id INTEGER PRIMARY KEY,
        backend TEXT NOT NULL,
        content_sha256 TEXT NOT NULL,
        entries INTEGER NOT NULL DEFAULT 0,
        parsed_at INTEGER NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0,
        UNIQUE (backend, content_sha256)
      );

      -- any file hash (compressed or not) known to carry a parsed content
      CREATE TABLE index_alias (
        backend TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        index_file_id INTEGER NOT NULL REFERENCES index_file (id) ON DELETE CASCADE,
        PRIMARY KEY (backend, sha256)
      ) WITHOUT ROWID;

      CREATE TABLE snapshot_index (
        snapshot_id INTEGER NOT NULL REFERENCES snapshot (id) ON DELETE CASCADE,
        component TEXT NOT NULL,
        architecture TEXT NOT NULL,
        index_file_id INTEGER NOT NULL REFERENCES index_file (id),
        PRIMARY KEY (snapshot_id, component, architecture)
      ) WITHOUT ROWID;
      CREATE INDEX snapshot_index_by_file ON snapshot_index (index_file_id);

      -- one row per distinct binary package file of a backend
      CREATE TABLE pkg (
        id INTEGER PRIMARY KEY,
        backend TEXT NOT NULL,
        package TEXT NOT NULL,
        version TEXT NOT NULL,
        architecture TEXT NOT NULL,
        source TEXT NOT NULL,
        source_version TEXT NOT NULL,
        filename TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        multi_arch TEXT,
        depends TEXT,
        pre_depends TEXT,
        UNIQUE (backend, filename, sha256)
      );
      CREATE INDEX pkg_by_name ON pkg (package, architecture);

      CREATE TABLE index_entry (
        index_file_id INTEGER NOT NULL REFERENCES index_file (id) ON DELETE CASCADE,
        pkg_id INTEGER NOT NULL REFERENCES pkg (id),
        phased INTEGER,
        PRIMARY KEY (index_file_id, pkg_id)
      ) WITHOUT ROWID;
      CREATE INDEX index_entry_by_pkg ON index_entry (pkg_id);

      -- suites and Packages targets the server refreshes by itself
      CREATE TABLE tracked (
        backend TEXT NOT NULL,
        suite TEXT NOT NULL,
        component TEXT NOT NULL,
        architecture TEXT NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (backend, suite, component, architecture)
      ) WITHOUT ROWID;

      -- last time a cached file was served (flushed in batches), for eviction
      CREATE TABLE cache_use (
        path TEXT PRIMARY KEY,
        last_used INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    sql: `
      -- relations the outdated computation needs (apt-get upgrade's keep-back decisions)
      ALTER TABLE pkg ADD COLUMN recommends TEXT;
      ALTER TABLE pkg ADD COLUMN breaks TEXT;
      ALTER TABLE pkg ADD COLUMN conflicts TEXT;
      ALTER TABLE pkg ADD COLUMN provides TEXT;
      ALTER TABLE pkg ADD COLUMN apt_hash INTEGER NOT NULL DEFAULT 0;
      -- contents parsed before these columns existed are parsed again when next seen
      DELETE FROM index_alias;
      DELETE FROM snapshot_index;
      DELETE FROM index_entry;
      DELETE FROM index_file;
      DELETE FROM pkg;
    `,
  },
  {
    version: 3,
    sql: `
      -- one installed package instance (name, architecture, version, state, relations), shared by
      -- every profile that contains it; key = sha256 of the canonical record
      CREATE TABLE inst_pkg (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        package TEXT NOT NULL,
        record TEXT NOT NULL
      );

      -- a distinct installed set, stored once however many machines report it:
      -- packages = little-endian uint32 inst_pkg ids, ascending
      CREATE TABLE profile (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        count INTEGER NOT NULL,
        packages BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );

      -- what a machine's apt reads: suites of backends, architectures, preferences
      CREATE TABLE view_def (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL
      );

      -- outdated per (profile, view), valid for the snapshots it names
      CREATE TABLE outdated_cache (
        profile_id INTEGER NOT NULL REFERENCES profile (id) ON DELETE CASCADE,
        view_id INTEGER NOT NULL REFERENCES view_def (id) ON DELETE CASCADE,
        snapshots TEXT NOT NULL,
        computed_at INTEGER NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (profile_id, view_id)
      ) WITHOUT ROWID;
      CREATE INDEX outdated_cache_by_view ON outdated_cache (view_id);
    `,
  },
  {
    version: 4,
    sql: `
      -- profiles are now named by the hash of their canonical packages text (index/profile-record);
      -- none stored before came from an agent
      DELETE FROM outdated_cache;
      DELETE FROM profile;
      DELETE FROM inst_pkg;

      -- enrolment tokens: only their SHA-256 is kept; the token is shown once at creation
      CREATE TABLE enrol_token (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        class TEXT,
        auto_approve INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER,
        max_uses INTEGER,
        uses INTEGER NOT NULL DEFAULT 0,
        note TEXT,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
      );

      -- an enrolled agent identity (a host, or an LTSP chroot with its host as parent)
      CREATE TABLE machine (
        id INTEGER PRIMARY KEY,
        machine_id TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES machine (id) ON DELETE CASCADE,
        hostname TEXT NOT NULL,
        architecture TEXT NOT NULL,
        codename TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved')),
        secret TEXT NOT NULL,
        token_id INTEGER REFERENCES enrol_token (id) ON DELETE SET NULL,
        facts TEXT NOT NULL,
        enrolled_at INTEGER NOT NULL,
        approved_at INTEGER,
        -- the newest signed timestamp accepted from it (replay refusal survives restarts)
        last_ts INTEGER NOT NULL DEFAULT 0,
        last_seen INTEGER,
        state_hash TEXT,
        profile_id INTEGER REFERENCES profile (id),
        reported_at INTEGER,
        pull_now INTEGER NOT NULL DEFAULT 0,
        clone_machine_id TEXT,
        clone_at INTEGER
      );
      CREATE INDEX machine_by_hostname ON machine (hostname);
      CREATE INDEX machine_by_profile ON machine (profile_id);

      -- the rest of the last report (holds, sources, preferences, apt's own upgradable list,
      -- reboot, dpkg health, agent version) and the disagreements found with the server's answer
      CREATE TABLE machine_report (
        machine_id INTEGER PRIMARY KEY REFERENCES machine (id) ON DELETE CASCADE,
        reported_at INTEGER NOT NULL,
        extras TEXT NOT NULL,
        view_id INTEGER REFERENCES view_def (id),
        disagreements TEXT
      );

      CREATE TABLE class (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        priority INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE class_member (
        class_id INTEGER NOT NULL REFERENCES class (id) ON DELETE CASCADE,
        machine_id INTEGER NOT NULL REFERENCES machine (id) ON DELETE CASCADE,
        PRIMARY KEY (class_id, machine_id)
      ) WITHOUT ROWID;
      CREATE INDEX class_member_by_machine ON class_member (machine_id);
      CREATE TABLE class_rule (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES class (id) ON DELETE CASCADE,
        field TEXT NOT NULL CHECK (field IN ('hostname', 'architecture', 'codename')),
        pattern TEXT NOT NULL,
        UNIQUE (class_id, field, pattern)
      );

      -- recurring actions of a class (cron expressions in the server's local time)
      CREATE TABLE schedule (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES class (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        policy TEXT NOT NULL,
        cron TEXT NOT NULL,
        deadline_s INTEGER NOT NULL,
        next_at INTEGER NOT NULL,
        last_fired INTEGER,
        created_at INTEGER NOT NULL
      );
      -- maintenance windows: disruptive jobs of the class's machines wait for one
      CREATE TABLE maint_window (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES class (id) ON DELETE CASCADE,
        days INTEGER NOT NULL,
        start_min INTEGER NOT NULL,
        end_min INTEGER NOT NULL
      );

      -- one command for one machine; nothing is deleted before its result is known
      CREATE TABLE job (
        id INTEGER PRIMARY KEY,
        machine_id INTEGER NOT NULL REFERENCES machine (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        policy TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'running', 'succeeded', 'failed', 'expired', 'cancelled')),
        origin TEXT NOT NULL,
        disruptive INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        not_before INTEGER,
        deadline INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        lease_until INTEGER,
        delivered_at INTEGER,
        started_at INTEGER,
        finished_at INTEGER,
        exit_code INTEGER,
        duration_ms INTEGER,
        failure TEXT,
        summary TEXT,
        transcript TEXT
      );
      CREATE INDEX job_open ON job (machine_id, state);
      CREATE INDEX job_by_state ON job (state, id);
    `,
  },
  {
    version: 5,
    sql: `
      -- the stage a class's machines follow, and whether they are its test machines (the gate)
      ALTER TABLE class ADD COLUMN stage TEXT;
      ALTER TABLE class ADD COLUMN gate INTEGER NOT NULL DEFAULT 0;

      -- what a stage publishes for one upstream suite, one row per change (newest = current):
      -- a base snapshot, and sources whose binaries come from another snapshot instead
      -- (overrides: JSON [{source, snapshot}]); nothing is ever deleted (history, evidence)
      CREATE TABLE stage_gen (
        id INTEGER PRIMARY KEY,
        stage TEXT NOT NULL,
        backend TEXT NOT NULL,
        suite TEXT NOT NULL,
        base_snapshot INTEGER NOT NULL REFERENCES snapshot (id),
        overrides TEXT NOT NULL DEFAULT '[]',
        kind TEXT NOT NULL CHECK (kind IN ('initial', 'follow', 'promote', 'rollback')),
        created_at INTEGER NOT NULL,
        actor TEXT,
        reason TEXT,
        forced INTEGER NOT NULL DEFAULT 0,
        evidence TEXT,
        published_sha256 TEXT
      );
      CREATE INDEX stage_gen_current ON stage_gen (stage, backend, suite, id);
    `,
  },
  {
    // issue 13 (machine identity): kept self-contained; renumber if another migration lands first
    version: 6,
    sql: `
      -- a machine's identity generation: bumped when its credential changes hands without proof
      -- of the old secret (an approved re-enrolment, a chroot enrolled again by its host)
      ALTER TABLE machine ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
      -- the generation a job was leased to: only that identity's result is accepted (gate evidence)
      ALTER TABLE job ADD COLUMN lease_generation INTEGER;
      UPDATE job SET lease_generation = 0 WHERE delivered_at IS NOT NULL;
      -- a re-enrolment of a known machine-id on a token alone: a new credential that waits for
      -- "aptgate machines approve" while the current one keeps working (one per machine)
      CREATE TABLE machine_reenrol (
        machine_id INTEGER PRIMARY KEY REFERENCES machine (id) ON DELETE CASCADE,
        secret TEXT NOT NULL,
        code TEXT NOT NULL,
        token_id INTEGER REFERENCES enrol_token (id) ON DELETE SET NULL,
        hostname TEXT NOT NULL,
        architecture TEXT NOT NULL,
        codename TEXT,
        facts TEXT NOT NULL,
        client TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        last_ts INTEGER NOT NULL DEFAULT 0
      );
    `,
  },
  {
    // issue 13 (report limits): after the identity work's 6
    version: 7,
    sql: `
      -- whether any machine still reads a view (views no machine reads are deleted, issue 13)
      CREATE INDEX IF NOT EXISTS machine_report_by_view ON machine_report (view_id);
    `,
  },
  {
    // issue 14 (clients): kept self-contained; renumber if another migration lands first
    version: 8,
    sql: `
      -- who uses the proxy, per client address (an IPv4-mapped IPv6 address as the IPv4 one);
      -- written in batches, the least recently seen beyond a cap deleted (state/clients.ts)
      CREATE TABLE client (
        address TEXT PRIMARY KEY,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        hits INTEGER NOT NULL DEFAULT 0,
        misses INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
      CREATE INDEX client_by_last_seen ON client (last_seen);
      -- the address a machine's last signed /RPC2 call came from (aptgate clients names it)
      ALTER TABLE machine ADD COLUMN last_address TEXT;
      CREATE INDEX machine_by_last_address ON machine (last_address);
    `,
  },
  {
    // issue 15 (one word per thing): "generation" is the gate's word; this one counts credentials
    version: 9,
    sql: `
      -- the credential version: bumped when a machine's credential changes hands without proof of
      -- the old secret; a job records the one it was leased to (values kept as they are)
      ALTER TABLE machine RENAME COLUMN generation TO credential_version;
      ALTER TABLE job RENAME COLUMN lease_generation TO lease_credential_version;
    `,
  },
  {
    // issue 16 (accounts and audit)
    version: 10,
    sql: `
      -- the people who use the API and the console (the CLI on the server host needs no account)
      CREATE TABLE user (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      -- browser sessions: only the SHA-256 of the cookie's value is kept
      CREATE TABLE session (
        id_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        address TEXT
      ) WITHOUT ROWID;
      CREATE INDEX session_by_user ON session (user_id);
      CREATE INDEX session_by_expiry ON session (expires_at);
      -- API tokens for scripts: only the SHA-256 of the token is kept; revoked ones stay (audit)
      CREATE TABLE api_token (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        user_id INTEGER NOT NULL REFERENCES user (id) ON DELETE CASCADE,
        name TEXT,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER,
        last_used INTEGER
      );
      CREATE INDEX api_token_by_user ON api_token (user_id);
      -- who did what: appended, never changed (no foreign key: it outlives users and tokens)
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor_kind TEXT NOT NULL CHECK (actor_kind IN ('user', 'token', 'local')),
        actor TEXT NOT NULL,
        token_id INTEGER,
        address TEXT,
        action TEXT NOT NULL,
        args TEXT,
        result TEXT NOT NULL,
        detail TEXT
      );
      CREATE INDEX audit_by_at ON audit (at);
      CREATE INDEX audit_by_actor ON audit (actor, id);
      CREATE INDEX audit_by_action ON audit (action, id);
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    `,
  },
  {
    // issue 16 (the console's proxy traffic over time)
    version: 11,
    sql: `
      -- the proxy's counters sampled every few minutes: what each bucket of time added (5-minute
      -- buckets kept 2 days, hourly ones 40 days; older ones pruned as samples come)
      CREATE TABLE IF NOT EXISTS proxy_traffic (
        bucket_ms INTEGER NOT NULL,
        at INTEGER NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0,
        hits INTEGER NOT NULL DEFAULT 0,
        misses INTEGER NOT NULL DEFAULT 0,
        bytes_from_cache INTEGER NOT NULL DEFAULT 0,
        bytes_from_upstream INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (bucket_ms, at)
      ) WITHOUT ROWID;
    `,
  },
  {
    // issue 16 (API: machine list and overview over compact data)
    version: 12,
    sql: `
      -- the counts of a cached outdated answer (its first line), so that a list of 20,000
      -- machines filters and sorts by them without decoding any answer
      ALTER TABLE outdated_cache ADD COLUMN outdated INTEGER;
      ALTER TABLE outdated_cache ADD COLUMN security INTEGER;
      UPDATE outdated_cache SET
        outdated = json_extract(CASE WHEN instr(result, char(10)) > 0 THEN substr(result, 1, instr(result, char(10)) - 1)
          ELSE json_extract(result, '$.counts') END, '$.outdated'),
        security = json_extract(CASE WHEN instr(result, char(10)) > 0 THEN substr(result, 1, instr(result, char(10)) - 1)
          ELSE json_extract(result, '$.counts') END, '$.security');
      -- whether the last report said a reboot is required (the extras' reboot.required)
      ALTER TABLE machine_report ADD COLUMN reboot_required INTEGER;
      UPDATE machine_report SET reboot_required = json_extract(extras, '$.reboot.required');
      -- who runs a package (aptgate packages NAME, GET /packages/NAME)
      CREATE INDEX IF NOT EXISTS inst_pkg_by_package ON inst_pkg (package);
    `,
  },
  {
    // issue 16: the machine list reads its columns through covering indexes (bench with 20,000 machines)
    version: 13,
    sql: `
      -- the counts follow the answer in a cached row, which is kilobytes to megabytes: read them here
      CREATE INDEX IF NOT EXISTS outdated_cache_counts ON outdated_cache (profile_id, view_id, snapshots, outdated, security);
      -- a report's view and reboot flag without its extras
      CREATE INDEX IF NOT EXISTS machine_report_compact ON machine_report (machine_id, view_id, reboot_required);
    `,
  },
  // 14 and on: state/migrations-later.ts (this file is at the 500-line limit)
  ...LATER_MIGRATIONS,
];
