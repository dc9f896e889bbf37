// The machine list with filters, sort and pages (`aptgate machines list`, GET /machines):
// filtered and sorted over every machine's compact facts (machine-rows.ts), and only the machines
// of the page asked for are summarized in full (summarize: outdated, reboot, disagreements, jobs).
import { fail } from '../../errors.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import type { FleetQueryContext } from './context.js';
import { machineFacts, type MachineFactsRow } from './machine-rows.js';
import { inState, type MachineState, type StateClock } from './machine-states.js';
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

/** Machine id → the name of its first class in precedence order (explicit members and rules). */
function firstClass(ctx: FleetQueryContext, rows: readonly MachineFactsRow[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const c of ctx.fleet.classes.all())
    for (const id of ctx.fleet.classes.membersOf(c.id, rows)) if (!out.has(id)) out.set(id, c.name);
  return out;
}

type Key = string | number | null;

function sortKey(sort: MachineSort, classes: Map<number, string> | undefined): (m: MachineFactsRow) => Key {
  switch (sort) {
    case 'class':
      return (m) => classes!.get(m.id) ?? null;
    case 'rebootRequired':
      return (m) => (m.rebootRequired === null ? null : m.rebootRequired ? 1 : 0);
    case 'agentVersion':
      return (m) => m.agentVersion;
    default:
      return (m) => m[sort];
  }
}

const compareKeys = (a: Key, b: Key): number =>
  typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), 'en');

/** The machines that match, in order (nulls last either way, then hostname and id). */
export function selectMachines(ctx: FleetQueryContext, rows: MachineFactsRow[], o: MachineQuery): MachineFactsRow[] {
  let out = rows;
  if (o.class !== undefined) {
    const members = new Set(ctx.fleet.classes.membersOf(ctx.fleet.classes.get(o.class).id, rows));
    out = out.filter((m) => members.has(m.id));
  }
  if (o.q !== undefined && o.q !== '') {
    const q = o.q.toLowerCase();
    out = out.filter((m) => m.hostname.toLowerCase().includes(q));
  }
  if (o.status !== undefined) out = out.filter((m) => m.status === o.status);
  if (o.pending) out = out.filter((m) => m.status === 'pending' || m.reenrolment);
  if (o.state !== undefined) out = out.filter((m) => inState(m, o.state!, o.clock));
  const sort = o.sort ?? 'hostname';
  if (sort !== 'hostname' || o.dir === 'desc') {
    const key = sortKey(sort, sort === 'class' ? firstClass(ctx, rows) : undefined);
    const sign = o.dir === 'desc' ? -1 : 1;
    const keyed = out.map((m) => ({ m, k: key(m) }));
    keyed.sort((a, b) => {
      if (a.k === null || b.k === null) {
        if (a.k !== b.k) return a.k === null ? 1 : -1;
      } else {
        const c = compareKeys(a.k, b.k);
        if (c) return sign * c;
      }
      // rows come in hostname, id order: ties keep it (the sort is stable), reversed with desc
      return 0;
    });
    out = keyed.map((x) => x.m);
  }
  return out;
}

/** One page of the list (or all of it), each machine summarized as `machines list --json` shows it. */
export async function queryMachines(ctx: FleetQueryContext, o: MachineQuery): Promise<MachinePage> {
  ctx.fleet.jobs.sweep(ctx.now());
  const rows = selectMachines(ctx, await machineFacts(ctx), o);
  const page = o.page ?? 1;
  const chosen = o.limit === undefined ? rows : rows.slice((page - 1) * o.limit, page * o.limit);
  const memo = new Map<string, MachineOutdated>();
  const slicer = new TimeSlicer();
  const machines: MachineSummary[] = [];
  for (const r of chosen) {
    const m = ctx.fleet.machines.byId(r.id);
    if (m) machines.push(summarize(ctx, m, memo));
    await slicer.tick();
  }
  return { machines, total: rows.length, page, limit: o.limit ?? null };
}
