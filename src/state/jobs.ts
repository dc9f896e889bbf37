// Jobs: the persistent state machine queued → delivered → running → succeeded | failed |
// expired | cancelled. A delivery is a lease: when it runs out without a result the job is
// deliverable again (up to max_attempts); a deadline expires it; nothing is deleted.
import { cached, type Db } from './db.js';

export type JobState = 'queued' | 'delivered' | 'running' | 'succeeded' | 'failed' | 'expired' | 'cancelled';
export const OPEN_STATES: readonly JobState[] = ['queued', 'delivered', 'running'];

export interface JobRow {
  id: number;
  machineId: number;
  kind: string;
  params: string;
  policy: string;
  state: JobState;
  origin: string;
  disruptive: boolean;
  createdAt: number;
  notBefore: number | null;
  deadline: number | null;
  attempts: number;
  maxAttempts: number;
  leaseUntil: number | null;
  deliveredAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  exitCode: number | null;
  durationMs: number | null;
  failure: string | null;
  summary: string | null;
  transcript: string | null;
  /** the credential version of the machine it was last leased to (null: never delivered) */
  leaseCredentialVersion: number | null;
}

export interface NewJob {
  machineId: number;
  kind: string;
  params: string;
  policy: string;
  origin: string;
  disruptive: boolean;
  notBefore: number | null;
  deadline: number | null;
  maxAttempts: number;
}

export interface JobOutcome {
  exitCode: number;
  durationMs: number;
  failure: string | null;
  summary: string;
  transcript: string;
}

const COLS = `id, machine_id AS machineId, kind, params, policy, state, origin, disruptive, created_at AS createdAt, not_before AS notBefore,
  deadline, attempts, max_attempts AS maxAttempts, lease_until AS leaseUntil, delivered_at AS deliveredAt, started_at AS startedAt,
  finished_at AS finishedAt, exit_code AS exitCode, duration_ms AS durationMs, failure, summary, transcript, lease_credential_version AS leaseCredentialVersion`;

const BRIEF_COLS = COLS.replace(/\btranscript,/, 'NULL AS transcript,');

const row = (r: JobRow | undefined): JobRow | undefined => r && { ...r, disruptive: Boolean(r.disruptive) };

export class JobStore {
  private readonly waitingStmt;

  constructor(readonly db: Db) {
    this.waitingStmt = db.prepare<[number], { n: number }>(
      "SELECT count(*) AS n FROM job WHERE machine_id = ? AND state IN ('queued', 'delivered', 'running')",
    );
  }

  add(j: NewJob): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO job (machine_id, kind, params, policy, state, origin, disruptive, created_at, not_before, deadline, max_attempts)
      VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          j.machineId,
          j.kind,
          j.params,
          j.policy,
          j.origin,
          j.disruptive ? 1 : 0,
          Date.now(),
          j.notBefore,
          j.deadline,
          j.maxAttempts,
        ).lastInsertRowid,
    );
  }

  /**
   * One job per machine, all alike but for the machine: one statement (the machines as a JSON
   * array), so 20,000 jobs cost no call per row. A machine removed meanwhile gets none. The jobs
   * made, in the order of `machineIds`. The caller holds a transaction (no other writer adds jobs
   * meanwhile: the new ids are those above the largest before).
   */
  addMany(machineIds: readonly number[], j: Omit<NewJob, 'machineId'>): Array<{ id: number; machineId: number }> {
    if (!machineIds.length) return [];
    const before = cached<[], { n: number }>(this.db, 'SELECT coalesce(max(id), 0) AS n FROM job').get()!.n;
    cached(
      this.db,
      `INSERT INTO job (machine_id, kind, params, policy, state, origin, disruptive, created_at, not_before, deadline, max_attempts)
      SELECT value, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ? FROM json_each(?) WHERE value IN (SELECT id FROM machine) ORDER BY key`,
    ).run(
      j.kind,
      j.params,
      j.policy,
      j.origin,
      j.disruptive ? 1 : 0,
      Date.now(),
      j.notBefore,
      j.deadline,
      j.maxAttempts,
      JSON.stringify(machineIds),
    );
    // new rows take ids above the largest, in the order they were inserted
    return cached<[number], { id: number; machineId: number }>(
      this.db,
      'SELECT id, machine_id AS machineId FROM job WHERE id > ? ORDER BY id',
    ).all(before);
  }

  /** Removes jobs just added (a creation that failed half-way): only those nobody was given yet. */
  removeNew(ids: readonly number[]): void {
    cached(
      this.db,
      "DELETE FROM job WHERE id IN (SELECT value FROM json_each(?)) AND state = 'queued' AND attempts = 0",
    ).run(JSON.stringify(ids));
  }

  byId(id: number): JobRow | undefined {
    return row(this.db.prepare<[number], JobRow>(`SELECT ${COLS} FROM job WHERE id = ?`).get(id));
  }

  /** Open jobs of a machine, oldest first. */
  open(machineId: number): JobRow[] {
    return this.db
      .prepare<[number], JobRow>(
        `SELECT ${COLS} FROM job WHERE machine_id = ? AND state IN ('queued', 'delivered', 'running') ORDER BY id`,
      )
      .all(machineId)
      .map((r) => row(r)!);
  }

  /** machines with an open job of this origin */
  openByOrigin(origin: string): Set<number> {
    return new Set(
      this.db
        .prepare<[string], { m: number }>(
          "SELECT machine_id AS m FROM job WHERE origin = ? AND state IN ('queued', 'delivered', 'running')",
        )
        .all(origin)
        .map((r) => r.m),
    );
  }

  /** A job of the machine finished after `since` (its state then needs confirming). */
  finishedSince(machineId: number, since: number): boolean {
    return (
      cached<[number, number], { n: number }>(
        this.db,
        "SELECT count(*) AS n FROM job WHERE machine_id = ? AND state IN ('succeeded', 'failed') AND finished_at > ?",
      ).get(machineId, since)!.n > 0
    );
  }

  hasOpen(machineId: number): boolean {
    return this.waitingStmt.get(machineId)!.n > 0;
  }

  /** Newest first; `brief`: without transcripts (transcript null: each may be 1 MiB). */
  list(
    filter: { machineId?: number; state?: JobState; before?: number; limit?: number; brief?: boolean } = {},
  ): JobRow[] {
    const where: string[] = [];
    const args: Array<number | string> = [];
    if (filter.before !== undefined) {
      where.push('id < ?');
      args.push(filter.before);
    }
    if (filter.machineId !== undefined) {
      where.push('machine_id = ?');
      args.push(filter.machineId);
    }
    if (filter.state !== undefined) {
      where.push('state = ?');
      args.push(filter.state);
    }
    args.push(filter.limit ?? 1000);
    return this.db
      .prepare<Array<number | string>, JobRow>(
        `SELECT ${filter.brief ? BRIEF_COLS : COLS} FROM job ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`,
      )
      .all(...args)
      .map((r) => row(r)!);
  }

  /** Closes what ran out: deadlines passed → expired; leases run out with no attempts left → failed. */
  sweep(now: number, machineId?: number): number {
    const m = machineId === undefined ? '' : ' AND machine_id = ' + Number(machineId);
    const a = this.db
      .prepare(
        `UPDATE job SET state = 'expired', finished_at = ?, summary = 'deadline passed before a result arrived'
      WHERE state IN ('queued', 'delivered', 'running') AND deadline IS NOT NULL AND deadline <= ?${m}`,
      )
      .run(now, now).changes;
    const b = this.db
      .prepare(
        `UPDATE job SET state = 'failed', finished_at = ?, failure = 'attempts-exhausted',
      summary = 'no result after ' || attempts || ' deliveries' WHERE state IN ('delivered', 'running') AND lease_until <= ? AND attempts >= max_attempts${m}`,
      )
      .run(now, now).changes;
    return a + b;
  }

  /** Marks a job delivered with a lease to one credential version of its machine (and counts the attempt). */
  deliver(id: number, now: number, leaseMs: number, credentialVersion: number): void {
    this.db
      .prepare(
        "UPDATE job SET state = 'delivered', attempts = attempts + 1, lease_until = ?, delivered_at = ?, lease_credential_version = ? WHERE id = ?",
      )
      .run(now + leaseMs, now, credentialVersion, id);
  }

  /**
   * The machine's credential changed hands: leases of the old identity are over (the job is
   * handed out again, or fails when its attempts are used up). 0, not "now": the CLI that
   * approves and the server may disagree on the clock.
   */
  endLeases(machineId: number): void {
    this.db
      .prepare("UPDATE job SET lease_until = 0 WHERE machine_id = ? AND state IN ('delivered', 'running')")
      .run(machineId);
  }

  start(id: number, now: number, leaseMs: number): void {
    this.db
      .prepare("UPDATE job SET state = 'running', started_at = coalesce(started_at, ?), lease_until = ? WHERE id = ?")
      .run(now, now + leaseMs, id);
  }

  finish(id: number, now: number, o: JobOutcome): void {
    this.db
      .prepare(
        `UPDATE job SET state = ?, finished_at = ?, exit_code = ?, duration_ms = ?, failure = ?, summary = ?, transcript = ?, lease_until = NULL
      WHERE id = ?`,
      )
      .run(
        o.exitCode === 0 && o.failure === null ? 'succeeded' : 'failed',
        now,
        o.exitCode,
        o.durationMs,
        o.failure,
        o.summary,
        o.transcript,
        id,
      );
  }

  /** A result that arrived after the job was cancelled or expired: kept, the state stays. */
  recordLate(id: number, o: JobOutcome): void {
    this.db
      .prepare(
        `UPDATE job SET exit_code = ?, duration_ms = ?, failure = ?, summary = ?, transcript = ? WHERE id = ? AND exit_code IS NULL`,
      )
      .run(
        o.exitCode,
        o.durationMs,
        o.failure,
        `${o.summary} (result arrived after the job was closed)`,
        o.transcript,
        id,
      );
  }

  cancel(id: number): boolean {
    return (
      this.db
        .prepare(
          "UPDATE job SET state = 'cancelled', finished_at = ?, summary = 'cancelled by the administrator' WHERE id = ? AND state IN ('queued', 'delivered', 'running')",
        )
        .run(Date.now(), id).changes > 0
    );
  }
}
