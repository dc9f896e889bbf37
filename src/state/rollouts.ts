// Rollouts in waves (issue 17): one row per rollout of a stage's content to a class, the
// generations it pins per suite (the content before it, and what it rolls out), the wave of
// each machine (decided at the start), and what happened (events, oldest first).
import { cached, type Db } from './db.js';

export type RolloutStateName = 'running' | 'paused' | 'halted' | 'aborted' | 'done';

export interface RolloutPin {
  backend: string;
  suite: string;
  /** the stage generation machines of waves not open yet read */
  from: number;
  /** the stage generation the rollout moves to */
  to: number;
}

export interface RolloutEvent {
  at: number;
  what: string;
  actor?: string;
  detail?: string;
}

export interface RolloutRow {
  id: number;
  stage: string;
  className: string;
  /** cumulative shares of the class, e.g. [20, 50, 100] */
  waves: number[];
  soakMs: number;
  /** as typed: "1" (machines) or "10%" (of the open wave) */
  halt: string;
  /** the job each opened wave's machines get ('' : none, the class's schedules upgrade them) */
  jobKind: '' | 'upgrade' | 'dist-upgrade';
  salt: string;
  state: RolloutStateName;
  /** the open wave, 0-based */
  wave: number;
  /** when each wave opened so far (index: the wave) */
  waveOpened: number[];
  createdAt: number;
  updatedAt: number;
  actor: string;
  reason: string | null;
  /** why it is halted, paused or aborted (null: running or done) */
  stateReason: string | null;
  pins: RolloutPin[];
  events: RolloutEvent[];
}

/** A job as a rollout weighs it (no transcript). */
export interface JobBrief {
  id: number;
  machineId: number;
  state: string;
  failure: string | null;
  summary: string | null;
  createdAt: number;
  deliveredAt: number | null;
  startedAt: number | null;
}

export interface RolloutMachine {
  machine: number;
  wave: number;
  /** the job the rollout queued for it when its wave opened */
  job: number | null;
}

interface Raw {
  id: number;
  stage: string;
  class_name: string;
  waves: string;
  soak_ms: number;
  halt: string;
  job_kind: RolloutRow['jobKind'];
  salt: string;
  state: RolloutStateName;
  wave: number;
  wave_opened: string;
  created_at: number;
  updated_at: number;
  actor: string;
  reason: string | null;
  state_reason: string | null;
  events: string;
}

/** A rollout's row; its machines are put in their waves afterwards, a part at a time (assign). */
export type NewRollout = Omit<RolloutRow, 'id' | 'events' | 'updatedAt' | 'stateReason'>;

export class RolloutStore {
  constructor(readonly db: Db) {}

  private row(r: Raw): RolloutRow {
    const pins = this.db
      .prepare<[number], { backend: string; suite: string; from: number; to: number }>(
        'SELECT backend, suite, from_gen AS "from", to_gen AS "to" FROM rollout_pin WHERE rollout_id = ? ORDER BY backend, suite',
      )
      .all(r.id);
    return {
      id: r.id,
      stage: r.stage,
      className: r.class_name,
      waves: JSON.parse(r.waves) as number[],
      soakMs: r.soak_ms,
      halt: r.halt,
      jobKind: r.job_kind,
      salt: r.salt,
      state: r.state,
      wave: r.wave,
      waveOpened: JSON.parse(r.wave_opened) as number[],
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      actor: r.actor,
      reason: r.reason,
      stateReason: r.state_reason,
      pins,
      events: JSON.parse(r.events) as RolloutEvent[],
    };
  }

  /** The salt machines are ordered by for this stage and class (made once, changed by a reshuffle). */
  salt(stage: string, className: string, fresh: () => string, reshuffle: boolean): string {
    const had = this.db
      .prepare<[string, string], { salt: string }>('SELECT salt FROM rollout_salt WHERE stage = ? AND class_name = ?')
      .get(stage, className);
    if (had && !reshuffle) return had.salt;
    const salt = fresh();
    this.db
      .prepare('INSERT OR REPLACE INTO rollout_salt (stage, class_name, salt) VALUES (?, ?, ?)')
      .run(stage, className, salt);
    return salt;
  }

  add(r: NewRollout, event: RolloutEvent): RolloutRow {
    return this.db.transaction(() => {
      const id = Number(
        this.db
          .prepare(
            `INSERT INTO rollout (stage, class_name, waves, soak_ms, halt, job_kind, salt, state, wave, wave_opened, created_at, updated_at, actor, reason, events)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            r.stage,
            r.className,
            JSON.stringify(r.waves),
            r.soakMs,
            r.halt,
            r.jobKind,
            r.salt,
            r.state,
            r.wave,
            JSON.stringify(r.waveOpened),
            r.createdAt,
            r.createdAt,
            r.actor,
            r.reason,
            JSON.stringify([event]),
          ).lastInsertRowid,
      );
      const pin = this.db.prepare(
        'INSERT INTO rollout_pin (rollout_id, backend, suite, from_gen, to_gen) VALUES (?, ?, ?, ?, ?)',
      );
      for (const p of r.pins) pin.run(id, p.backend, p.suite, p.from, p.to);
      return this.byId(id)!;
    })();
  }

  byId(id: number): RolloutRow | undefined {
    const r = this.db.prepare<[number], Raw>('SELECT * FROM rollout WHERE id = ?').get(id);
    return r && this.row(r);
  }

  /** The newest rollout of a stage to a class (it decides what the class's machines read). */
  latest(stage: string, className: string): RolloutRow | undefined {
    const r = this.db
      .prepare<[string, string], Raw>(
        'SELECT * FROM rollout WHERE stage = ? AND class_name = ? ORDER BY id DESC LIMIT 1',
      )
      .get(stage, className);
    return r && this.row(r);
  }

  /** latest(), only what a machine's view needs (asked at every check-in). */
  latestBrief(
    stage: string,
    className: string,
  ): { id: number; state: RolloutStateName; wave: number; waves: number; createdAt: number } | undefined {
    const r = this.db
      .prepare<
        [string, string],
        { id: number; state: RolloutStateName; wave: number; waves: string; createdAt: number }
      >(
        'SELECT id, state, wave, waves, created_at AS createdAt FROM rollout WHERE stage = ? AND class_name = ? ORDER BY id DESC LIMIT 1',
      )
      .get(stage, className);
    return (
      r && {
        id: r.id,
        state: r.state,
        wave: r.wave,
        waves: (JSON.parse(r.waves) as number[]).length,
        createdAt: r.createdAt,
      }
    );
  }

  /** Newest first; `stage` narrows. */
  list(o: { stage?: string; limit?: number } = {}): RolloutRow[] {
    const rows = o.stage
      ? this.db
          .prepare<[string, number], Raw>('SELECT * FROM rollout WHERE stage = ? ORDER BY id DESC LIMIT ?')
          .all(o.stage, o.limit ?? 100)
      : this.db.prepare<[number], Raw>('SELECT * FROM rollout ORDER BY id DESC LIMIT ?').all(o.limit ?? 100);
    return rows.map((r) => this.row(r));
  }

  /** Rollouts that may move on their own (running). */
  running(): RolloutRow[] {
    return this.db
      .prepare<[], Raw>("SELECT * FROM rollout WHERE state = 'running' ORDER BY id")
      .all()
      .map((r) => this.row(r));
  }

  /** Rollouts whose pins the class still reads as they go (running, paused, halted). */
  unfinished(): RolloutRow[] {
    return this.db
      .prepare<[], Raw>("SELECT * FROM rollout WHERE state IN ('running', 'paused', 'halted') ORDER BY id")
      .all()
      .map((r) => this.row(r));
  }

  /** The highest machine id of a rollout (its machines are read in ranges of ids up to it). */
  maxMachine(id: number): number {
    return (
      cached<[number], { m: number | null }>(
        this.db,
        'SELECT max(machine_id) AS m FROM rollout_machine WHERE rollout_id = ?',
      ).get(id)?.m ?? 0
    );
  }

  /**
   * The rollout's machines with ids in (lo, hi], of one wave or all, with their host names; a
   * machine removed since is left out.
   */
  machinesIn(
    id: number,
    lo: number,
    hi: number,
    wave: number | null,
  ): Array<RolloutMachine & { hostname: string; parentId: number | null }> {
    return cached<
      [number, number, number, number | null, number | null],
      RolloutMachine & { hostname: string; parentId: number | null }
    >(
      this.db,
      `SELECT rm.machine_id AS machine, rm.wave, rm.job_id AS job, m.hostname, m.parent_id AS parentId FROM rollout_machine rm
       JOIN machine m ON m.id = rm.machine_id
       WHERE rm.rollout_id = ? AND rm.machine_id > ? AND rm.machine_id <= ? AND (? IS NULL OR rm.wave = ?)
       ORDER BY rm.machine_id`,
    ).all(id, lo, hi, wave, wave);
  }

  /**
   * Upgrade jobs of the rollout's machines with ids in (lo, hi] that may count for their wave:
   * the rollout's own, or one handed out (or queued) since `since` (the first wave's opening),
   * newest first, without their transcripts.
   */
  upgradeJobsIn(id: number, lo: number, hi: number, since: number, wave: number | null): JobBrief[] {
    return cached<[number, number, number, number | null, number | null, number, number], JobBrief>(
      this.db,
      `SELECT j.id, j.machine_id AS machineId, j.state, j.failure, j.summary, j.created_at AS createdAt,
         j.delivered_at AS deliveredAt, j.started_at AS startedAt
       FROM rollout_machine rm JOIN job j ON j.machine_id = rm.machine_id
       WHERE rm.rollout_id = ? AND rm.machine_id > ? AND rm.machine_id <= ? AND (? IS NULL OR rm.wave = ?)
         AND j.kind IN ('upgrade', 'dist-upgrade')
         AND (j.id = rm.job_id OR coalesce(j.delivered_at, j.started_at, 0) >= ? OR (j.state = 'queued' AND j.created_at >= ?))
       ORDER BY j.id DESC`,
    ).all(id, lo, hi, wave, wave, since, since);
  }

  /** The rollout's own jobs not handed out yet (an abort takes them back). */
  queuedJobs(id: number): number[] {
    return cached<[number], { id: number }>(
      this.db,
      `SELECT j.id FROM rollout_machine rm JOIN job j ON j.id = rm.job_id WHERE rm.rollout_id = ? AND j.state = 'queued'`,
    )
      .all(id)
      .map((r) => r.id);
  }

  /** The machine-ids (/etc/machine-id) of machines, by id: what their place in the waves is drawn from. */
  machineKeys(
    ids: readonly number[],
  ): Array<{ id: number; machineId: string; hostname: string; parentId: number | null }> {
    return cached<[string], { id: number; machineId: string; hostname: string; parentId: number | null }>(
      this.db,
      'SELECT id, machine_id AS machineId, hostname, parent_id AS parentId FROM machine WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id',
    ).all(JSON.stringify(ids));
  }

  /** The first event's detail completed (the start's, once its machines are counted). */
  amendStart(id: number, detail: string): void {
    const r = this.byId(id);
    if (!r?.events.length) return;
    const events = [{ ...r.events[0]!, detail }, ...r.events.slice(1)];
    this.db.prepare('UPDATE rollout SET events = ? WHERE id = ?').run(JSON.stringify(events), id);
  }

  /** Machines put in their waves, a part at a time (a machine listed already keeps its wave). */
  assign(id: number, machines: ReadonlyArray<{ machine: number; wave: number }>): void {
    const q = this.db.prepare('INSERT OR IGNORE INTO rollout_machine (rollout_id, machine_id, wave) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const m of machines) q.run(id, m.machine, m.wave);
    })();
  }

  /** The jobs a wave's machines were given (one transaction). */
  setJobs(id: number, jobs: ReadonlyMap<number, number>): void {
    const q = this.db.prepare('UPDATE rollout_machine SET job_id = ? WHERE rollout_id = ? AND machine_id = ?');
    this.db.transaction(() => {
      for (const [machine, job] of jobs) q.run(job, id, machine);
    })();
  }

  waveOfMachine(id: number, machine: number): number | undefined {
    return this.db
      .prepare<[number, number], { wave: number }>(
        'SELECT wave FROM rollout_machine WHERE rollout_id = ? AND machine_id = ?',
      )
      .get(id, machine)?.wave;
  }

  /** withdrawnBy() over this store's database. */
  withdrawnBy(stage: string, backend: string, suite: string, gen: number): number | undefined {
    return withdrawnBy(this.db, stage, backend, suite, gen);
  }

  /** A change of state or wave, with its event (one transaction). */
  update(
    id: number,
    change: { state?: RolloutStateName; wave?: number; openedAt?: number; stateReason?: string | null },
    event: RolloutEvent,
  ): RolloutRow {
    return this.db.transaction(() => {
      const r = this.byId(id)!;
      this.db
        .prepare(
          'UPDATE rollout SET state = ?, wave = ?, wave_opened = ?, state_reason = ?, updated_at = ?, events = ? WHERE id = ?',
        )
        .run(
          change.state ?? r.state,
          change.wave ?? r.wave,
          // a wave opened: its time recorded at its index
          JSON.stringify(
            change.wave !== undefined && change.openedAt !== undefined
              ? [...r.waveOpened.slice(0, change.wave), change.openedAt]
              : r.waveOpened,
          ),
          change.stateReason === undefined ? r.stateReason : change.stateReason,
          event.at,
          // the first (the start: who, how many machines) and the newest: pausing and resuming
          // over and over cannot push the start out
          JSON.stringify([r.events[0]!, ...[...r.events.slice(1), event].slice(-199)]),
          id,
        );
      return this.byId(id)!;
    })();
  }
}

/**
 * The generation one side of a rollout pins for a suite: undefined when it pins none there, null
 * when the stage has no such rollout.
 */
export function pinnedGeneration(
  db: Db,
  rollout: number,
  stage: string,
  backend: string,
  suite: string,
  side: 'from' | 'to',
): number | null | undefined {
  const r = db
    .prepare<[string, string, number, string], { from_gen: number | null; to_gen: number | null }>(
      `SELECT p.from_gen, p.to_gen FROM rollout r LEFT JOIN rollout_pin p
        ON p.rollout_id = r.id AND p.backend = ? AND p.suite = ? WHERE r.id = ? AND r.stage = ?`,
    )
    .get(backend, suite, rollout, stage);
  if (!r) return null;
  return (side === 'from' ? r.from_gen : r.to_gen) ?? undefined;
}

/**
 * The rollback of a stage's suite, made after generation `gen`, that returned it to content from
 * before `gen` (so `gen` was withdrawn), the first one; undefined when none.
 */
export function withdrawnBy(db: Db, stage: string, backend: string, suite: string, gen: number): number | undefined {
  return cached<[string, string, string, number, number], { id: number }>(
    db,
    `SELECT id FROM stage_gen WHERE stage = ? AND backend = ? AND suite = ? AND id > ? AND kind = 'rollback'
       AND json_extract(evidence, '$.to') < ? ORDER BY id LIMIT 1`,
  ).get(stage, backend, suite, gen, gen)?.id;
}
