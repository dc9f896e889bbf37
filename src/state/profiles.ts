// Profiles: installed sets stored once per distinct content (named by the packages hash of
// index/profile-record.ts), as compact arrays of ids of shared package records (a fleet of
// 2,000 machines on one release shares most records).
import { createHash } from 'node:crypto';
import { AptgateError } from '../errors.js';
import { linesOf, packagesText, parseRecordLine, type PackagesText } from '../index/profile-record.js';
import type { InstalledPackage } from '../index/status.js';
import { cached, type Db } from './db.js';

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

export class ProfileStore {
  private readonly records = new Map<number, { line: string; pkg?: InstalledPackage }>();
  private readonly byHashStmt;

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
    for (let i = 1; i < lines.length; i++) if (!(lines[i - 1]! < lines[i]!)) throw new AptgateError('STATUS_INVALID', 'packages lines must be sorted and unique');
    const names = lines.map((l) => parseRecordLine(l).package);
    const insertRec = cached<[string, string, string]>(this.db, 'INSERT INTO inst_pkg (key, package, record) VALUES (?, ?, ?)');
    const idOf = cached<[string], { id: number }>(this.db, 'SELECT id FROM inst_pkg WHERE key = ?');
    return this.db.transaction(() => {
      const ids = new Set<number>();
      lines.forEach((l, i) => {
        const key = sha256(l);
        // records are mostly shared between profiles: look up first, insert what is new
        const id = idOf.get(key)?.id ?? Number(insertRec.run(key, names[i]!, l).lastInsertRowid);
        ids.add(id);
      });
      const sorted = [...ids].sort((a, b) => a - b);
      this.db.prepare('INSERT INTO profile (sha256, count, packages, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING')
        .run(p.hash, sorted.length, encodeIds(sorted), Date.now());
      return this.byHashStmt.get(p.hash)!;
    }).immediate();
  }

  byId(id: number): StoredProfile | undefined {
    return cached<[number], StoredProfile>(this.db, 'SELECT id, sha256, count FROM profile WHERE id = ?').get(id);
  }

  /** Package record ids of a profile, ascending. */
  ids(profileId: number): number[] {
    const row = cached<[number], { packages: Buffer }>(this.db, 'SELECT packages FROM profile WHERE id = ?').get(profileId);
    return row ? decodeIds(row.packages) : [];
  }

  private record(id: number): { line: string; pkg?: InstalledPackage } {
    let r = this.records.get(id);
    if (!r) {
      r = { line: this.db.prepare<[number], { record: string }>('SELECT record FROM inst_pkg WHERE id = ?').get(id)!.record };
      this.records.set(id, r);
    }
    return r;
  }

  /** The canonical lines of a profile (what a delta applies to). */
  lines(profileId: number): string[] {
    return this.ids(profileId).map((id) => this.record(id).line);
  }

  /** The installed set of a profile (records are shared and kept in memory once read). */
  installed(profileId: number): InstalledPackage[] {
    return this.ids(profileId).map((id) => {
      const r = this.record(id);
      r.pkg ??= parseRecordLine(r.line);
      return r.pkg;
    });
  }

  counts(): { profiles: number; records: number } {
    return this.db.prepare<[], { profiles: number; records: number }>(
      'SELECT (SELECT count(*) FROM profile) AS profiles, (SELECT count(*) FROM inst_pkg) AS records').get()!;
  }
}
