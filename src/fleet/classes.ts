// Classes of machines: explicit members plus match rules (hostname glob, architecture,
// codename). A machine belongs to a class when it is a member or any of the class's rules
// matches it. Where classes disagree (the stage a machine follows, issue 5) the class with the
// highest priority wins, then the name that sorts first. Schedules of every class a machine
// belongs to apply; its maintenance windows are the union of its classes' windows.
import { fail } from '../errors.js';
import { expressionMatches } from '../index/glob.js';
import type { ClassRow, ClassStore, RuleField, RuleRow, WindowRow } from '../state/classes.js';
import type { MachineBrief, MachineRow } from '../state/machines.js';
import { TimeSlicer } from '../sys/time-slice.js';

/** Machine ids per step of a pass over the fleet in slices (a millisecond or two per class). */
const ID_RANGE = 2048;

export const CLASS_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const PATTERN_RE = /^[A-Za-z0-9*?.[\]!_/-]{1,128}$/;
export const RULE_FIELDS: readonly RuleField[] = ['hostname', 'architecture', 'codename'];

type MachineFields = Pick<MachineRow, 'id' | 'hostname' | 'architecture' | 'codename'>;

function ruleMatches(r: RuleRow, m: MachineFields): boolean {
  const value = r.field === 'hostname' ? m.hostname : r.field === 'architecture' ? m.architecture : m.codename;
  return expressionMatches(r.pattern, value);
}

export class ClassService {
  constructor(private readonly store: ClassStore) {}

  /** Every class, in precedence order (highest priority first, then name). */
  all(): ClassRow[] {
    return this.store.all();
  }

  /** A class by name, if there is one (get() fails instead). */
  byName(name: string): ClassRow | undefined {
    return this.store.byName(name);
  }

  create(name: string, o: { description?: string; priority?: number } = {}): ClassRow {
    if (!CLASS_NAME_RE.test(name))
      fail('USAGE', `"${name.slice(0, 80)}" is not a class name (lower-case letters, digits, _ . -)`);
    if (this.store.byName(name)) fail('USAGE', `class ${name} exists already`);
    const priority = o.priority ?? 0;
    if (!Number.isInteger(priority) || Math.abs(priority) > 1_000_000) fail('USAGE', 'priority must be an integer');
    return this.store.byId(this.store.create(name, o.description ?? '', priority))!;
  }

  get(name: string): ClassRow {
    const c = this.store.byName(name);
    if (!c) fail('NOT_FOUND', `no class "${name.slice(0, 80)}"`);
    return c;
  }

  remove(name: string): void {
    this.store.remove(this.get(name).id);
  }

  addMember(name: string, machine: number): void {
    this.store.addMember(this.get(name).id, machine);
  }

  removeMember(name: string, machine: number): boolean {
    return this.store.removeMember(this.get(name).id, machine);
  }

  addRule(name: string, field: string, pattern: string): void {
    if (!RULE_FIELDS.includes(field as RuleField))
      fail('USAGE', `a rule matches ${RULE_FIELDS.join(', ')}, not "${field.slice(0, 40)}"`);
    if (!PATTERN_RE.test(pattern))
      fail(
        'USAGE',
        `"${pattern.slice(0, 80)}" is not a pattern (letters, digits, . _ - / and the glob characters * ? [ ] !)`,
      );
    this.store.addRule(this.get(name).id, field as RuleField, pattern);
  }

  removeRule(name: string, field: string, pattern: string): boolean {
    return this.store.removeRule(this.get(name).id, field as RuleField, pattern);
  }

  /** Binds a class to a stage (null: none); with `gate` its machines are that stage's test machines. */
  bindStage(name: string, stage: string | null, gate: boolean, ladder: readonly string[]): ClassRow {
    const c = this.get(name);
    if (stage !== null && !ladder.includes(stage))
      fail('USAGE', `no stage "${stage.slice(0, 40)}" (stages: ${ladder.join(', ')})`);
    if (gate && stage === null) fail('USAGE', 'a gate class needs a stage');
    this.store.setStage(c.id, stage, gate);
    return this.store.byId(c.id)!;
  }

  /**
   * The stage a machine follows: that of its first class (in precedence order) bound to one.
   * A machine no class binds is not behind the gate (its sources are its own).
   */
  stageOf(m: MachineFields, ladder: readonly string[]): string | undefined {
    return this.stageClassOf(m, ladder)?.stage ?? undefined;
  }

  /** The class that binds a machine to its stage (a rollout of the stage to that class moves it). */
  stageClassOf(m: MachineFields, ladder: readonly string[]): ClassRow | undefined {
    return this.classesOf(m).find((c) => c.stage !== null && ladder.includes(c.stage));
  }

  /**
   * Test machines of a stage: approved members of its gate classes that follow that stage (the
   * stage of their first class, in precedence order, bound to one). By SQL, asking each bound
   * class in turn only about the gate classes' members not decided yet.
   */
  testMachines(stage: string, ladder: readonly string[]): number[] {
    const bound = this.store.all().filter((c) => c.stage !== null && ladder.includes(c.stage));
    // no gate class of the stage, no query (the overview asks this of every stage)
    const undecided = new Set<number>();
    for (const c of bound.filter((x) => x.gate && x.stage === stage))
      for (const m of this.store.memberBriefsIn(c.id, 0, Number.MAX_SAFE_INTEGER))
        if (m.status === 'approved') undecided.add(m.id);
    const out: number[] = [];
    for (const c of bound) {
      if (!undecided.size) break;
      for (const id of this.store.memberIdsAmong(c.id, [...undecided])) {
        undecided.delete(id);
        if (c.stage === stage) out.push(id);
      }
    }
    return out.sort((a, b) => a - b);
  }

  /** Classes of one machine, in precedence order (highest priority first, then name). */
  classesOf(m: MachineFields): ClassRow[] {
    const explicit = this.store.classesOfMember(m.id);
    const byRule = new Set(
      this.store
        .rules()
        .filter((r) => ruleMatches(r, m))
        .map((r) => r.classId),
    );
    return this.store.all().filter((c) => explicit.has(c.id) || byRule.has(c.id));
  }

  /** Machine ids of a class: explicit members and every machine a rule matches. */
  membersOf(classId: number, machines?: readonly MachineFields[]): number[] {
    // without the machines at hand SQL works it out (no row of the fleet read into JavaScript)
    if (!machines) return this.store.memberIdsIn(classId, 0, Number.MAX_SAFE_INTEGER);
    const out = new Set(this.store.members(classId));
    const rules = this.store.rules().filter((r) => r.classId === classId);
    if (rules.length) for (const m of machines) if (rules.some((r) => ruleMatches(r, m))) out.add(m.id);
    return [...out].sort((a, b) => a - b);
  }

  /**
   * The machines of these classes (explicit members and every machine a rule matches), found by
   * SQL in ranges of machine ids, giving the event loop a turn whenever the slice is used up: a
   * class of 20,000 machines is not worked out in one go. Each class's member ids, ascending.
   */
  async membersInSlices(classIds: readonly number[], slicer = new TimeSlicer()): Promise<Map<number, number[]>> {
    const out = new Map<number, number[]>(classIds.map((id) => [id, []]));
    await this.rangesInSlices(slicer, (lo, hi) => {
      for (const [id, members] of out) members.push(...this.store.memberIdsIn(id, lo, hi));
    });
    return out;
  }

  /** membersInSlices with what targets need of each machine (host name, status, host of a chroot). */
  async machinesInSlices(classIds: readonly number[], slicer = new TimeSlicer()): Promise<Map<number, MachineBrief[]>> {
    const out = new Map<number, MachineBrief[]>(classIds.map((id) => [id, []]));
    await this.rangesInSlices(slicer, (lo, hi) => {
      for (const [id, members] of out) members.push(...this.store.memberBriefsIn(id, lo, hi));
    });
    return out;
  }

  /** A class's machines in id order, with what jobs need of them, in one query (schedules). */
  machinesOf(classId: number): MachineBrief[] {
    return this.store.memberBriefsIn(classId, 0, Number.MAX_SAFE_INTEGER);
  }

  /** Calls `step` for consecutive ranges (lo, hi] of machine ids up to the largest, sliced. */
  private async rangesInSlices(slicer: TimeSlicer, step: (lo: number, hi: number) => void): Promise<void> {
    const max = this.store.maxMachineId();
    for (let lo = 0; lo < max; lo += ID_RANGE) {
      step(lo, Math.min(lo + ID_RANGE, max));
      await slicer.tick();
    }
  }

  /** Whether a machine belongs to a class (explicit member or a rule matches it). */
  isMember(classId: number, m: MachineFields): boolean {
    return (
      this.store.classesOfMember(m.id).has(classId) ||
      this.store.rules().some((r) => r.classId === classId && ruleMatches(r, m))
    );
  }

  /** Every class's match rules. */
  rules(): RuleRow[] {
    return this.store.rules();
  }

  /** Every class's maintenance windows. */
  windows(): WindowRow[] {
    return this.store.windows();
  }

  /** A class's match rules (NOT_FOUND). */
  rulesOf(name: string): Array<{ field: RuleField; pattern: string }> {
    const id = this.get(name).id;
    return this.store
      .rules()
      .filter((r) => r.classId === id)
      .map((r) => ({ field: r.field, pattern: r.pattern }));
  }

  /** A class's maintenance windows (NOT_FOUND). */
  windowsOf(name: string): WindowRow[] {
    const id = this.get(name).id;
    return this.store.windows().filter((w) => w.classId === id);
  }

  /** Adds a maintenance window to a class; its id. */
  addWindow(name: string, w: Pick<WindowRow, 'days' | 'startMin' | 'endMin'>): number {
    return this.store.addWindow({ classId: this.get(name).id, ...w });
  }

  removeWindow(id: number): boolean {
    return this.store.removeWindow(id);
  }

  /** Disruptive jobs may start now: no class of the machine has windows, or one window is open. */
  inWindow(m: MachineFields, at: Date): boolean {
    const classIds = new Set(this.classesOf(m).map((c) => c.id));
    const windows = this.store.windows().filter((w) => classIds.has(w.classId));
    return !windows.length || windows.some((w) => windowOpen(w, at));
  }
}

/** A window [start, end) in the server's local time on its days; end ≤ start runs past midnight. */
export function windowOpen(w: Pick<WindowRow, 'days' | 'startMin' | 'endMin'>, at: Date): boolean {
  const min = at.getHours() * 60 + at.getMinutes();
  const day = at.getDay();
  if (w.startMin < w.endMin) return (w.days & (1 << day)) !== 0 && min >= w.startMin && min < w.endMin;
  // across midnight: the evening part belongs to the start day, the morning part to the day before
  if (min >= w.startMin) return (w.days & (1 << day)) !== 0;
  return min < w.endMin && (w.days & (1 << ((day + 6) % 7))) !== 0;
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** "mon-fri 22:00-04:00", "daily 01:00-05:00", "sat,sun 00:00-24:00" → window fields. */
export function parseWindow(text: string): Pick<WindowRow, 'days' | 'startMin' | 'endMin'> {
  const m = /^\s*(daily|[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+(\d{2}):(\d{2})-(\d{2}):(\d{2})\s*$/.exec(
    text.toLowerCase(),
  );
  if (!m) fail('USAGE', `"${text.slice(0, 80)}" is not a window such as "mon-fri 22:00-04:00" or "daily 01:00-05:00"`);
  let days = 0;
  if (m[1] === 'daily') days = 0x7f;
  else {
    for (const part of m[1]!.split(',')) {
      const [a, b] = part.split('-').map((d) => DAY_NAMES.indexOf(d));
      if (a === undefined || a < 0 || (b !== undefined && b < 0))
        fail('USAGE', `unknown day in "${text.slice(0, 80)}"`);
      for (let d = a; ; d = (d + 1) % 7) {
        days |= 1 << d;
        if (b === undefined || d === b) break;
      }
    }
  }
  const [h1, m1, h2, m2] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
  const startMin = h1 * 60 + m1;
  const endMin = h2 * 60 + m2;
  if (h1 > 23 || m1 > 59 || h2 > 24 || m2 > 59 || endMin > 1440 || startMin === endMin)
    fail('USAGE', `"${text.slice(0, 80)}": times must be HH:MM, start ≠ end`);
  return { days, startMin, endMin };
}

export function formatWindow(w: Pick<WindowRow, 'days' | 'startMin' | 'endMin'>): string {
  const days = w.days === 0x7f ? 'daily' : DAY_NAMES.filter((_, i) => w.days & (1 << i)).join(',');
  const hm = (x: number) => `${String(Math.floor(x / 60)).padStart(2, '0')}:${String(x % 60).padStart(2, '0')}`;
  return `${days} ${hm(w.startMin)}-${hm(w.endMin)}`;
}
