// Stage generations: what each stage publishes for each upstream suite, one row per change.
import { cached, type Db } from './db.js';

export interface Override {
  /** a source package name */
  source: string;
  /** the snapshot its binaries come from instead of the base */
  snapshot: number;
}

export type GenerationKind = 'initial' | 'follow' | 'promote' | 'rollback';

export interface StageGeneration {
  id: number;
  stage: string;
  backend: string;
  suite: string;
  baseSnapshot: number;
  overrides: Override[];
  kind: GenerationKind;
  createdAt: number;
  actor: string | null;
  reason: string | null;
  forced: boolean;
  evidence: unknown;
  publishedSha256: string | null;
}

interface Raw {
  id: number;
  stage: string;
  backend: string;
  suite: string;
  base_snapshot: number;
  overrides: string;
  kind: GenerationKind;
  created_at: number;
  actor: string | null;
  reason: string | null;
  forced: number;
  evidence: string | null;
  published_sha256: string | null;
}

const fromRaw = (r: Raw): StageGeneration => ({
  id: r.id,
  stage: r.stage,
  backend: r.backend,
  suite: r.suite,
  baseSnapshot: r.base_snapshot,
  overrides: JSON.parse(r.overrides) as Override[],
  kind: r.kind,
  createdAt: r.created_at,
  actor: r.actor,
  reason: r.reason,
  forced: r.forced === 1,
  evidence: r.evidence === null ? null : JSON.parse(r.evidence),
  publishedSha256: r.published_sha256,
});

export type NewStageGeneration = Omit<StageGeneration, 'id' | 'publishedSha256'>;

export class StageStore {
  constructor(readonly db: Db) {}

  add(g: NewStageGeneration): StageGeneration {
    const overrides = [...g.overrides].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO stage_gen (stage, backend, suite, base_snapshot, overrides, kind, created_at, actor, reason, forced, evidence)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          g.stage,
          g.backend,
          g.suite,
          g.baseSnapshot,
          JSON.stringify(overrides),
          g.kind,
          g.createdAt,
          g.actor,
          g.reason,
          g.forced ? 1 : 0,
          g.evidence === undefined || g.evidence === null ? null : JSON.stringify(g.evidence),
        ).lastInsertRowid,
    );
    return this.byId(id)!;
  }

  byId(id: number): StageGeneration | undefined {
    const r = cached<[number], Raw>(this.db, 'SELECT * FROM stage_gen WHERE id = ?').get(id);
    return r && fromRaw(r);
  }

  current(stage: string, backend: string, suite: string): StageGeneration | undefined {
    const r = cached<[string, string, string], Raw>(
      this.db,
      'SELECT * FROM stage_gen WHERE stage = ? AND backend = ? AND suite = ? ORDER BY id DESC LIMIT 1',
    ).get(stage, backend, suite);
    return r && fromRaw(r);
  }

  /** The generation of the same stage and suite just before this one. */
  before(g: StageGeneration): StageGeneration | undefined {
    const r = this.db
      .prepare<[string, string, string, number], Raw>(
        'SELECT * FROM stage_gen WHERE stage = ? AND backend = ? AND suite = ? AND id < ? ORDER BY id DESC LIMIT 1',
      )
      .get(g.stage, g.backend, g.suite, g.id);
    return r && fromRaw(r);
  }

  /** The newest Date of the snapshots a stage has ever had as base for a suite (undefined: none). */
  newestBaseDate(stage: string, backend: string, suite: string): number | undefined {
    const r = cached<[string, string, string], { date: number | null }>(
      this.db,
      `SELECT max(s.date) AS date FROM stage_gen g JOIN snapshot s ON s.id = g.base_snapshot
      WHERE g.stage = ? AND g.backend = ? AND g.suite = ?`,
    ).get(stage, backend, suite);
    return r?.date ?? undefined;
  }

  /** Current generation of every suite a stage publishes. */
  currentAll(stage: string): StageGeneration[] {
    return this.db
      .prepare<[string], Raw>(
        `SELECT g.* FROM stage_gen g JOIN (SELECT max(id) AS id FROM stage_gen WHERE stage = ? GROUP BY backend, suite) c ON c.id = g.id
      ORDER BY g.backend, g.suite`,
      )
      .all(stage)
      .map(fromRaw);
  }

  /** Oldest first; a page: the `limit` newest generations before the id `before`. */
  history(stage: string, page: { before?: number; limit?: number } = {}): StageGeneration[] {
    if (page.before === undefined && page.limit === undefined)
      return this.db
        .prepare<[string], Raw>('SELECT * FROM stage_gen WHERE stage = ? ORDER BY id')
        .all(stage)
        .map(fromRaw);
    return this.db
      .prepare<[string, number, number], Raw>(
        'SELECT * FROM (SELECT * FROM stage_gen WHERE stage = ? AND id < ? ORDER BY id DESC LIMIT ?) ORDER BY id',
      )
      .all(stage, page.before ?? Number.MAX_SAFE_INTEGER, page.limit ?? -1)
      .map(fromRaw);
  }

  /**
   * Snapshots the current and previous generations of the stages in use (a class is bound to
   * them) read, and those a rollout not done yet pins: their files must be kept. A ladder nobody
   * uses keeps nothing.
   */
  usedSnapshots(): Set<number> {
    const out = new Set<number>();
    for (const r of this.db
      .prepare<[], { base_snapshot: number; overrides: string }>(
        `SELECT base_snapshot, overrides FROM stage_gen g WHERE g.stage IN (SELECT stage FROM class WHERE stage IS NOT NULL)
         AND (SELECT count(*) FROM stage_gen n WHERE n.stage = g.stage AND n.backend = g.backend AND n.suite = g.suite AND n.id > g.id) < 2
         OR g.id IN (SELECT p.from_gen FROM rollout_pin p JOIN rollout r ON r.id = p.rollout_id WHERE r.state != 'done'
           UNION SELECT p.to_gen FROM rollout_pin p JOIN rollout r ON r.id = p.rollout_id WHERE r.state != 'done')`,
      )
      .all()) {
      out.add(r.base_snapshot);
      for (const o of JSON.parse(r.overrides) as Override[]) out.add(o.snapshot);
    }
    return out;
  }

  setPublished(id: number, sha256: string | null): void {
    this.db.prepare('UPDATE stage_gen SET published_sha256 = ? WHERE id = ?').run(sha256, id);
  }
}
