// Classes for the administrator and the API: list, create, bind to a stage, members, rules and
// maintenance windows; the JSON shapes of docs/cli-fleet.md.
import { fail } from '../../errors.js';
import type { ClassRow, RuleField, WindowRow } from '../../state/classes.js';
import { formatWindow, parseWindow, type ClassInfo } from '../classes.js';
import type { FleetQueryContext } from './context.js';

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

function classJson(
  c: ClassInfo,
  names: ReadonlyMap<number, string>,
  schedules: ReadonlyArray<{ id: number; classId: number; kind: string; cron: string }>,
): ClassInfoJson {
  return {
    name: c.name,
    description: c.description,
    priority: c.priority,
    members: c.members.map((id) => ({ id, hostname: names.get(id) ?? '?' })),
    rules: c.rules,
    windows: windowsJson(c.windows),
    schedules: schedules.filter((s) => s.classId === c.id).map((s) => ({ id: s.id, kind: s.kind, cron: s.cron })),
    stage: c.stage,
    gate: c.gate,
  };
}

const windowsJson = (ws: readonly WindowRow[]) => ws.map((w) => ({ id: w.id, window: formatWindow(w) }));

export function listClasses(ctx: FleetQueryContext): ClassInfoJson[] {
  const machines = ctx.fleet.machines.brief();
  const names = new Map(machines.map((m) => [m.id, m.hostname]));
  const schedules = ctx.fleet.schedules.list();
  return ctx.fleet.classes.list(machines).map((c) => classJson(c, names, schedules));
}

/** One class as listClasses shows it (NOT_FOUND). */
export function showClass(ctx: FleetQueryContext, name: string): ClassInfoJson {
  const machines = ctx.fleet.machines.brief();
  const c = ctx.fleet.classes.info(name, machines);
  const names = new Map(machines.map((m) => [m.id, m.hostname]));
  return classJson(c, names, ctx.fleet.schedules.list());
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
export function bindClass(ctx: FleetQueryContext, name: string, stage: string | null, gate: boolean): ClassBinding {
  const c = ctx.fleet.classes.bindStage(name, stage, gate, ctx.config.gate.stages);
  return { class: c.name, stage: c.stage, gate: c.gate, members: ctx.fleet.classes.membersOf(c.id).length };
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
  const members = new Set(ctx.fleet.classes.membersOf(c.id));
  for (const o of out) o.stillByRule = members.has(o.id);
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
