// Profiles: installed sets stored once per distinct content (named by the packages hash of
// index/profile-record.ts), as compact arrays of ids of shared package records (a fleet of
// 2,000 machines on one release shares most records). A profile no machine uses any more is
// deleted with its records no other profile shares (collect), so the database does not grow
// with every different set a machine reports.
import { createHash } from 'node:crypto';
import { AptgateError } from '../errors.js';
import { linesOf, packagesText, parseRecordLine, type PackagesText } from '../index/profile-record.js';
import type { InstalledPackage } from '../index/status.js';
import type { TimeSlicer } from '../sys/time-slice.js';
import { cached, type Db, type Statement } from './db.js';
import { nextIdSql, raiseFloor } from './id-floor.js';

export interface StoredProfile {
  id: number;
  sha256: string;
  count: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function encodeIds(ids: readonly number[]): Buffer {
  const b = Buffer.alloc(ids.length * 4);
  ids.forEach((id, i) => b.writeUInt32LE(id, i * 4));
  return b;
}

export function decodeIds(b: Buffer): number[] {
  const out = new Array<number>(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readUInt32LE(i * 4);
  return out;
}

/** A validated packages text, ready to store: its lines (sorted, unique) and their package names. */
export interface CheckedPackages {
  hash: string;
  lines: readonly string[];
  names: readonly string[];
}

export class ProfileStore {
  private readonly records = new Map<number, { line: string; pkg?: InstalledPackage }>();
  private readonly byHashStmt;
  /** ingests and collections, one at a time: a collection never sees half a profile */
  private lock: Promise<unknown> = Promise.resolve();
  /** profiles handed to a caller that has not made a machine use them yet: never collected */
  private readonly pins = new Map<number, number>();
  /** while a collection runs: the record ids it may delete; a profile stored meanwhile takes its own out */
  private deletable: Set<number> | undefined;
  /**
   * ids of deleted records, given to new ones: otherwise a machine that reports a different set
   * each time would push the ids (uint32 in the profile blobs) up by a set's size per report
   */
  private freeIds: number[] = [];
  private freeNext = 0;
  /** records written by ingests that did not finish: collected with the next profiles */
  private strayRecords: number[] = [];

  constructor(private readonly db: Db) {
    this.byHashStmt = db.prepare<[string], StoredProfile>('SELECT id, sha256, count FROM profile WHERE sha256 = ?');
  }

  /** Stores an installed set (idempotent on its content) and returns its profile. */
  store(installed: readonly InstalledPackage[]): StoredProfile {
    return this.storeText(packagesText(installed));
  }

  byHash(hash: string): StoredProfile | undefined {
    return this.byHashStmt.get(hash);
  }

  /**
   * Stores a packages text whose hash was computed by packagesTextOfLines (or checked against
   * it); every line is validated before anything is written (STATUS_INVALID).
   */
  storeText(p: PackagesText): StoredProfile {
    const existing = this.byHashStmt.get(p.hash);
    if (existing) return existing;
    const lines = linesOf(p.text);
    // sorted and unique, as packagesTextOfLines makes it: the same set always has the same hash
    for (let i = 1; i < lines.length; i++)
      if (!(lines[i - 1]! < lines[i]!))
        throw new AptgateError('STATUS_INVALID', 'packages lines must be sorted and unique');
    const names = lines.map((l) => parseRecordLine(l).package);
    const insertRec = cached<[string, string, string]>(
      this.db,
      'INSERT INTO inst_pkg (key, package, record) VALUES (?, ?, ?)',
    );
    const idOf = cached<[string], { id: number }>(this.db, 'SELECT id FROM inst_pkg WHERE key = ?');
    return this.db
      .transaction(() => {
        const ids = new Set<number>();
        lines.forEach((l, i) => {
          const key = sha256(l);
          // records are mostly shared between profiles: look up first, insert what is new
          const id = idOf.get(key)?.id ?? Number(insertRec.run(key, names[i]!, l).lastInsertRowid);
          ids.add(id);
        });
        const sorted = [...ids].sort((a, b) => a - b);
        this.mark(sorted);
        this.db
          .prepare(
            `INSERT INTO profile (id, sha256, count, packages, created_at) VALUES (${nextIdSql('profile')}, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO NOTHING`,
          )
          .run(p.hash, sorted.length, encodeIds(sorted), Date.now());
        return this.byHashStmt.get(p.hash)!;
      })
      .immediate();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Keeps a profile from being collected until unpin(): the caller is about to make a machine use it. */
  pin(id: number): void {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
  }

  unpin(id: number): void {
    const n = (this.pins.get(id) ?? 0) - 1;
    if (n > 0) this.pins.set(id, n);
    else this.pins.delete(id);
  }

  /** Record ids a collection in progress must keep (a profile stored meanwhile uses them). */
  private mark(ids: readonly number[]): void {
    const d = this.deletable;
    if (d) for (const id of ids) d.delete(id);
  }

  /**
   * Stores checked packages (hash, sorted unique lines, validated) in slices: record look-ups
   * and inserts in short transactions with the event loop free in between, the profile row last.
   * The profile comes back pinned (see pin()).
   */
  ingest(p: CheckedPackages, slicer: TimeSlicer): Promise<StoredProfile> {
    return this.exclusive(async () => {
      const existing = this.byHashStmt.get(p.hash);
      if (existing) {
        this.pin(existing.id);
        return existing;
      }
      const insertRec = cached<[number | null, string, string, string]>(
        this.db,
        'INSERT INTO inst_pkg (id, key, package, record) VALUES (?, ?, ?, ?)',
      );
      const idOf = cached<[string], { id: number }>(this.db, 'SELECT id FROM inst_pkg WHERE key = ?');
      const ids = new Array<number>(p.lines.length);
      const created: number[] = [];
      let i = 0;
      try {
        while (i < p.lines.length) {
          this.db.transaction(() => {
            for (let n = 0; i < p.lines.length && (n < 64 || !slicer.due()); i++, n++) {
              const line = p.lines[i]!;
              const key = sha256(line);
              let id = idOf.get(key)?.id;
              if (id === undefined) {
                id = this.insertRecord(insertRec, key, p.names[i]!, line);
                created.push(id);
              }
              ids[i] = id;
            }
          })();
          await slicer.tick();
        }
        const sorted = [...new Set(ids)].sort((a, b) => a - b);
        this.db
          .prepare(
            `INSERT INTO profile (id, sha256, count, packages, created_at) VALUES (${nextIdSql('profile')}, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO NOTHING`,
          )
          .run(p.hash, sorted.length, encodeIds(sorted), Date.now());
      } catch (err) {
        // what this ingest wrote is nobody's yet: the next collection removes it
        this.strayRecords.push(...created);
        throw err;
      }
      const stored = this.byHashStmt.get(p.hash)!;
      this.pin(stored.id);
      return stored;
    });
  }

  private insertRecord(
    st: Statement<[number | null, string, string, string]>,
    key: string,
    name: string,
    line: string,
  ): number {
    // ascending, as appended rows would be: the freed pages fill up again in order
    const free = this.freeIds.length ? this.freeIds[this.freeNext++] : undefined;
    if (this.freeNext >= this.freeIds.length) {
      this.freeIds = [];
      this.freeNext = 0;
    }
    if (free !== undefined) {
      try {
        return Number(st.run(free, key, name, line).lastInsertRowid);
      } catch (err) {
        // another process (the CLI) took that id meanwhile
        if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw err;
      }
    }
    return Number(st.run(null, key, name, line).lastInsertRowid);
  }

  /**
   * Deletes the given profiles when no machine uses them and nobody holds a pin (their cached
   * outdated answers go with them), then the package records no remaining profile uses. In
   * slices; ingests wait meanwhile. Returns the ids of the deleted profiles.
   */
  collect(
    candidates: Iterable<number>,
    slicer: TimeSlicer,
  ): Promise<{ profiles: number[]; records: number; pinned: number[] }> {
    return this.exclusive(async () => {
      const unused = cached<[number, number], { packages: Buffer }>(
        this.db,
        'SELECT packages FROM profile WHERE id = ? AND NOT EXISTS (SELECT 1 FROM machine WHERE profile_id = ?)',
      );
      const del = cached<[number]>(this.db, 'DELETE FROM profile WHERE id = ?');
      const deleted: number[] = [];
      const pinned: number[] = [];
      const maybeUnused = this.strayRecords;
      this.strayRecords = [];
      this.db.transaction(() => {
        for (const id of candidates) {
          if (this.pins.has(id)) {
            pinned.push(id);
            continue;
          }
          const row = unused.get(id, id);
          if (!row) continue;
          for (const r of decodeIds(row.packages)) maybeUnused.push(r);
          del.run(id);
          raiseFloor(this.db, 'profile', id);
          deleted.push(id);
        }
      })();
      if (!maybeUnused.length) return { profiles: deleted, records: 0, pinned };
      await slicer.tick();
      const deletable = new Set(maybeUnused);
      this.deletable = deletable;
      try {
        // every record a remaining profile uses is kept (profiles stored meanwhile keep theirs)
        const page = cached<[number], { id: number; packages: Buffer }>(
          this.db,
          'SELECT id, packages FROM profile WHERE id > ? ORDER BY id LIMIT 32',
        );
        for (let after = 0; deletable.size;) {
          const rows = page.all(after);
          if (!rows.length) break;
          for (const r of rows)
            for (let o = 0; o + 4 <= r.packages.length; o += 4) deletable.delete(r.packages.readUInt32LE(o));
          after = rows[rows.length - 1]!.id;
          await slicer.tick();
        }
        // the rest nobody uses
        const gone = [...deletable];
        const delRec = cached<[number]>(this.db, 'DELETE FROM inst_pkg WHERE id = ?');
        for (let i = 0; i < gone.length;) {
          const from = i;
          this.db.transaction(() => {
            for (let n = 0; i < gone.length && (n < 64 || !slicer.due()); i++, n++) {
              delRec.run(gone[i]!);
              this.records.delete(gone[i]!);
            }
          })();
          for (let k = from; k < i; k++) this.freeIds.push(gone[k]!);
          await slicer.tick();
        }
        this.freeIds = this.freeIds.slice(this.freeNext).sort((a, b) => a - b);
        this.freeNext = 0;
        return { profiles: deleted, records: gone.length, pinned };
      } finally {
        this.deletable = undefined;
      }
    });
  }

  /**
   * Drops what this connection remembers of package records: another connection (the server's,
   * when this is its outdated worker's) collected some, and gives their ids to new records.
   */
  forgetRecords(): void {
    this.records.clear();
  }

  byId(id: number): StoredProfile | undefined {
    return cached<[number], StoredProfile>(this.db, 'SELECT id, sha256, count FROM profile WHERE id = ?').get(id);
  }

  /** Package record ids of a profile, ascending. */
  ids(profileId: number): number[] {
    const row = cached<[number], { packages: Buffer }>(this.db, 'SELECT packages FROM profile WHERE id = ?').get(
      profileId,
    );
    return row ? decodeIds(row.packages) : [];
  }

  private record(id: number): { line: string; pkg?: InstalledPackage } {
    let r = this.records.get(id);
    if (!r) {
      r = {
        line: cached<[number], { record: string }>(this.db, 'SELECT record FROM inst_pkg WHERE id = ?').get(id)!.record,
      };
      this.records.set(id, r);
    }
    return r;
  }

  /**
   * The canonical lines of a profile (what a delta applies to), read in slices (a large profile's records are thousands
   * of reads).
   */
  async linesInSlices(profileId: number, slicer: TimeSlicer): Promise<string[]> {
    const ids = this.ids(profileId);
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      out[i] = this.record(ids[i]!).line;
      if ((i & 63) === 63) await slicer.tick();
    }
    return out;
  }

  /** installed(), read and parsed in slices. */
  async installedInSlices(profileId: number, slicer: TimeSlicer): Promise<InstalledPackage[]> {
    const ids = this.ids(profileId);
    const out = new Array<InstalledPackage>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const r = this.record(ids[i]!);
      r.pkg ??= parseRecordLine(r.line);
      out[i] = r.pkg;
      if ((i & 63) === 63) await slicer.tick();
    }
    return out;
  }

  /** The installed set of a profile (records are shared and kept in memory once read). */
  installed(profileId: number): InstalledPackage[] {
    return this.ids(profileId).map((id) => {
      const r = this.record(id);
      r.pkg ??= parseRecordLine(r.line);
      return r.pkg;
    });
  }

  /** The records of one package name (every version and architecture any profile has). */
  recordsOf(name: string): Array<{ id: number; pkg: InstalledPackage }> {
    return cached<[string], { id: number }>(this.db, 'SELECT id FROM inst_pkg WHERE package = ? ORDER BY id')
      .all(name)
      .map(({ id }) => {
        const r = this.record(id);
        r.pkg ??= parseRecordLine(r.line);
        return { id, pkg: r.pkg };
      });
  }

  /**
   * Profile id → the given record ids it contains (ascending), for the profiles that contain
   * any: a binary search in each profile's id array, nothing decoded.
   */
  holding(recordIds: readonly number[]): Map<number, number[]> {
    const out = new Map<number, number[]>();
    if (!recordIds.length) return out;
    const wanted = [...recordIds].sort((a, b) => a - b);
    for (const row of this.db
      .prepare<[], { id: number; packages: Buffer }>('SELECT id, packages FROM profile')
      .iterate()) {
      const b = row.packages;
      const found: number[] = [];
      for (const id of wanted) {
        let lo = 0;
        let hi = b.length / 4 - 1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          const v = b.readUInt32LE(mid * 4);
          if (v === id) {
            found.push(id);
            break;
          }
          if (v < id) lo = mid + 1;
          else hi = mid - 1;
        }
      }
      if (found.length) out.set(row.id, found);
    }
    return out;
  }

  counts(): { profiles: number; records: number } {
    return this.db
      .prepare<[], { profiles: number; records: number }>(
        'SELECT (SELECT count(*) FROM profile) AS profiles, (SELECT count(*) FROM inst_pkg) AS records',
      )
      .get()!;
  }
}
