// Snapshots (each verified signed root of a suite, one per upstream publish) and tracked suites.
import { cached, type Db } from './db.js';

export type RootKind = 'inrelease' | 'release';

export interface SnapshotRow {
  id: number;
  backend: string;
  suite: string;
  kind: RootKind;
  sha256: string;
  date: number;
  validUntil: number | null;
  origin: string | null;
  label: string | null;
  suiteField: string | null;
  codename: string | null;
  version: string | null;
  notAutomatic: boolean;
  butAutomaticUpgrades: boolean;
  fetchedAt: number;
  mirror: string | null;
  upstreamLastModified: string | null;
  upstreamEtag: string | null;
}

export type NewSnapshot = Omit<SnapshotRow, 'id'>;

interface RawRow {
  id: number;
  backend: string;
  suite: string;
  kind: RootKind;
  sha256: string;
  date: number;
  valid_until: number | null;
  origin: string | null;
  label: string | null;
  suite_field: string | null;
  codename: string | null;
  version: string | null;
  not_automatic: number;
  but_automatic_upgrades: number;
  fetched_at: number;
  mirror: string | null;
  upstream_last_modified: string | null;
  upstream_etag: string | null;
}

function fromRaw(r: RawRow): SnapshotRow {
  return {
    id: r.id,
    backend: r.backend,
    suite: r.suite,
    kind: r.kind,
    sha256: r.sha256,
    date: r.date,
    validUntil: r.valid_until,
    origin: r.origin,
    label: r.label,
    suiteField: r.suite_field,
    codename: r.codename,
    version: r.version,
    notAutomatic: r.not_automatic === 1,
    butAutomaticUpgrades: r.but_automatic_upgrades === 1,
    fetchedAt: r.fetched_at,
    mirror: r.mirror,
    upstreamLastModified: r.upstream_last_modified,
    upstreamEtag: r.upstream_etag,
  };
}

export interface TrackedRow {
  backend: string;
  suite: string;
  component: string;
  architecture: string;
  lastSeen: number;
}

export class SnapshotStore {
  private readonly qLatest;
  private readonly qNewest;
  private readonly qById;
  private readonly qFind;
  private readonly qInsert;
  private readonly qValidators;
  private readonly qTrack;
  private readonly qTracked;

  constructor(private readonly db: Db) {
    this.qLatest = db.prepare<[string, string, string], RawRow>(
      'SELECT * FROM snapshot WHERE backend = ? AND suite = ? AND kind = ? ORDER BY date DESC, id DESC LIMIT 1',
    );
    this.qNewest = db.prepare<[string, string], RawRow>(
      'SELECT * FROM snapshot WHERE backend = ? AND suite = ? ORDER BY date DESC, id DESC LIMIT 1',
    );
    this.qById = db.prepare<[number], RawRow>('SELECT * FROM snapshot WHERE id = ?');
    this.qFind = db.prepare<[string, string, string, string], RawRow>(
      'SELECT * FROM snapshot WHERE backend = ? AND suite = ? AND kind = ? AND sha256 = ?',
    );
    this.qInsert = db.prepare(`INSERT INTO snapshot (backend, suite, kind, sha256, date, valid_until, origin, label,
        suite_field, codename, version, not_automatic, but_automatic_upgrades, fetched_at, mirror,
        upstream_last_modified, upstream_etag)
      VALUES (@backend, @suite, @kind, @sha256, @date, @validUntil, @origin, @label, @suiteField, @codename,
        @version, @notAutomatic, @butAutomaticUpgrades, @fetchedAt, @mirror, @upstreamLastModified, @upstreamEtag)
      ON CONFLICT (backend, suite, kind, sha256) DO NOTHING`);
    this.qValidators = db.prepare<[string | null, string | null, number]>(
      'UPDATE snapshot SET upstream_last_modified = ?, upstream_etag = ? WHERE id = ?',
    );
    this.qTrack = db.prepare<[string, string, string, string, number]>(
      `INSERT INTO tracked (backend, suite, component, architecture, last_seen) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (backend, suite, component, architecture) DO UPDATE SET last_seen = excluded.last_seen`,
    );
    this.qTracked = db.prepare<
      [],
      { backend: string; suite: string; component: string; architecture: string; last_seen: number }
    >('SELECT * FROM tracked ORDER BY backend, suite, component, architecture');
  }

  latest(backend: string, suite: string, kind: RootKind): SnapshotRow | undefined {
    const r = this.qLatest.get(backend, suite, kind);
    return r && fromRaw(r);
  }

  /**
   * The newest snapshot of a suite by its signed Date, of either root kind: what nothing older
   * (a replayed InRelease, Release or Release.gpg) may ever replace.
   */
  newest(backend: string, suite: string): SnapshotRow | undefined {
    const r = this.qNewest.get(backend, suite);
    return r && fromRaw(r);
  }

  byId(id: number): SnapshotRow | undefined {
    const r = this.qById.get(id);
    return r && fromRaw(r);
  }

  /** Records a verified snapshot (idempotent on its hash) and returns its row. */
  record(s: NewSnapshot): SnapshotRow {
    this.qInsert.run({
      ...s,
      notAutomatic: s.notAutomatic ? 1 : 0,
      butAutomaticUpgrades: s.butAutomaticUpgrades ? 1 : 0,
    });
    return fromRaw(this.qFind.get(s.backend, s.suite, s.kind, s.sha256)!);
  }

  setValidators(id: number, lastModified: string | null, etag: string | null): void {
    this.qValidators.run(lastModified, etag, id);
  }

  track(backend: string, suite: string, component: string, architecture: string, now = Date.now()): void {
    this.qTrack.run(backend, suite, component, architecture, now);
  }

  tracked(): TrackedRow[] {
    return this.qTracked.all().map((r) => ({
      backend: r.backend,
      suite: r.suite,
      component: r.component,
      architecture: r.architecture,
      lastSeen: r.last_seen,
    }));
  }

  /** The snapshots of a suite (one root kind) recorded before snapshot `id`, newest first (what it read before). */
  before(backend: string, suite: string, kind: RootKind, id: number, limit: number): SnapshotRow[] {
    return cached<[string, string, string, number, number], RawRow>(
      this.db,
      'SELECT * FROM snapshot WHERE backend = ? AND suite = ? AND kind = ? AND id < ? ORDER BY id DESC LIMIT ?',
    )
      .all(backend, suite, kind, id, limit)
      .map(fromRaw);
  }

  /** The newest snapshot of every suite (both root kinds). */
  currentAll(): SnapshotRow[] {
    const rows = this.db
      .prepare<[], RawRow>(
        `SELECT s.* FROM snapshot s
      WHERE s.id = (SELECT t.id FROM snapshot t WHERE t.backend = s.backend AND t.suite = s.suite AND t.kind = s.kind
                    ORDER BY t.date DESC, t.id DESC LIMIT 1)`,
      )
      .all();
    return rows.map(fromRaw);
  }
}
