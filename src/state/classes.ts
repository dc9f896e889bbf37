// Classes (explicit members and match rules), their schedules and maintenance windows.
import { expressionMatches } from '../index/glob.js';
import { cached, type Db } from './db.js';
import type { MachineBrief } from './machines.js';

export interface ClassRow {
  id: number;
  name: string;
  description: string;
  priority: number;
  createdAt: number;
  /** the stage its machines follow (null: no say) */
  stage: string | null;
  /** its machines are test machines of that stage */
  gate: boolean;
}
export type RuleField = 'hostname' | 'architecture' | 'codename';
export interface RuleRow {
  id: number;
  classId: number;
  field: RuleField;
  pattern: string;
}
export interface ScheduleRow {
  id: number;
  classId: number;
  kind: string;
  params: string;
  policy: string;
  cron: string;
  deadlineS: number;
  nextAt: number;
  lastFired: number | null;
  createdAt: number;
}
export interface WindowRow {
  id: number;
  classId: number;
  /** bit 0 = Sunday … bit 6 = Saturday */
  days: number;
  startMin: number;
  endMin: number;
}

const CLASS_COLS = 'id, name, description, priority, created_at AS createdAt, stage, gate = 1 AS gate';
const classRow = (r: ClassRow | undefined): ClassRow | undefined => r && { ...r, gate: Boolean(r.gate) };
const SCHEDULE_COLS =
  'id, class_id AS classId, kind, params, policy, cron, deadline_s AS deadlineS, next_at AS nextAt, last_fired AS lastFired, created_at AS createdAt';

// a class's machines in a range of ids: explicit members, and machines one of its rules matches
// (the rule's glob or /regex/ tested by class_rule_matches, the same test classes.ts makes)
const IN_CLASS = `(EXISTS (SELECT 1 FROM class_member cm WHERE cm.class_id = :c AND cm.machine_id = m.id)
  OR EXISTS (SELECT 1 FROM class_rule r WHERE r.class_id = :c AND class_rule_matches(r.pattern,
    CASE r.field WHEN 'hostname' THEN m.hostname WHEN 'architecture' THEN m.architecture ELSE m.codename END)))`;
const MEMBER_IDS = `SELECT m.id FROM machine m WHERE m.id > :lo AND m.id <= :hi AND ${IN_CLASS} ORDER BY m.id`;
const MEMBERS_AMONG = `SELECT m.id FROM machine m WHERE m.id IN (SELECT value FROM json_each(:ids)) AND ${IN_CLASS} ORDER BY m.id`;
const MEMBER_BRIEFS = `SELECT m.id, m.hostname, m.architecture, m.codename, m.status, m.parent_id AS parentId
  FROM machine m WHERE m.id > :lo AND m.id <= :hi AND ${IN_CLASS} ORDER BY m.id`;

const withMatcher = new WeakSet<Db>();

export class ClassStore {
  constructor(readonly db: Db) {
    if (!withMatcher.has(db)) {
      db.function('class_rule_matches', { deterministic: true }, (pattern, value) =>
        typeof pattern === 'string' && typeof value === 'string' && expressionMatches(pattern, value) ? 1 : 0,
      );
      withMatcher.add(db);
    }
  }

  /** The largest machine id (0: none): the end of a pass over the fleet in ranges of ids. */
  maxMachineId(): number {
    return cached<[], { n: number }>(this.db, 'SELECT coalesce(max(id), 0) AS n FROM machine').get()!.n;
  }

  /** Ids of a class's machines with lo < id ≤ hi, ascending (one step of a pass in slices). */
  memberIdsIn(classId: number, lo: number, hi: number): number[] {
    return cached<[{ c: number; lo: number; hi: number }], number>(this.db, MEMBER_IDS)
      .pluck()
      .all({ c: classId, lo, hi });
  }

  /** Which of these machines belong to a class (ids ascending). */
  memberIdsAmong(classId: number, ids: readonly number[]): number[] {
    if (!ids.length) return [];
    return cached<[{ c: number; ids: string }], number>(this.db, MEMBERS_AMONG)
      .pluck()
      .all({ c: classId, ids: JSON.stringify(ids) });
  }

  /** memberIdsIn with what targets need of each machine. */
  memberBriefsIn(classId: number, lo: number, hi: number): MachineBrief[] {
    return cached<[{ c: number; lo: number; hi: number }], MachineBrief>(this.db, MEMBER_BRIEFS).all({
      c: classId,
      lo,
      hi,
    });
  }

  setStage(id: number, stage: string | null, gate: boolean): void {
    this.db.prepare('UPDATE class SET stage = ?, gate = ? WHERE id = ?').run(stage, gate ? 1 : 0, id);
  }

  create(name: string, description: string, priority: number): number {
    return Number(
      this.db
        .prepare('INSERT INTO class (name, description, priority, created_at) VALUES (?, ?, ?, ?)')
        .run(name, description, priority, Date.now()).lastInsertRowid,
    );
  }
  remove(id: number): boolean {
    return this.db.prepare('DELETE FROM class WHERE id = ?').run(id).changes > 0;
  }
  byName(name: string): ClassRow | undefined {
    return classRow(this.db.prepare<[string], ClassRow>(`SELECT ${CLASS_COLS} FROM class WHERE name = ?`).get(name));
  }
  byId(id: number): ClassRow | undefined {
    return classRow(this.db.prepare<[number], ClassRow>(`SELECT ${CLASS_COLS} FROM class WHERE id = ?`).get(id));
  }
  all(): ClassRow[] {
    return cached<[], ClassRow>(this.db, `SELECT ${CLASS_COLS} FROM class ORDER BY priority DESC, name`)
      .all()
      .map((r) => classRow(r)!);
  }

  addMember(classId: number, machineId: number): void {
    this.db
      .prepare('INSERT INTO class_member (class_id, machine_id) VALUES (?, ?) ON CONFLICT DO NOTHING')
      .run(classId, machineId);
  }
  removeMember(classId: number, machineId: number): boolean {
    return (
      this.db.prepare('DELETE FROM class_member WHERE class_id = ? AND machine_id = ?').run(classId, machineId)
        .changes > 0
    );
  }
  members(classId: number): number[] {
    return this.db
      .prepare<[number], { m: number }>(
        'SELECT machine_id AS m FROM class_member WHERE class_id = ? ORDER BY machine_id',
      )
      .all(classId)
      .map((r) => r.m);
  }
  /** classes a machine is an explicit member of */
  classesOfMember(machineId: number): Set<number> {
    return new Set(
      cached<[number], { c: number }>(this.db, 'SELECT class_id AS c FROM class_member WHERE machine_id = ?')
        .all(machineId)
        .map((r) => r.c),
    );
  }

  addRule(classId: number, field: RuleField, pattern: string): void {
    this.db
      .prepare('INSERT INTO class_rule (class_id, field, pattern) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
      .run(classId, field, pattern);
  }
  removeRule(classId: number, field: RuleField, pattern: string): boolean {
    return (
      this.db
        .prepare('DELETE FROM class_rule WHERE class_id = ? AND field = ? AND pattern = ?')
        .run(classId, field, pattern).changes > 0
    );
  }
  rules(): RuleRow[] {
    return cached<[], RuleRow>(
      this.db,
      'SELECT id, class_id AS classId, field, pattern FROM class_rule ORDER BY id',
    ).all();
  }

  addSchedule(s: Omit<ScheduleRow, 'id' | 'lastFired' | 'createdAt'>): number {
    return Number(
      this.db
        .prepare(
          'INSERT INTO schedule (class_id, kind, params, policy, cron, deadline_s, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(s.classId, s.kind, s.params, s.policy, s.cron, s.deadlineS, s.nextAt, Date.now()).lastInsertRowid,
    );
  }
  removeSchedule(id: number): boolean {
    return this.db.prepare('DELETE FROM schedule WHERE id = ?').run(id).changes > 0;
  }
  schedules(): ScheduleRow[] {
    return this.db.prepare<[], ScheduleRow>(`SELECT ${SCHEDULE_COLS} FROM schedule ORDER BY id`).all();
  }
  dueSchedules(now: number): ScheduleRow[] {
    return this.db
      .prepare<[number], ScheduleRow>(`SELECT ${SCHEDULE_COLS} FROM schedule WHERE next_at <= ? ORDER BY id`)
      .all(now);
  }
  fired(id: number, at: number, nextAt: number): void {
    this.db.prepare('UPDATE schedule SET last_fired = ?, next_at = ? WHERE id = ?').run(at, nextAt, id);
  }

  addWindow(w: Omit<WindowRow, 'id'>): number {
    return Number(
      this.db
        .prepare('INSERT INTO maint_window (class_id, days, start_min, end_min) VALUES (?, ?, ?, ?)')
        .run(w.classId, w.days, w.startMin, w.endMin).lastInsertRowid,
    );
  }
  removeWindow(id: number): boolean {
    return this.db.prepare('DELETE FROM maint_window WHERE id = ?').run(id).changes > 0;
  }
  windows(): WindowRow[] {
    return this.db
      .prepare<[], WindowRow>(
        'SELECT id, class_id AS classId, days, start_min AS startMin, end_min AS endMin FROM maint_window ORDER BY id',
      )
      .all();
  }
}
