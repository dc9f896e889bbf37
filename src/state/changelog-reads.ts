// Which candidates' changelogs were read into changelog_refs (advisories.ts keeps one row per
// changelog entry: a source version and what its entry names), which could not be and why, and
// the package index's answers the reading needs: a candidate's pool file, and the package whose
// doc directory another one links to.
import type { Db } from './db.js';
import { cached } from './db.js';

export interface ChangelogRead {
  source: string;
  /** the source version, or a binNMU's binary version (its changelog has an entry of its own) */
  version: string;
  readAt: number;
  /** why the changelog could not be read; null once it was */
  error: string | null;
  /** when a failure may be tried again (epoch ms); null: never (the bytes were verified, they stay bad) */
  retryAt: number | null;
}

export interface PoolFile {
  backend: string;
  filename: string;
  size: number;
  sha256: string;
}

/** One entry's references as stored (JSON arrays). */
export interface StoredEntryRefs {
  version: string;
  cves: string[];
  closes: number[];
  launchpad: number[];
}

const IN_COMPLETE_INDEX = `EXISTS (SELECT 1 FROM index_entry e JOIN index_file f ON f.id = e.index_file_id
  WHERE e.pkg_id = p.id AND f.complete = 1)`;

export class ChangelogReadStore {
  constructor(private readonly db: Db) {}

  get(source: string, version: string): ChangelogRead | undefined {
    return cached<[string, string], ChangelogRead>(
      this.db,
      `SELECT source, version, read_at AS readAt, error, retry_at AS retryAt FROM changelog_read
       WHERE source = ? AND version = ?`,
    ).get(source, version);
  }

  put(r: ChangelogRead): void {
    cached<[string, string, number, string | null, number | null]>(
      this.db,
      `INSERT INTO changelog_read (source, version, read_at, error, retry_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (source, version) DO UPDATE SET read_at = excluded.read_at, error = excluded.error,
         retry_at = excluded.retry_at`,
    ).run(r.source, r.version, r.readAt, r.error === null ? null : r.error.slice(0, 500), r.retryAt);
  }

  /** The entries of a source's changelogs that name anything (the others add nothing to a union). */
  refsOf(source: string): StoredEntryRefs[] {
    return cached<[string], { version: string; cves: string; closes: string; launchpad: string }>(
      this.db,
      `SELECT version, cves, closes, launchpad FROM changelog_refs
       WHERE source = ? AND (cves <> '[]' OR closes <> '[]' OR launchpad <> '[]')`,
    )
      .all(source)
      .map((r) => ({
        version: r.version,
        cves: JSON.parse(r.cves) as string[],
        closes: JSON.parse(r.closes) as number[],
        launchpad: JSON.parse(r.launchpad) as number[],
      }));
  }

  /** A binary package's pool file as a parsed (signed) index of one of these backends names it. */
  poolFile(backends: readonly string[], pkg: string, version: string, arch: string): PoolFile | undefined {
    const q = cached<[string, string, string, string], PoolFile>(
      this.db,
      `SELECT p.backend, p.filename, p.size, p.sha256 FROM pkg p
       WHERE p.package = ? AND p.architecture = ? AND p.version = ? AND p.backend = ? AND ${IN_COMPLETE_INDEX}
       ORDER BY p.id DESC LIMIT 1`,
    );
    for (const b of backends) {
      const f = q.get(pkg, arch, version, b);
      if (f) return f;
    }
    return undefined;
  }

  /**
   * The pool file of `pkg` built from the same source version (the package another one's doc
   * directory links to): the architecture's own, else Architecture: all.
   */
  siblingFile(backend: string, pkg: string, source: string, sourceVersion: string, arch: string): PoolFile | undefined {
    return cached<[string, string, string, string, string], PoolFile>(
      this.db,
      `SELECT p.backend, p.filename, p.size, p.sha256 FROM pkg p
       WHERE p.package = ? AND p.architecture IN (?, 'all') AND p.backend = ? AND p.source = ?
         AND p.source_version = ? AND ${IN_COMPLETE_INDEX}
       ORDER BY p.architecture = 'all', p.id DESC LIMIT 1`,
    ).get(pkg, arch, backend, source, sourceVersion);
  }
}
