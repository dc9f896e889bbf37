// The machine list with filters, sort and pages (`aptgate machines list`, GET /machines):
// filtered and sorted over every machine's compact facts (machine-rows.ts), and only the machines
// of the page asked for are summarized in full (summarize: outdated, reboot, disagreements, jobs).
import { fail } from '../../errors.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import type { FleetQueryContext } from './context.js';
import { agentVersions, machineFacts, type MachineFactsRow } from './machine-rows.js';
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
function firstClass(ctx: FleetQueryContext): Map<number, string> {
  const out = new Map<number, string>();
  for (const c of ctx.fleet.classes.all())
    for (const id of ctx.fleet.classes.membersOf(c.id)) if (!out.has(id)) out.set(id, c.name);
  return out;
}

type Key = string | number | null;

function sortKey(ctx: FleetQueryContext, sort: MachineSort): (m: MachineFactsRow) => Key {
  switch (sort) {
    case 'class': {
      const classes = firstClass(ctx);
      return (m) => classes.get(m.id) ?? null;
    }
    case 'rebootRequired':
      return (m) => (m.rebootRequired === null ? null : m.rebootRequired ? 1 : 0);
    case 'agentVersion': {
      const versions = agentVersions(ctx);
      return (m) => versions.get(m.id) ?? null;
    }
    default:
      return (m) => m[sort];
  }
}

// binary order, as SQLite's ORDER BY hostname (localeCompare costs ICU per comparison)
const compareKeys = (a: string | number, b: string | number): number =>
  typeof a === 'number' && typeof b === 'number' ? a - b : a < b ? -1 : a > b ? 1 : 0;
const byHostname = (a: MachineFactsRow, b: MachineFactsRow): number =>
  a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.id - b.id;

/**
 * The machines that match, in order: the key (unknown values last either way), then hostname and
 * id. Filtered first, so that only the matches are sorted.
 */
export function selectMachines(ctx: FleetQueryContext, rows: MachineFactsRow[], o: MachineQuery): MachineFactsRow[] {
  let out = rows;
  if (o.class !== undefined) {
    // by SQL (classes.ts): no rule matched in JavaScript against every machine
    const members = new Set(ctx.fleet.classes.membersOf(ctx.fleet.classes.get(o.class).id));
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
  const sign = o.dir === 'desc' ? -1 : 1;
  if (sort === 'hostname') return out.sort((a, b) => sign * byHostname(a, b));
  const key = sortKey(ctx, sort);
  const keyed = out.map((m) => ({ m, k: key(m) }));
  keyed.sort((a, b) => {
    if (a.k === null || b.k === null) {
      if (a.k !== b.k) return a.k === null ? 1 : -1;
    } else {
      const c = compareKeys(a.k, b.k);
      if (c) return sign * c;
    }
    return byHostname(a.m, b.m);
  });
  return keyed.map((x) => x.m);
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
