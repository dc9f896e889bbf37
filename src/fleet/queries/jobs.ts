// Jobs and schedules for the administrator and the API: what a job's options make of it, adding,
// listing, showing and cancelling jobs, schedules; the JSON shapes of docs/cli-fleet.md.
import { fail } from '../../errors.js';
import type { JobPolicy } from '../../protocol/wire.js';
import { OPEN_STATES, type JobRow, type JobState } from '../../state/jobs.js';
import { nextTurn } from '../../sys/time-slice.js';
import { iso, type FleetQueryContext } from './context.js';

// ---- jobs ----

export interface JobInfo {
  id: number;
  machine: { id: number; hostname: string };
  kind: string;
  params: Record<string, unknown>;
  policy: JobPolicy;
  state: JobState;
  origin: string;
  createdAt: string;
  notBefore: string | null;
  deadline: string | null;
  attempts: number;
  maxAttempts: number;
  deliveredAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  durationMs: number | null;
  failure: string | null;
  summary: string | null;
}

export function jobInfo(j: JobRow, hostnames: ReadonlyMap<number, string>): JobInfo {
  return {
    id: j.id,
    machine: { id: j.machineId, hostname: hostnames.get(j.machineId) ?? '?' },
    kind: j.kind,
    params: JSON.parse(j.params) as Record<string, unknown>,
    policy: JSON.parse(j.policy) as JobPolicy,
    state: j.state,
    origin: j.origin,
    createdAt: iso(j.createdAt)!,
    notBefore: iso(j.notBefore),
    deadline: iso(j.deadline),
    attempts: j.attempts,
    maxAttempts: j.maxAttempts,
    deliveredAt: iso(j.deliveredAt),
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
    exitCode: j.exitCode,
    durationMs: j.durationMs,
    failure: j.failure,
    summary: j.summary,
  };
}

/** The host names of these machines only (a list of jobs never reads the whole fleet). */
function hostnamesOf(ctx: FleetQueryContext, ids: Iterable<number>): Map<number, string> {
  const wanted = [...new Set(ids)];
  if (!wanted.length) return new Map();
  const rows = ctx.db
    .prepare<[string], { id: number; hostname: string }>(
      'SELECT id, hostname FROM machine WHERE id IN (SELECT value FROM json_each(?))',
    )
    .all(JSON.stringify(wanted));
  return new Map(rows.map((r) => [r.id, r.hostname]));
}

export interface JobOptions {
  packages?: string[];
  securityOnly?: boolean;
  sourceName?: string;
  /** add-source: the deb822 text of the .sources file (the command line reads --source-file) */
  sourceContent?: string;
  /** release-upgrade: the release to move to */
  codename?: string;
  allowReboot?: boolean;
  repairDpkg?: boolean;
  lockTimeout?: number;
  /** seconds the job may take on the machine */
  timeout?: number;
}

const PACKAGE_KINDS = new Set(['install', 'remove', 'hold', 'unhold']);

/** Parameters and policy of a job from command-line options; options that do not fit the kind are refused. */
export function jobSpec(kind: string, o: JobOptions): { params: Record<string, unknown>; policy: Partial<JobPolicy> } {
  const params: Record<string, unknown> = {};
  if (o.packages?.length) {
    if (!PACKAGE_KINDS.has(kind))
      fail('USAGE', `--packages is for ${[...PACKAGE_KINDS].join(', ')} jobs, not ${kind.slice(0, 40)}`);
    params['packages'] = o.packages;
  }
  if (o.securityOnly) {
    if (kind !== 'upgrade') fail('USAGE', '--security-only is for upgrade jobs');
    params['securityOnly'] = true;
  }
  if (o.sourceName !== undefined || o.sourceContent !== undefined) {
    if (kind !== 'add-source' && kind !== 'remove-source')
      fail('USAGE', '--source-name and --source-file are for add-source and remove-source jobs');
    params['name'] = o.sourceName;
  }
  if (kind === 'add-source') {
    if (o.sourceContent === undefined) fail('USAGE', 'add-source needs --source-file FILE (a deb822 .sources file)');
    params['content'] = o.sourceContent;
  } else if (o.sourceContent !== undefined) fail('USAGE', '--source-file is for add-source jobs');
  if (o.codename !== undefined) {
    if (kind !== 'release-upgrade') fail('USAGE', '--codename is for release-upgrade jobs');
    params['codename'] = o.codename;
  }
  const policy: Partial<JobPolicy> = {};
  if (o.allowReboot !== undefined) policy.allowReboot = o.allowReboot;
  if (o.repairDpkg !== undefined) policy.repairDpkg = o.repairDpkg;
  if (o.lockTimeout !== undefined) policy.lockTimeout = o.lockTimeout;
  if (o.timeout !== undefined) policy.timeout = o.timeout;
  return { params, policy };
}

export interface JobsAdded {
  kind: string;
  jobs: Array<{ id: number; machine: { id: number; hostname: string }; pending: boolean }>;
}

/**
 * Queues a job for every machine of the targets. The classes' members are found in slices, the
 * jobs added a few thousand per turn of the event loop (all of them, or none when a turn fails).
 */
export async function addJobs(
  ctx: FleetQueryContext,
  kind: string,
  targets: readonly string[],
  o: JobOptions & { notBefore?: number; deadlineMs?: number; origin?: string },
): Promise<JobsAdded> {
  if (!targets.length) fail('USAGE', 'name at least one target with --to (class, machine id or hostname)');
  const { params, policy } = jobSpec(kind, o);
  const machines = await ctx.fleet.targetsInSlices(targets);
  if (!machines.length) fail('USAGE', `no machine is in ${targets.join(', ').slice(0, 200)}`);
  await nextTurn();
  const now = ctx.now();
  const deadline =
    o.deadlineMs === undefined
      ? undefined
      : (o.notBefore !== undefined && o.notBefore > now ? o.notBefore : now) + o.deadlineMs;
  const made = await ctx.fleet.jobs.createInTurns(
    machines.map((m) => m.id),
    {
      kind,
      params,
      policy,
      origin: o.origin ?? 'cli',
      notBefore: o.notBefore ?? null,
      ...(deadline === undefined ? {} : { deadline }),
    },
    { parents: new Map(machines.map((m) => [m.id, m.parentId])) },
  );
  // the answer (20,000 jobs: a few milliseconds, then its serialization) in a turn of its own
  await nextTurn();
  const byId = new Map(machines.map((m) => [m.id, m]));
  return {
    kind,
    jobs: made.map(({ id, machineId }) => {
      const m = byId.get(machineId)!;
      return { id, machine: { id: m.id, hostname: m.hostname }, pending: m.status === 'pending' };
    }),
  };
}

export const JOB_STATES: readonly JobState[] = [...OPEN_STATES, 'succeeded', 'failed', 'expired', 'cancelled'];

/** Jobs newest first; `before`: only older than this job id (the next page). */
export function listJobs(
  ctx: FleetQueryContext,
  o: { machine?: string; state?: string; before?: number; limit?: number } = {},
): JobInfo[] {
  if (o.state !== undefined && !JOB_STATES.includes(o.state as JobState))
    fail('USAGE', `--state is one of ${JOB_STATES.join(', ')}`);
  const machineId = o.machine === undefined ? undefined : ctx.fleet.machine(o.machine).id;
  ctx.fleet.jobs.sweep(ctx.now());
  const rows = ctx.fleet.jobs.list({
    ...(machineId === undefined ? {} : { machineId }),
    ...(o.state === undefined ? {} : { state: o.state as JobState }),
    ...(o.before === undefined ? {} : { before: o.before }),
    limit: o.limit ?? 100,
    brief: true,
  });
  const names = hostnamesOf(
    ctx,
    rows.map((j) => j.machineId),
  );
  return rows.map((j) => jobInfo(j, names));
}

export function showJob(ctx: FleetQueryContext, id: number): JobInfo & { transcript: string | null } {
  ctx.fleet.jobs.sweep(ctx.now());
  const j = ctx.fleet.jobs.byId(id);
  if (!j) fail('NOT_FOUND', `no job ${id}`);
  return { ...jobInfo(j, hostnamesOf(ctx, [j.machineId])), transcript: j.transcript };
}

export function cancelJob(ctx: FleetQueryContext, id: number): JobInfo {
  ctx.fleet.jobs.cancel(id);
  const j = ctx.fleet.jobs.byId(id)!;
  return jobInfo(j, hostnamesOf(ctx, [j.machineId]));
}

// ---- schedules ----

export interface ScheduleInfo {
  id: number;
  class: string;
  kind: string;
  params: Record<string, unknown>;
  policy: JobPolicy;
  cron: string;
  /** seconds a fired job may wait for its machine */
  deadlineS: number;
  nextAt: string;
  lastFired: string | null;
}

export function listSchedules(ctx: FleetQueryContext): ScheduleInfo[] {
  return ctx.fleet.schedules.list().map((s) => ({
    id: s.id,
    class: s.className,
    kind: s.kind,
    params: JSON.parse(s.params) as Record<string, unknown>,
    policy: JSON.parse(s.policy) as JobPolicy,
    cron: s.cron,
    deadlineS: s.deadlineS,
    nextAt: iso(s.nextAt)!,
    lastFired: iso(s.lastFired),
  }));
}

export function addSchedule(
  ctx: FleetQueryContext,
  o: JobOptions & { class: string; kind: string; cron: string; deadlineMs?: number },
): ScheduleInfo {
  const { params, policy } = jobSpec(o.kind, o);
  const s = ctx.fleet.schedules.add({
    className: o.class,
    kind: o.kind,
    params,
    policy,
    cron: o.cron,
    ...(o.deadlineMs === undefined ? {} : { deadlineS: Math.round(o.deadlineMs / 1000) }),
  });
  return listSchedules(ctx).find((x) => x.id === s.id)!;
}

export function removeSchedule(ctx: FleetQueryContext, id: number): { removed: number } {
  ctx.fleet.schedules.remove(id);
  return { removed: id };
}
