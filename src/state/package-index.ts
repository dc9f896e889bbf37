// The package index: parsed Packages contents, the package files they name, and which
// snapshot carries which content for a component and architecture.
import { cached, type Db } from './db.js';
import type { PackageEntry } from '../index/packages.js';

export interface KnownFile {
  size: number;
  sha256: string;
}

export interface IndexRow {
  package: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
  multiArch: string | null;
  phased: number | null;
  depends: string | null;
  preDepends: string | null;
  recommends: string | null;
  breaks: string | null;
  conflicts: string | null;
  provides: string | null;
  aptHash: number;
}

export class PackageIndexStore {
  private readonly qComplete;
  private readonly qLink;
  private readonly qLinked;
  private readonly qLookup;
  private readonly qInsertPkg;
  private readonly qPkgId;
  private readonly qInsertEntry;

  constructor(private readonly db: Db) {
    this.qComplete = db.prepare<[string, string], { id: number }>(
      'SELECT id FROM index_file WHERE backend = ? AND content_sha256 = ? AND complete = 1',
    );
    this.qLink = db.prepare<[number, string, string, number]>(
      `INSERT INTO snapshot_index (snapshot_id, component, architecture, index_file_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (snapshot_id, component, architecture) DO UPDATE SET index_file_id = excluded.index_file_id`,
    );
    this.qLinked = db.prepare<[number, string, string], { index_file_id: number }>(
      'SELECT index_file_id FROM snapshot_index WHERE snapshot_id = ? AND component = ? AND architecture = ?',
    );
    this.qLookup = db.prepare<[string, string], KnownFile>(
      `SELECT p.size, p.sha256 FROM pkg p WHERE p.backend = ? AND p.filename = ?
         AND EXISTS (SELECT 1 FROM index_entry e JOIN index_file f ON f.id = e.index_file_id
                     WHERE e.pkg_id = p.id AND f.complete = 1)
       ORDER BY p.id DESC LIMIT 1`,
    );
    this.qInsertPkg = db.prepare(`INSERT INTO pkg (backend, package, version, architecture, source, source_version,
        filename, size, sha256, multi_arch, depends, pre_depends, recommends, breaks, conflicts, provides, apt_hash)
      VALUES (@backend, @package, @version, @architecture, @source, @sourceVersion, @filename, @size, @sha256,
        @multiArch, @depends, @preDepends, @recommends, @breaks, @conflicts, @provides, @aptHash)
      ON CONFLICT (backend, filename, sha256) DO NOTHING`);
    this.qPkgId = db.prepare<[string, string, string], { id: number }>(
      'SELECT id FROM pkg WHERE backend = ? AND filename = ? AND sha256 = ?',
    );
    this.qInsertEntry = db.prepare<[number, number, number | null]>(
      'INSERT OR IGNORE INTO index_entry (index_file_id, pkg_id, phased) VALUES (?, ?, ?)',
    );
  }

  completeFile(backend: string, contentSha256: string): number | undefined {
    return this.qComplete.get(backend, contentSha256)?.id;
  }

  /** The parsed content carried by a file with this hash (compressed or plain), if any. */
  byAlias(backend: string, sha256: string): number | undefined {
    return this.db
      .prepare<[string, string], { id: number }>(
        `SELECT f.id FROM index_alias a JOIN index_file f ON f.id = a.index_file_id
       WHERE a.backend = ? AND a.sha256 = ? AND f.complete = 1`,
      )
      .get(backend, sha256)?.id;
  }

  addAliases(backend: string, indexFileId: number, hashes: readonly string[]): void {
    const q = this.db.prepare<[string, string, number]>(
      `INSERT INTO index_alias (backend, sha256, index_file_id) VALUES (?, ?, ?)
       ON CONFLICT (backend, sha256) DO UPDATE SET index_file_id = excluded.index_file_id`,
    );
    this.db.transaction(() => {
      for (const h of hashes) q.run(backend, h, indexFileId);
    })();
  }

  link(snapshotId: number, component: string, architecture: string, indexFileId: number): void {
    this.qLink.run(snapshotId, component, architecture, indexFileId);
  }

  isLinked(snapshotId: number, component: string, architecture: string): boolean {
    return this.qLinked.get(snapshotId, component, architecture) !== undefined;
  }

  /** Whether any Packages of the snapshot is in the index (what a stage can be made from). */
  hasLinks(snapshotId: number): boolean {
    return (
      cached<[number], { n: number }>(this.db, 'SELECT 1 AS n FROM snapshot_index WHERE snapshot_id = ? LIMIT 1').get(
        snapshotId,
      ) !== undefined
    );
  }

  /** Size and SHA256 of a pool file as the newest parsed index names it. */
  lookupFile(backend: string, filename: string): KnownFile | undefined {
    return this.qLookup.get(backend, filename);
  }

  /** Every size and SHA256 a parsed (complete) index gives this pool file. */
  filesNamed(backend: string, filename: string): KnownFile[] {
    return this.db
      .prepare<[string, string], KnownFile>(
        `SELECT DISTINCT p.size, p.sha256 FROM pkg p WHERE p.backend = ? AND p.filename = ?
         AND EXISTS (SELECT 1 FROM index_entry e JOIN index_file f ON f.id = e.index_file_id
                     WHERE e.pkg_id = p.id AND f.complete = 1)`,
      )
      .all(backend, filename);
  }

  /** Starts a new (incomplete) content; `key` is replaced by the real hash in finishFile. */
  beginFile(backend: string, key: string): number {
    this.db
      .prepare('DELETE FROM index_file WHERE backend = ? AND content_sha256 = ? AND complete = 0')
      .run(backend, key);
    const r = this.db
      .prepare('INSERT INTO index_file (backend, content_sha256, parsed_at) VALUES (?, ?, ?)')
      .run(backend, key, Date.now());
    return Number(r.lastInsertRowid);
  }

  /** Inserts one batch of entries in one transaction (short write locks for the server). */
  insertBatch(indexFileId: number, backend: string, entries: readonly PackageEntry[]): void {
    this.db.transaction(() => {
      for (const e of entries) {
        const r = this.qInsertPkg.run({
          backend,
          ...e,
          multiArch: e.multiArch ?? null,
          depends: e.depends ?? null,
          preDepends: e.preDepends ?? null,
          recommends: e.recommends ?? null,
          breaks: e.breaks ?? null,
          conflicts: e.conflicts ?? null,
          provides: e.provides ?? null,
        });
        const id = r.changes === 1 ? Number(r.lastInsertRowid) : this.qPkgId.get(backend, e.filename, e.sha256)!.id;
        this.qInsertEntry.run(indexFileId, id, e.phasedUpdatePercentage ?? null);
      }
    })();
  }

  /**
   * Marks a content complete under its real hash. When the same content was completed
   * meanwhile (another process), the new rows are dropped and the existing id returned.
   */
  finishFile(indexFileId: number, backend: string, contentSha256: string, entries: number): number {
    return this.db
      .transaction(() => {
        const existing = this.completeFile(backend, contentSha256);
        if (existing !== undefined && existing !== indexFileId) {
          this.db.prepare('DELETE FROM index_file WHERE id = ?').run(indexFileId);
          return existing;
        }
        this.db
          .prepare('DELETE FROM index_file WHERE backend = ? AND content_sha256 = ? AND id != ?')
          .run(backend, contentSha256, indexFileId);
        this.db
          .prepare('UPDATE index_file SET content_sha256 = ?, entries = ?, complete = 1, parsed_at = ? WHERE id = ?')
          .run(contentSha256, entries, Date.now(), indexFileId);
        return indexFileId;
      })
      .immediate();
  }

  /** Whether some content's ingest never finished (a cheap check before dropUnfinished). */
  hasUnfinished(): boolean {
    return (
      this.db.prepare<[], { n: number }>('SELECT EXISTS (SELECT 1 FROM index_file WHERE complete = 0) AS n').get()!
        .n === 1
    );
  }

  /** Removes every content whose ingest never finished (with its entries); returns how many. */
  dropUnfinished(): number {
    return this.db.prepare('DELETE FROM index_file WHERE complete = 0').run().changes;
  }

  dropFile(indexFileId: number): void {
    this.db.prepare('DELETE FROM index_file WHERE id = ?').run(indexFileId);
  }

  /** Filenames named by the Packages contents of the given snapshots. */
  filenamesOfSnapshots(snapshotIds: readonly number[]): Set<string> {
    const out = new Set<string>();
    const q = this.db.prepare<[number], { backend: string; filename: string }>(
      `SELECT p.backend, p.filename FROM snapshot_index si JOIN index_entry e ON e.index_file_id = si.index_file_id
       JOIN pkg p ON p.id = e.pkg_id WHERE si.snapshot_id = ?`,
    );
    for (const id of snapshotIds) for (const r of q.iterate(id)) out.add(`${r.backend}/${r.filename}`);
    return out;
  }

  /** Component/architecture → parsed content linked to a snapshot. */
  linkedFiles(snapshotId: number): Array<{ component: string; architecture: string; indexFileId: number }> {
    return this.db
      .prepare<[number], { component: string; architecture: string; indexFileId: number }>(
        'SELECT component, architecture, index_file_id AS indexFileId FROM snapshot_index WHERE snapshot_id = ? ORDER BY component, architecture',
      )
      .all(snapshotId);
  }

  /** Every entry of a parsed content, with what the outdated computation needs. */
  entries(indexFileId: number): IndexRow[] {
    return this.db
      .prepare<[number], IndexRow>(
        `SELECT p.package, p.version, p.architecture, p.source, p.source_version AS sourceVersion, p.multi_arch AS multiArch,
              e.phased, p.depends, p.pre_depends AS preDepends, p.recommends, p.breaks, p.conflicts, p.provides, p.apt_hash AS aptHash
       FROM index_entry e JOIN pkg p ON p.id = e.pkg_id WHERE e.index_file_id = ?`,
      )
      .all(indexFileId);
  }

  /** Names whose offered versions differ between two snapshots of a suite. */
  changedPackages(oldSnapshotId: number, newSnapshotId: number): Set<string> {
    const rows = this.db
      .prepare<[number, number], { package: string }>(
        `WITH o AS (SELECT e.pkg_id FROM snapshot_index si JOIN index_entry e ON e.index_file_id = si.index_file_id WHERE si.snapshot_id = ?),
            n AS (SELECT e.pkg_id FROM snapshot_index si JOIN index_entry e ON e.index_file_id = si.index_file_id WHERE si.snapshot_id = ?)
       SELECT DISTINCT p.package FROM pkg p
       WHERE p.id IN (SELECT pkg_id FROM o EXCEPT SELECT pkg_id FROM n) OR p.id IN (SELECT pkg_id FROM n EXCEPT SELECT pkg_id FROM o)`,
      )
      .all(oldSnapshotId, newSnapshotId);
    return new Set(rows.map((r) => r.package));
  }

  counts(): { indexFiles: number; packages: number; entries: number } {
    return this.db
      .prepare<[], { indexFiles: number; packages: number; entries: number }>(
        `SELECT (SELECT count(*) FROM index_file WHERE complete = 1) AS indexFiles,
              (SELECT count(*) FROM pkg) AS packages,
              (SELECT count(*) FROM index_entry) AS entries`,
      )
      .get()!;
  }
}
