// Where a fix stands in the release gate's ladder: per stage, the highest version of the source
// its current content offers for the release's suites, against the fixed version ("fixed in test,
// pending promotion to production"). A stage's content is its base snapshot but for the sources
// overridden, which come from their own snapshot (gate/content.ts); only the source's binaries are
// read (by name, indexed), never a whole suite.
import { compareVersions } from '../index/version.js';
import { cached, type Db } from '../state/db.js';
import type { SnapshotStore } from '../state/snapshots.js';
import type { StageStore } from '../state/stages.js';

export interface StageSuiteStanding {
  backend: string;
  suite: string;
  /** the highest version of the source the stage offers there (null: none) */
  version: string | null;
}

export interface StageStanding {
  stage: string;
  /** some suite of the stage offers a version ≥ fixed */
  fixed: boolean;
  suites: StageSuiteStanding[];
}

/** Names looked up at once (SQLite's parameter limit is far above). */
const NAMES_MAX = 200;

export class StageLadder {
  constructor(
    private readonly db: Db,
    private readonly stages: StageStore,
    private readonly snapshots: SnapshotStore,
  ) {}

  /** The highest source version of `source` among the binaries `names` a snapshot has (null: none). */
  private versionIn(snapshotId: number, source: string, names: readonly string[]): string | null {
    let best: string | null = null;
    for (let i = 0; i < names.length; i += NAMES_MAX) {
      const part = names.slice(i, i + NAMES_MAX);
      const rows = this.db
        .prepare<unknown[], { v: string }>(
          `SELECT DISTINCT p.source_version AS v FROM pkg p
           JOIN index_entry e ON e.pkg_id = p.id
           JOIN snapshot_index si ON si.index_file_id = e.index_file_id AND si.snapshot_id = ?
           WHERE p.package IN (${part.map(() => '?').join(',')}) AND p.source = ?`,
        )
        .all(snapshotId, ...part, source);
      for (const r of rows) if (best === null || compareVersions(r.v, best) > 0) best = r.v;
    }
    return best;
  }

  /** Whether a generation's suite belongs to a release (bookworm: bookworm, bookworm-security, ...). */
  private inRelease(suite: string, baseSnapshot: number, release: string): boolean {
    const names = [suite];
    const snap = this.snapshots.byId(baseSnapshot);
    if (snap?.codename) names.push(snap.codename);
    return names.some((n) => n === release || n.startsWith(`${release}-`));
  }

  /**
   * Per stage of the ladder (in order), what its content offers of `source` in the suites of
   * `release`; `names` are the source's binaries (as installed on the machines, and the source's own name).
   */
  standing(
    ladder: readonly string[],
    release: string,
    source: string,
    names: readonly string[],
    fixed: string,
  ): StageStanding[] {
    const count = cached<[], { n: number }>(this.db, 'SELECT count(*) AS n FROM stage_gen').get()!.n;
    if (count === 0) return [];
    return ladder.map((stage) => {
      const suites = this.stages
        .currentAll(stage)
        .filter((g) => this.inRelease(g.suite, g.baseSnapshot, release))
        .map((g) => ({
          backend: g.backend,
          suite: g.suite,
          version: this.versionIn(
            g.overrides.find((o) => o.source === source)?.snapshot ?? g.baseSnapshot,
            source,
            names,
          ),
        }));
      return {
        stage,
        fixed: suites.some((s) => s.version !== null && compareVersions(s.version, fixed) >= 0),
        suites,
      };
    });
  }
}

/** "fixed in test, pending promotion to production" and the like. */
export function ladderText(st: readonly StageStanding[]): string {
  if (!st.length) return 'no stages';
  const fixedIn = st.filter((s) => s.fixed).map((s) => s.stage);
  const pending = st.filter((s) => !s.fixed).map((s) => s.stage);
  if (!fixedIn.length) return 'fixed in no stage';
  if (!pending.length) return `fixed in every stage (${fixedIn.join(', ')})`;
  return `fixed in ${fixedIn.join(', ')}, pending promotion to ${pending.join(', ')}`;
}
