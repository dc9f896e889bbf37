// Migration 14 (issue 17): security advisories from their feeds (the Debian security tracker,
// the DSA and DLA lists, Ubuntu's notices; state/advisories.ts) and the references a package's
// changelog makes. Kept apart from migrations.ts, which is at the 500-line limit.
export const MIGRATION_14 = `
      -- one row per feed: where it comes from, how its last imports went, the load readers see
      CREATE TABLE IF NOT EXISTS advisory_feed (
        feed TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        fetched_at INTEGER,
        data_date TEXT,
        error TEXT,
        error_at INTEGER,
        records INTEGER NOT NULL DEFAULT 0,
        load_id INTEGER
      );
      -- one import of a feed's records: written in many short transactions while readers still
      -- see the feed's previous load, made visible in one (advisory_feed.load_id), the previous
      -- one then deleted in slices
      CREATE TABLE IF NOT EXISTS advisory_load (
        id INTEGER PRIMARY KEY,
        feed TEXT NOT NULL,
        started_at INTEGER NOT NULL
      );
      -- the summaries of a load, each once (the tracker repeats a CVE's description for every release)
      CREATE TABLE IF NOT EXISTS advisory_text (
        id INTEGER PRIMARY KEY,
        load_id INTEGER NOT NULL,
        text TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS advisory_text_by_load ON advisory_text (load_id);
      -- one record: a source package in a release, an issue, its fixed version and status
      CREATE TABLE IF NOT EXISTS advisory (
        load_id INTEGER NOT NULL,
        origin TEXT NOT NULL,
        advisory TEXT,
        cve TEXT,
        source TEXT NOT NULL,
        release TEXT NOT NULL,
        pro INTEGER NOT NULL DEFAULT 0,
        fixed_version TEXT,
        status TEXT NOT NULL,
        urgency TEXT NOT NULL,
        published TEXT,
        summary_id INTEGER
      );
      -- reads go through the feeds' current loads: a package in a release, or an issue
      CREATE INDEX IF NOT EXISTS advisory_by_source ON advisory (load_id, source, release);
      CREATE INDEX IF NOT EXISTS advisory_by_cve ON advisory (load_id, cve);
      -- the fleet as groups of installed set and release (exposures: fleet/queries/exposures.ts) and
      -- one CVE's machines a page at a time by hostname, read from the index alone (a machine row is wide)
      CREATE INDEX IF NOT EXISTS machine_by_profile_release ON machine (profile_id, codename, hostname);
      -- what a source version's changelog names: CVEs, Debian bugs closed, Launchpad bugs (JSON arrays)
      CREATE TABLE IF NOT EXISTS changelog_refs (
        source TEXT NOT NULL,
        version TEXT NOT NULL,
        cves TEXT NOT NULL,
        closes TEXT NOT NULL,
        launchpad TEXT NOT NULL,
        read_at INTEGER NOT NULL,
        PRIMARY KEY (source, version)
      ) WITHOUT ROWID;
      -- which candidates' .debs were read for changelog_refs (version: the source version, or the
      -- binNMU's binary version), or why not: a failure is remembered (retried after retry_at; never when NULL)
      CREATE TABLE IF NOT EXISTS changelog_read (
        source TEXT NOT NULL,
        version TEXT NOT NULL,
        read_at INTEGER NOT NULL,
        error TEXT,
        retry_at INTEGER,
        PRIMARY KEY (source, version)
      ) WITHOUT ROWID;
    `;
