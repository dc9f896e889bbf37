// Classes for the administrator and the API: list, create, bind to a stage, members, rules and
// maintenance windows; the JSON shapes of docs/cli-fleet.md.
import { fail } from '../../errors.js';
import type { ClassRow, RuleField, RuleRow, WindowRow } from '../../state/classes.js';
import { formatWindow, parseWindow } from '../classes.js';
import type { FleetQueryContext } from './context.js';

// ---- classes ----

/** A class as classes.list gives it: its members counted (a class may hold 20,000 machines). */
export interface ClassSummaryJson {
  name: string;
  description: string;
  priority: number;
  /** machines in the class: explicit members and those a rule matches */
  memberCount: number;
  rules: Array<{ field: RuleField; pattern: string }>;
  windows: Array<{ id: number; window: string }>;
  schedules: Array<{ id: number; kind: string; cron: string }>;
  /** the stage of the release gate its machines follow (null: none) */
  stage: string | null;
  /** its machines are test machines of that stage */
  gate: boolean;
}

/** One class (classes.show): as in the list, with one page of its members in id order. */
export interface ClassInfoJson extends ClassSummaryJson {
  members: Array<{ id: number; hostname: string }>;
  page: number;
  limit: number;
}

/** Members a page of classes.show holds by default and at most. */
export const MEMBER_PAGE = 100;
export const MEMBER_PAGE_MAX = 1000;

function summaryJson(
  c: ClassRow,
  memberCount: number,
  rules: readonly RuleRow[],
  windows: readonly WindowRow[],
  schedules: ReadonlyArray<{ id: number; classId: number; kind: string; cron: string }>,
): ClassSummaryJson {
  return {
    name: c.name,
    description: c.description,
    priority: c.priority,
    memberCount,
    rules: rules.filter((r) => r.classId === c.id).map((r) => ({ field: r.field, pattern: r.pattern })),
    windows: windowsJson(windows.filter((w) => w.classId === c.id)),
    schedules: schedules.filter((s) => s.classId === c.id).map((s) => ({ id: s.id, kind: s.kind, cron: s.cron })),
    stage: c.stage,
    gate: c.gate,
  };
}

const windowsJson = (ws: readonly WindowRow[]) => ws.map((w) => ({ id: w.id, window: formatWindow(w) }));

/** Every class with its members counted: one pass over the fleet, in slices. */
export async function listClasses(ctx: FleetQueryContext): Promise<ClassSummaryJson[]> {
  const classes = ctx.fleet.classes.all();
  const byClass = await ctx.fleet.classes.membersInSlices(classes.map((c) => c.id));
  const rules = ctx.fleet.classes.rules();
  const windows = ctx.fleet.classes.windows();
  const schedules = ctx.fleet.schedules.list();
  return classes.map((c) => summaryJson(c, byClass.get(c.id)!.length, rules, windows, schedules));
}

/** One class as listClasses shows it, with a page of its members (NOT_FOUND). */
export async function showClass(
  ctx: FleetQueryContext,
  name: string,
  o: { page?: number; limit?: number } = {},
): Promise<ClassInfoJson> {
  const c = ctx.fleet.classes.get(name);
  const page = o.page ?? 1;
  const limit = o.limit ?? MEMBER_PAGE;
  if (!Number.isInteger(page) || page < 1) fail('USAGE', 'page: a whole number from 1');
  if (!Number.isInteger(limit) || limit < 1 || limit > MEMBER_PAGE_MAX)
    fail('USAGE', `limit: a whole number from 1 to ${MEMBER_PAGE_MAX}`);
  const byClass = await ctx.fleet.classes.membersInSlices([c.id]);
  const ids = byClass.get(c.id)!;
  const members = ctx.fleet.machines.hostnames(ids.slice((page - 1) * limit, page * limit));
  const summary = summaryJson(
    c,
    ids.length,
    ctx.fleet.classes.rules(),
    ctx.fleet.classes.windows(),
    ctx.fleet.schedules.list(),
  );
  return { ...summary, members, page, limit };
}

export function classRules(ctx: FleetQueryContext, name: string): { class: string; rules: ClassInfoJson['rules'] } {
  return { class: name, rules: ctx.fleet.classes.rulesOf(name) };
}

export function classWindows(
  ctx: FleetQueryContext,
  name: string,
): { class: string; windows: ClassInfoJson['windows'] } {
  return { class: name, windows: windowsJson(ctx.fleet.classes.windowsOf(name)) };
}

/** Creates a class, bound to a stage when one is given (both or neither). */
export function createClass(
  ctx: FleetQueryContext,
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
export async function bindClass(
  ctx: FleetQueryContext,
  name: string,
  stage: string | null,
  gate: boolean,
): Promise<ClassBinding> {
  const c = ctx.fleet.classes.bindStage(name, stage, gate, ctx.config.gate.stages);
  const byClass = await ctx.fleet.classes.membersInSlices([c.id]);
  return { class: c.name, stage: c.stage, gate: c.gate, members: byClass.get(c.id)!.length };
}

/** Adds explicit members; all references are resolved before anything changes. */
export function addMembers(
  ctx: FleetQueryContext,
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
  ctx: FleetQueryContext,
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
  // only these machines are asked about (not the class's 20,000 members)
  for (const [i, o] of out.entries()) o.stillByRule = ctx.fleet.classes.isMember(c.id, ms[i]!);
  return out;
}

export function removeClass(ctx: FleetQueryContext, name: string): { deleted: string } {
  ctx.fleet.classes.remove(name);
  return { deleted: name };
}

export function addRule(
  ctx: FleetQueryContext,
  name: string,
  field: string,
  pattern: string,
): { class: string; field: string; pattern: string } {
  ctx.fleet.classes.addRule(name, field, pattern);
  return { class: name, field, pattern };
}

export function removeRule(ctx: FleetQueryContext, name: string, field: string, pattern: string): void {
  if (!ctx.fleet.classes.removeRule(name, field, pattern))
    fail('NOT_FOUND', `class ${name} has no rule ${field} ${pattern.slice(0, 80)}`);
}

export function addWindow(
  ctx: FleetQueryContext,
  name: string,
  text: string,
): { id: number; class: string; window: string } {
  const c = ctx.fleet.classes.get(name);
  const w = parseWindow(text);
  const id = ctx.fleet.classes.addWindow(c.name, w);
  return { id, class: c.name, window: formatWindow(w) };
}

export function removeWindow(ctx: FleetQueryContext, id: number): void {
  if (!ctx.fleet.classes.removeWindow(id)) fail('NOT_FOUND', `no window ${id}`);
}
