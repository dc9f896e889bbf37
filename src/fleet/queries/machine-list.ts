// The machine list with filters, sort and pages (`aptgate machines list`, GET /machines):
// filtered, counted, sorted and paged in SQL over every machine's compact facts (machine-rows.ts),
// and only the machines of the page asked for are summarized in full (summarize: outdated, reboot,
// disagreements, jobs).
import { fail } from '../../errors.js';
import { nextTurn, TimeSlicer } from '../../sys/time-slice.js';
import type { FleetQueryContext } from './context.js';
import { factsTable, withCounts } from './machine-rows.js';
import { stateCondition, stateParams, type MachineState, type StateClock } from './machine-states.js';
import { summarize, type MachineOutdated, type MachineSummary } from './machines.js';

export const MACHINE_SORTS = [
  'hostname',
  'id',
  'status',
  'architecture',
  'codename',
  'lastSeen',
  'reportedAt',
  'outdated',
  'security',
  'rebootRequired',
  'agentVersion',
  'class',
] as const;
export type MachineSort = (typeof MACHINE_SORTS)[number];

export interface MachineQuery {
  /** part of the hostname (case-insensitive) */
  q?: string;
  state?: MachineState;
  class?: string;
  status?: 'pending' | 'approved';
  /** waiting for approval: pending, or a re-enrolment waits */
  pending?: boolean;
  sort?: MachineSort;
  dir?: 'asc' | 'desc';
  /** 1-based; with `limit` */
  page?: number;
  /** machines per page; without it, every machine that matches */
  limit?: number;
  clock: StateClock;
}

export interface MachinePage {
  machines: MachineSummary[];
  /** machines that match the filters (all pages) */
  total: number;
  page: number;
  /** null: no pages (every machine that matches) */
  limit: number | null;
}

export function parseSort(value: string): MachineSort {
  if (!(MACHINE_SORTS as readonly string[]).includes(value))
    fail('USAGE', `sort: expected one of ${MACHINE_SORTS.join(', ')}, got "${value.slice(0, 40)}"`);
  return value as MachineSort;
}

/** Machine id → the name of its first class in precedence order (explicit members and rules), a class per turn. */
async function firstClass(ctx: FleetQueryContext): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  await nextTurn();
  const slicer = new TimeSlicer();
  for (const c of ctx.fleet.classes.all()) {
    for (const id of ctx.fleet.classes.membersOf(c.id)) if (!out.has(id)) out.set(id, c.name);
    await slicer.tick();
  }
  return out;
}

// the sort keys as columns of machine-rows.ts's table `f` (`extra`: an expression over machine `m`)
const KEYS: Record<Exclude<MachineSort, 'hostname' | 'class'>, string> = {
  id: 'id',
  status: 'status',
  architecture: 'architecture',
  codename: 'codename',
  lastSeen: 'last_seen',
  reportedAt: 'reported_at',
  outdated: 'outdated',
  security: 'security',
  rebootRequired: 'CASE WHEN reported THEN coalesce(reboot, 0) = 1 END',
  agentVersion: 'extra',
};

// SQLite's binary order, as JavaScript's < on these ASCII names
const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The ids of the machines that match, in order: the key (unknown values last either way), then
 * hostname and id; with `limit`, only the page asked for. Filtered, counted, sorted and paged in
 * SQL; the class sort orders the matches by their first class in JavaScript.
 */
export async function selectMachines(
  ctx: FleetQueryContext,
  o: MachineQuery,
): Promise<{ ids: number[]; total: number }> {
  const params: Record<string, unknown> = stateParams(o.clock);
  const where: string[] = [];
  if (o.class !== undefined) {
    // by SQL (classes.ts): no rule matched in JavaScript against every machine
    params.members = JSON.stringify(ctx.fleet.classes.membersOf(ctx.fleet.classes.get(o.class).id));
    where.push('id IN (SELECT value FROM json_each(@members))');
  }
  if (o.q !== undefined && o.q !== '') {
    params.q = o.q.toLowerCase();
    where.push('instr(lower(hostname), @q) > 0');
  }
  if (o.status !== undefined) {
    params.status = o.status;
    where.push('status = @status');
  }
  if (o.pending) where.push(stateCondition('pending'));
  if (o.state !== undefined) where.push(stateCondition(o.state));
  const sort = o.sort ?? 'hostname';
  const dir = o.dir === 'desc' ? 'DESC' : 'ASC';
  const table = factsTable(sort === 'agentVersion' ? "json_extract(m.facts, '$.agentVersion')" : 'NULL');
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const page = o.page ?? 1;
  const paged = o.limit !== undefined;
  const count = () =>
    ctx.db.prepare<[object], [number]>(`${table} SELECT count(*) FROM f ${filter}`).raw(true).get(params)![0];
  if (sort === 'class') {
    const [rows, total] = await withCounts(ctx, () => [
      ctx.db
        .prepare<[object], [number]>(`${table} SELECT id FROM f ${filter} ORDER BY hostname, id`)
        .raw(true)
        .all(params)
        .map((r) => r[0]),
      count(),
    ]);
    const classes = await firstClass(ctx);
    // the matches of each class in hostname order, the classes in name order, no class last
    const byClass = new Map<string | null, number[]>();
    for (const id of rows) {
      const k = classes.get(id) ?? null;
      const list = byClass.get(k);
      if (list) list.push(id);
      else byClass.set(k, [id]);
    }
    const names = [...byClass.keys()].filter((k): k is string => k !== null).sort(compareKeys);
    if (dir === 'DESC') names.reverse();
    const sorted = [...names, null].flatMap((k) => byClass.get(k) ?? []);
    return { ids: paged ? sorted.slice((page - 1) * o.limit!, page * o.limit!) : sorted, total };
  }
  const order =
    sort === 'hostname' ? `hostname ${dir}, id ${dir}` : `${KEYS[sort]} IS NULL, ${KEYS[sort]} ${dir}, hostname, id`;
  const total = await withCounts(ctx, count);
  // a turn between the count and the sorted page (each a short hold); the table holds the
  // current counts still, whichever request put them there last
  await nextTurn();
  const ids = ctx.db
    .prepare<[object], [number]>(`${table} SELECT id FROM f ${filter} ORDER BY ${order} LIMIT @limit OFFSET @offset`)
    .raw(true)
    .all({ ...params, limit: paged ? o.limit! : -1, offset: paged ? (page - 1) * o.limit! : 0 })
    .map((r) => r[0]);
  return { ids, total };
}

/** One page of the list (or all of it), each machine summarized as `machines list --json` shows it. */
export async function queryMachines(ctx: FleetQueryContext, o: MachineQuery): Promise<MachinePage> {
  ctx.fleet.jobs.sweep(ctx.now());
  const { ids, total } = await selectMachines(ctx, o);
  const page = o.page ?? 1;
  // a turn between the statements and the summaries (sliced from here on)
  await nextTurn();
  const memo = new Map<string, MachineOutdated>();
  const slicer = new TimeSlicer();
  const machines: MachineSummary[] = [];
  for (const id of ids) {
    const m = ctx.fleet.machines.byId(id);
    if (m) machines.push(summarize(ctx, m, memo));
    await slicer.tick();
  }
  return { machines, total, page, limit: o.limit ?? null };
}
