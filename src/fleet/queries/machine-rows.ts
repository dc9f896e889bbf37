// The compact facts of every machine as one SQL table expression (`f`): what the machine list
// filters and sorts by and the overview counts (machine-states.ts), so that both are a statement
// over 20,000 rows that returns counts or a page of ids, never 20,000 objects in JavaScript. The
// outdated and security counts come from the cached answers' count columns, once per (profile,
// view) pair: a cached answer that is missing or older than its view's current snapshots is
// computed first (in slices, or in the server's worker) so that the counts are those `machines
// show` gives. The reports' view and reboot flag are read through the covering index of migration 12.
import { nextTurn, TimeSlicer } from '../../sys/time-slice.js';
import type { ViewSpec } from '../views.js';
import { viewNotReady, type FleetQueryContext } from './context.js';

/** The distinct (profile, view) pairs the machines' last reports name. */
const PAIRS = `SELECT DISTINCT m.profile_id, r.view_id FROM machine m
  JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = m.id
  WHERE m.profile_id IS NOT NULL AND r.view_id IS NOT NULL`;
const CACHED =
  'SELECT snapshots, outdated, security FROM outdated_cache INDEXED BY outdated_cache_counts WHERE profile_id = ? AND view_id = ?';

/**
 * Each (profile, view) pair's current outdated and security counts, for the pairs whose view is
 * ready (a machine of any other pair has unknown counts).
 */
export async function currentCounts(
  ctx: FleetQueryContext,
): Promise<[profileId: number, viewId: number, outdated: number, security: number][]> {
  const pairs = ctx.db.prepare<[], [number, number]>(PAIRS).raw(true).all();
  const cached = ctx.db.prepare<[number, number], [string, number | null, number | null]>(CACHED).raw(true);
  // per view, once: whether answers in it can be known, and the snapshots a current answer names
  const views = new Map<number, { ready: boolean; current: string }>();
  const viewOf = (id: number) => {
    let v = views.get(id);
    if (!v) {
      const ready = viewNotReady(ctx, id) === undefined;
      const text = ctx.viewDefs.view(id);
      const current = ready && text !== undefined ? ctx.views.currentIds(JSON.parse(text) as ViewSpec).join(',') : '';
      v = { ready, current };
      views.set(id, v);
    }
    return v;
  };
  const slicer = new TimeSlicer();
  const out: [number, number, number, number][] = [];
  for (const [profileId, viewId] of pairs) {
    const view = viewOf(viewId);
    if (!view.ready) continue;
    const c = cached.get(profileId, viewId);
    if (c && c[0] === view.current && c[1] !== null && c[2] !== null) out.push([profileId, viewId, c[1], c[2]]);
    else {
      const a = await ctx.outdated.getInSlices(profileId, viewId, slicer);
      out.push([profileId, viewId, a.result.counts.outdated, a.result.counts.security]);
    }
    await slicer.tick();
  }
  return out;
}

// the counts of the pairs in the connection's own temporary table, with the index the join needs
// (a CTE over JSON is scanned once per machine: 20,000 × 200)
const COUNTS_TABLE =
  'CREATE TEMP TABLE IF NOT EXISTS machine_counts (p INTEGER, v INTEGER, o INTEGER, s INTEGER, PRIMARY KEY (p, v)) WITHOUT ROWID';

/**
 * Runs `statements` (synchronous: nothing else runs on the connection meanwhile) with the
 * current counts (currentCounts) where factsTable() reads them. The table stays filled (always
 * a whole set, put in one transaction): a later statement of the same request reads the counts
 * of its own fill or of a newer request's.
 */
export async function withCounts<T>(ctx: FleetQueryContext, statements: () => T): Promise<T> {
  const counts = await currentCounts(ctx);
  // a turn between finding the pairs and the statements: each is a short hold
  await nextTurn();
  ctx.db.exec(COUNTS_TABLE);
  const insert = ctx.db.prepare<[number, number, number, number]>(
    'INSERT INTO temp.machine_counts VALUES (?, ?, ?, ?)',
  );
  ctx.db.transaction(() => {
    ctx.db.exec('DELETE FROM temp.machine_counts');
    for (const c of counts) insert.run(...c);
  })();
  return statements();
}

/**
 * `WITH f AS (…)`: one row per machine with id, hostname, architecture, codename, status,
 * last_seen, reported_at, reported (it has a report), reboot (its report's flag), outdated and
 * security (null: not known), reenrol (a re-enrolment waits), clone, and `extra` (the SQL
 * expression given, over machine `m`; null without). Read it inside withCounts().
 */
export function factsTable(extra = 'NULL'): string {
  return `WITH f AS (
      SELECT m.id AS id, m.hostname AS hostname, m.architecture AS architecture, m.codename AS codename,
        m.status AS status, m.last_seen AS last_seen, m.reported_at AS reported_at,
        r.machine_id IS NOT NULL AS reported, r.reboot_required AS reboot,
        pc.o AS outdated, pc.s AS security,
        EXISTS (SELECT 1 FROM machine_reenrol e WHERE e.machine_id = m.id) AS reenrol,
        m.clone_machine_id IS NOT NULL AS clone, ${extra} AS extra
      FROM machine m
      LEFT JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = m.id
      LEFT JOIN temp.machine_counts pc ON pc.p = m.profile_id AND pc.v = r.view_id
    )`;
}
