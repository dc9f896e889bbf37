// Profiles: installed sets stored once per distinct content, as compact arrays of ids of shared
// package records (a fleet of 2,000 machines on one release shares most records).
import { createHash } from 'node:crypto';
import type { InstalledPackage } from '../index/status.js';
import type { Db } from './db.js';

export interface StoredProfile {
  id: number;
  sha256: string;
  count: number;
}

// fixed key order: the same package always gives the same record and key
const FIELDS: ReadonlyArray<keyof InstalledPackage> = ['package', 'architecture', 'version', 'want', 'ok', 'state', 'multiArch', 'source',
  'sourceVersion', 'essential', 'depends', 'preDepends', 'recommends', 'breaks', 'conflicts', 'provides', 'aptHash'];

function canonical(p: InstalledPackage): string {
  return JSON.stringify(FIELDS.map((f) => p[f] ?? null));
}

function fromCanonical(text: string): InstalledPackage {
  const v = JSON.parse(text) as unknown[];
  const o: Record<string, unknown> = {};
  FIELDS.forEach((f, i) => { o[f] = v[i] === null ? undefined : v[i]; });
  return o as unknown as InstalledPackage;
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
  private readonly records = new Map<number, InstalledPackage>();

  constructor(private readonly db: Db) {}

  /** Stores an installed set (idempotent on its content) and returns its profile. */
  store(installed: readonly InstalledPackage[]): StoredProfile {
    const recs = installed.map(canonical);
    const keys = recs.map(sha256);
    const order = keys.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
    const hash = createHash('sha256');
    for (const i of order) hash.update(keys[i]!).update('\n');
    const digest = hash.digest('hex');
    const existing = this.db.prepare<[string], StoredProfile>('SELECT id, sha256, count FROM profile WHERE sha256 = ?').get(digest);
    if (existing) return existing;
    const insertRec = this.db.prepare<[string, string, string]>('INSERT INTO inst_pkg (key, package, record) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING');
    const idOf = this.db.prepare<[string], { id: number }>('SELECT id FROM inst_pkg WHERE key = ?');
    return this.db.transaction(() => {
      const ids = new Set<number>();
      order.forEach((i) => {
        insertRec.run(keys[i]!, installed[i]!.package, recs[i]!);
        ids.add(idOf.get(keys[i]!)!.id);
      });
      const sorted = [...ids].sort((a, b) => a - b);
      this.db.prepare('INSERT INTO profile (sha256, count, packages, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING')
        .run(digest, sorted.length, encodeIds(sorted), Date.now());
      return this.db.prepare<[string], StoredProfile>('SELECT id, sha256, count FROM profile WHERE sha256 = ?').get(digest)!;
    }).immediate();
  }

  byId(id: number): StoredProfile | undefined {
    return this.db.prepare<[number], StoredProfile>('SELECT id, sha256, count FROM profile WHERE id = ?').get(id);
  }

  /** Package record ids of a profile, ascending. */
  ids(profileId: number): number[] {
    const row = this.db.prepare<[number], { packages: Buffer }>('SELECT packages FROM profile WHERE id = ?').get(profileId);
    return row ? decodeIds(row.packages) : [];
  }

  /** The installed set of a profile (records are shared and kept in memory once read). */
  installed(profileId: number): InstalledPackage[] {
    const ids = this.ids(profileId);
    const missing = ids.filter((id) => !this.records.has(id));
    if (missing.length) {
      const q = this.db.prepare<[number], { record: string }>('SELECT record FROM inst_pkg WHERE id = ?');
      for (const id of missing) this.records.set(id, fromCanonical(q.get(id)!.record));
    }
    return ids.map((id) => this.records.get(id)!);
  }

  counts(): { profiles: number; records: number } {
    return this.db.prepare<[], { profiles: number; records: number }>(
      'SELECT (SELECT count(*) FROM profile) AS profiles, (SELECT count(*) FROM inst_pkg) AS records').get()!;
  }
}
