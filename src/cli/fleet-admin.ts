// Classes, jobs and schedules for the administrator: plain functions over an open fleet that
// return the documented JSON shapes (docs/cli-fleet.md).
import { readFileSync } from 'node:fs';
import { fail } from '../errors.js';
import { formatWindow, parseWindow } from '../fleet/classes.js';
import type { JobPolicy } from '../protocol/wire.js';
import type { ClassRow, RuleField } from '../state/classes.js';
import { OPEN_STATES, type JobRow, type JobState } from '../state/jobs.js';
import { iso, type FleetContext } from './fleet-context.js';

// ---- classes ----

export interface ClassInfoJson {
  name: string;
  description: string;
  priority: number;
  members: Array<{ id: number; hostname: string }>;
  rules: Array<{ field: RuleField; pattern: string }>;
  windows: Array<{ id: number; window: string }>;
  schedules: Array<{ id: number; kind: string; cron: string }>;
  /** the stage of the release gate its machines follow (null: none) */
  stage: string | null;
  /** its machines are test machines of that stage */
  gate: boolean;
}

export function listClasses(ctx: FleetContext): ClassInfoJson[] {
  const names = new Map(ctx.fleet.machines.all().map((m) => [m.id, m.hostname]));
  const schedules = ctx.fleet.schedules.list();
  return ctx.fleet.classes.list().map((c) => ({
    name: c.name,
    description: c.description,
    priority: c.priority,
    members: c.members.map((id) => ({ id, hostname: names.get(id) ?? '?' })),
    rules: c.rules,
    windows: c.windows.map((w) => ({ id: w.id, window: formatWindow(w) })),
    schedules: schedules.filter((s) => s.classId === c.id).map((s) => ({ id: s.id, kind: s.kind, cron: s.cron })),
    stage: c.stage,
    gate: c.gate,
  }));
}

/** Creates a class, bound to a stage when one is given (both or neither). */
export function createClass(
  ctx: FleetContext,
  name: string,
  o: { description?: string; priority?: number; stage?: string; gate?: boolean },
): ClassRow {
  if (o.gate && o.stage === undefined)
    fail('USAGE', '--gate needs --stage STAGE (a gate class makes test machines of a stage)');
  return ctx.db.transaction(() => {
    const c = ctx.fleet.classes.create(name, {
      ...(o.description === undefined ? {} : { description: o.description }),
      ...(o.priority === undefined ? {} : { priority: o.priority }),
    });
    return o.stage === undefined
      ? c
      : ctx.fleet.classes.bindStage(name, o.stage, o.gate === true, ctx.config.gate.stages);
  })();
}

export interface ClassBinding {
  class: string;
  stage: string | null;
  gate: boolean;
  members: number;
}

/** Binds a class to a stage (null: unbinds it); with `gate` its machines are the stage's test machines. */
export function bindClass(ctx: FleetContext, name: string, stage: string | null, gate: boolean): ClassBinding {
  const c = ctx.fleet.classes.bindStage(name, stage, gate, ctx.config.gate.stages);
  return { class: c.name, stage: c.stage, gate: c.gate, members: ctx.fleet.classes.membersOf(c.id).length };
}

/** Adds explicit members; all references are resolved before anything changes. */
export function addMembers(
  ctx: FleetContext,
  name: string,
  refs: readonly string[],
): Array<{ id: number; hostname: string }> {
  ctx.fleet.classes.get(name);
  const ms = refs.map((r) => ctx.fleet.machine(r));
  for (const m of ms) ctx.fleet.classes.addMember(name, m.id);
  return ms.map((m) => ({ id: m.id, hostname: m.hostname }));
}

/** Removes explicit members; says which of them a rule of the class still matches. */
export function removeMembers(
  ctx: FleetContext,
  name: string,
  refs: readonly string[],
): Array<{ id: number; hostname: string; removed: boolean; stillByRule: boolean }> {
  const c = ctx.fleet.classes.get(name);
  const ms = refs.map((r) => ctx.fleet.machine(r));
  const out = ms.map((m) => ({
    id: m.id,
    hostname: m.hostname,
    removed: ctx.fleet.classes.removeMember(name, m.id),
    stillByRule: false,
  }));
  const members = new Set(ctx.fleet.classes.membersOf(c.id));
  for (const o of out) o.stillByRule = members.has(o.id);
  return out;
}

export function removeRule(ctx: FleetContext, name: string, field: string, pattern: string): void {
  if (!ctx.fleet.classes.removeRule(name, field, pattern))
    fail('NOT_FOUND', `class ${name} has no rule ${field} ${pattern.slice(0, 80)}`);
}

export function addWindow(
  ctx: FleetContext,
  name: string,
  text: string,
): { id: number; class: string; window: string } {
  const c = ctx.fleet.classes.get(name);
  const w = parseWindow(text);
  const id = ctx.fleet.classes.store.addWindow({ classId: c.id, ...w });
  return { id, class: c.name, window: formatWindow(w) };
}

export function removeWindow(ctx: FleetContext, id: number): void {
  if (!ctx.fleet.classes.store.removeWindow(id)) fail('NOT_FOUND', `no window ${id}`);
}

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

const hostnamesOf = (ctx: FleetContext) => new Map(ctx.fleet.machines.all().map((m) => [m.id, m.hostname]));

export interface JobOptions {
  packages?: string[];
  securityOnly?: boolean;
  sourceName?: string;
  sourceFile?: string;
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
  if (o.sourceName !== undefined || o.sourceFile !== undefined) {
    if (kind !== 'add-source' && kind !== 'remove-source')
      fail('USAGE', '--source-name and --source-file are for add-source and remove-source jobs');
    params['name'] = o.sourceName;
  }
  if (kind === 'add-source') {
    if (o.sourceFile === undefined) fail('USAGE', 'add-source needs --source-file FILE (a deb822 .sources file)');
    try {
      params['content'] = readFileSync(o.sourceFile, 'utf8');
    } catch (err) {
      fail('USAGE', `cannot read ${o.sourceFile}: ${(err as Error).message}`);
    }
  } else if (o.sourceFile !== undefined) fail('USAGE', '--source-file is for add-source jobs');
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

export function addJobs(
  ctx: FleetContext,
  kind: string,
  targets: readonly string[],
  o: JobOptions & { notBefore?: number; deadlineMs?: number },
): JobsAdded {
  if (!targets.length) fail('USAGE', 'name at least one target with --to (class, machine id or hostname)');
  const { params, policy } = jobSpec(kind, o);
  const machines = ctx.fleet.targets(targets);
  if (!machines.length) fail('USAGE', `no machine is in ${targets.join(', ').slice(0, 200)}`);
  const now = ctx.now();
  const deadline =
    o.deadlineMs === undefined
      ? undefined
      : (o.notBefore !== undefined && o.notBefore > now ? o.notBefore : now) + o.deadlineMs;
  const ids = ctx.fleet.jobs.create(
    machines.map((m) => m.id),
    {
      kind,
      params,
      policy,
      origin: 'cli',
      notBefore: o.notBefore ?? null,
      ...(deadline === undefined ? {} : { deadline }),
    },
  );
  return {
    kind,
    jobs: ids.map((id, i) => ({
      id,
      machine: { id: machines[i]!.id, hostname: machines[i]!.hostname },
      pending: machines[i]!.status === 'pending',
    })),
  };
}

export const JOB_STATES: readonly JobState[] = [...OPEN_STATES, 'succeeded', 'failed', 'expired', 'cancelled'];

export function listJobs(ctx: FleetContext, o: { machine?: string; state?: string; limit?: number } = {}): JobInfo[] {
  if (o.state !== undefined && !JOB_STATES.includes(o.state as JobState))
    fail('USAGE', `--state is one of ${JOB_STATES.join(', ')}`);
  const machineId = o.machine === undefined ? undefined : ctx.fleet.machine(o.machine).id;
  ctx.fleet.jobs.store.sweep(ctx.now());
  const names = hostnamesOf(ctx);
  return ctx.fleet.jobs.store
    .list({
      ...(machineId === undefined ? {} : { machineId }),
      ...(o.state === undefined ? {} : { state: o.state as JobState }),
      limit: o.limit ?? 100,
    })
    .map((j) => jobInfo(j, names));
}

export function showJob(ctx: FleetContext, id: number): JobInfo & { transcript: string | null } {
  ctx.fleet.jobs.store.sweep(ctx.now());
  const j = ctx.fleet.jobs.store.byId(id);
  if (!j) fail('NOT_FOUND', `no job ${id}`);
  return { ...jobInfo(j, hostnamesOf(ctx)), transcript: j.transcript };
}

export function cancelJob(ctx: FleetContext, id: number): JobInfo {
  ctx.fleet.jobs.cancel(id);
  return jobInfo(ctx.fleet.jobs.store.byId(id)!, hostnamesOf(ctx));
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

export function listSchedules(ctx: FleetContext): ScheduleInfo[] {
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
  ctx: FleetContext,
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
