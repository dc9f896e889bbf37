// Schedules: recurring jobs for every machine of a class (cron in the server's local time).
// A schedule that fires while a machine still has an open job it created earlier does not
// pile up a second one; a missed firing (server down) fires once at the next tick.
import { fail } from '../errors.js';
import type { ClassStore, ScheduleRow } from '../state/classes.js';
import type { JobStore } from '../state/jobs.js';
import type { ClassService } from './classes.js';
import { nextRun, parseCron } from './cron.js';
import { checkJob, checkPolicy, type JobService } from './jobs.js';
import type { JobPolicy } from '../protocol/wire.js';

export interface NewSchedule {
  className: string;
  kind: string;
  params?: Record<string, unknown>;
  policy?: Partial<JobPolicy>;
  cron: string;
  /** seconds a fired job may wait for its machine before it expires */
  deadlineS?: number;
}

export class ScheduleService {
  constructor(
    private readonly store: ClassStore,
    private readonly classes: ClassService,
    private readonly jobs: JobService,
    private readonly jobStore: JobStore,
    private readonly now: () => number,
  ) {}

  add(s: NewSchedule): ScheduleRow {
    const c = this.classes.get(s.className);
    const { kind, params } = checkJob(s.kind, s.params ?? {});
    const policy = checkPolicy(s.policy ?? {});
    const cron = parseCron(s.cron);
    const deadlineS = s.deadlineS ?? 86_400;
    if (!Number.isInteger(deadlineS) || deadlineS < 60) fail('USAGE', 'a schedule deadline is at least 60 s');
    const id = this.store.addSchedule({
      classId: c.id,
      kind,
      params: JSON.stringify(params),
      policy: JSON.stringify(policy),
      cron: s.cron.trim(),
      deadlineS,
      nextAt: nextRun(cron, new Date(this.now())).getTime(),
    });
    return this.store.schedules().find((x) => x.id === id)!;
  }

  remove(id: number): void {
    if (!this.store.removeSchedule(id)) fail('NOT_FOUND', `no schedule ${id}`);
  }

  list(): Array<ScheduleRow & { className: string }> {
    const names = new Map(this.store.all().map((c) => [c.id, c.name]));
    return this.store.schedules().map((s) => ({ ...s, className: names.get(s.classId) ?? '?' }));
  }

  /**
   * Fires what is due; returns the jobs created. A schedule that cannot make its jobs (its
   * parameters became invalid) still counts as fired, so it neither blocks the others nor fires
   * again at every tick; the errors are thrown together at the end.
   */
  tick(): number[] {
    const now = this.now();
    const created: number[] = [];
    const errors: string[] = [];
    for (const s of this.store.dueSchedules(now)) {
      const origin = `schedule:${s.id}`;
      const busy = this.jobStore.openByOrigin(origin);
      // by SQL, with each machine's host: no query per member (a class of 20,000 machines)
      const machines = this.classes.machinesOf(s.classId);
      const members = machines.map((m) => m.id);
      const make = () =>
        this.jobs.create(
          members,
          {
            kind: s.kind,
            params: JSON.parse(s.params) as Record<string, unknown>,
            policy: JSON.parse(s.policy) as Partial<JobPolicy>,
            origin,
            deadline: now + s.deadlineS * 1000,
          },
          { skipUnfit: true, except: busy, parents: new Map(machines.map((m) => [m.id, m.parentId])) },
        );
      this.store.db.transaction(() => {
        if (members.length) {
          try {
            created.push(...make());
          } catch (err) {
            errors.push(`schedule ${s.id}: ${(err as Error).message}`);
          }
        }
        this.store.fired(s.id, now, nextRun(parseCron(s.cron), new Date(now)).getTime());
      })();
    }
    if (errors.length) fail('USAGE', `schedules that made no jobs: ${errors.join('; ')}`, { created });
    return created;
  }
}
