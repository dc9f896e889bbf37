// Views (view_def) and outdated results cached per (profile, view).
import { cached, type Db } from './db.js';
import { nextIdSql, raiseFloor } from './id-floor.js';

export interface CachedOutdated {
  profileId: number;
  viewId: number;
  /** snapshot ids the result was computed against, in the view's source order */
  snapshots: number[];
  computedAt: number;
  result: string;
}

interface Raw {
  profile_id: number;
  view_id: number;
  snapshots: string;
  computed_at: number;
  result: string;
}

const fromRaw = (r: Raw): CachedOutdated => ({
  profileId: r.profile_id,
  viewId: r.view_id,
  snapshots: r.snapshots ? r.snapshots.split(',').map(Number) : [],
  computedAt: r.computed_at,
  result: r.result,
});

/**
 * The counts of an answer as kept (fleet/outdated-text.ts: a first line of counts, or one JSON
 * document before), stored beside it: the machine list reads them without decoding answers.
 */
function countsOf(result: string): [number | null, number | null] {
  try {
    const nl = result.indexOf('\n');
    const first = JSON.parse(nl === -1 ? result : result.slice(0, nl)) as {
      outdated?: unknown;
      security?: unknown;
      counts?: { outdated?: unknown; security?: unknown };
    };
    const c = first.counts ?? first;
    return [typeof c.outdated === 'number' ? c.outdated : null, typeof c.security === 'number' ? c.security : null];
  } catch {
    return [null, null];
  }
}

export class OutdatedCacheStore {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  defineView(sha256: string, spec: string): number {
    const byHash = cached<[string], { id: number }>(this.db, 'SELECT id FROM view_def WHERE sha256 = ?');
    const known = byHash.get(sha256);
    if (known) return known.id;
    cached(
      this.db,
      `INSERT INTO view_def (id, sha256, spec) VALUES (${nextIdSql('view_def')}, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
    ).run(sha256, spec);
    return byHash.get(sha256)!.id;
  }

  viewIdByHash(sha256: string): number | undefined {
    return cached<[string], { id: number }>(this.db, 'SELECT id FROM view_def WHERE sha256 = ?').get(sha256)?.id;
  }

  /** The views machines read (their last reports name them). */
  viewsInUse(): number[] {
    return this.db
      .prepare<[], { v: number }>('SELECT DISTINCT view_id AS v FROM machine_report WHERE view_id IS NOT NULL')
      .all()
      .map((r) => r.v);
  }

  /** Deletes a view (and its cached answers) unless a machine's report names it; whether it did. */
  deleteViewIfUnused(id: number): boolean {
    return this.db.transaction(() => {
      const gone =
        cached<[number, number]>(
          this.db,
          'DELETE FROM view_def WHERE id = ? AND NOT EXISTS (SELECT 1 FROM machine_report WHERE view_id = ?)',
        ).run(id, id).changes > 0;
      if (gone) raiseFloor(this.db, 'view_def', id);
      return gone;
    })();
  }

  views(): Array<{ id: number; spec: string }> {
    return this.db.prepare<[], { id: number; spec: string }>('SELECT id, spec FROM view_def ORDER BY id').all();
  }

  view(id: number): string | undefined {
    return cached<[number], { spec: string }>(this.db, 'SELECT spec FROM view_def WHERE id = ?').get(id)?.spec;
  }

  get(profileId: number, viewId: number): CachedOutdated | undefined {
    const r = cached<[number, number], Raw>(
      this.db,
      'SELECT * FROM outdated_cache WHERE profile_id = ? AND view_id = ?',
    ).get(profileId, viewId);
    return r && fromRaw(r);
  }

  /** The cached pairs of a view, without their results (what a refresh needs to decide). */
  byView(viewId: number): Array<Omit<CachedOutdated, 'result'>> {
    return this.db
      .prepare<[number], Omit<Raw, 'result'>>(
        'SELECT profile_id, view_id, snapshots, computed_at FROM outdated_cache WHERE view_id = ? ORDER BY profile_id',
      )
      .all(viewId)
      .map((r) => ({
        profileId: r.profile_id,
        viewId: r.view_id,
        snapshots: r.snapshots ? r.snapshots.split(',').map(Number) : [],
        computedAt: r.computed_at,
      }));
  }

  put(c: CachedOutdated): void {
    this.db
      .prepare(
        `INSERT INTO outdated_cache (profile_id, view_id, snapshots, computed_at, result, outdated, security) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (profile_id, view_id) DO UPDATE SET snapshots = excluded.snapshots, computed_at = excluded.computed_at, result = excluded.result,
      outdated = excluded.outdated, security = excluded.security`,
      )
      .run(c.profileId, c.viewId, c.snapshots.join(','), c.computedAt, c.result, ...countsOf(c.result));
  }

  /** The result still holds for newer snapshots (nothing the profile has installed changed). */
  carry(profileId: number, viewId: number, snapshots: readonly number[]): void {
    this.db
      .prepare('UPDATE outdated_cache SET snapshots = ? WHERE profile_id = ? AND view_id = ?')
      .run(snapshots.join(','), profileId, viewId);
  }
}
