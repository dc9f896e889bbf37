// Jobs on the server: created for machines (directly, for a class, or by a schedule), handed
// out one at a time with a lease, acknowledged with a result. Nothing is dropped before its
// result is stored: an expired lease makes a job deliverable again, attempts are bounded, a
// deadline expires it, and a result is accepted for any job not yet closed, from the identity
// (credential version of the machine) the job was leased to and from no other.
import { fail } from '../errors.js';
import type { JobOutcome, JobRow, JobState, JobStore, NewJob } from '../state/jobs.js';
import { nextTurn } from '../sys/time-slice.js';
import type { MachineRow } from '../state/machines.js';
import {
  CHROOT_ONLY_KINDS,
  CODENAME_RE,
  DISRUPTIVE_KINDS,
  FAILURE_REASONS,
  HOST_ONLY_KINDS,
  isPackageSpec,
  JOB_KINDS,
  SOURCE_NAME_RE,
  type JobKind,
  type JobPolicy,
} from '../protocol/wire.js';
import type { ClassService } from './classes.js';

export interface JobSettings {
  /** how long a delivered job may wait for agent.jobStarted */
  leaseMs: number;
  maxAttempts: number;
  /** default deadline after creation */
  deadlineMs: number;
}

export const DEFAULT_POLICY: JobPolicy = { allowReboot: false, repairDpkg: true, lockTimeout: 300, timeout: 3600 };
export const TRANSCRIPT_CAP = 64 * 1024;

/** Checks a job's kind and parameters as the agent will (the agent checks again). */
export function checkJob(
  kind: string,
  params: Record<string, unknown>,
): { kind: JobKind; params: Record<string, unknown> } {
  if (!JOB_KINDS.includes(kind as JobKind))
    fail('USAGE', `unknown job kind "${kind.slice(0, 40)}" (one of ${JOB_KINDS.join(', ')})`);
  const k = kind as JobKind;
  if (k === 'install' || k === 'remove' || k === 'hold' || k === 'unhold') {
    const pkgs = params['packages'];
    if (!Array.isArray(pkgs) || !pkgs.length || pkgs.length > 500) fail('USAGE', `${k} needs 1 to 500 package names`);
    for (const p of pkgs) {
      if (typeof p !== 'string' || !isPackageSpec(p, k === 'install'))
        fail(
          'USAGE',
          `"${String(p).slice(0, 80)}" is not a package name${k === 'install' ? ' (name, name:arch, name=version)' : ' (name or name:arch)'}`,
        );
    }
    return { kind: k, params: { packages: pkgs } };
  }
  if (k === 'upgrade') return { kind: k, params: params['securityOnly'] === true ? { securityOnly: true } : {} };
  if (k === 'add-source' || k === 'remove-source') {
    const name = params['name'];
    if (typeof name !== 'string' || !SOURCE_NAME_RE.test(name))
      fail('USAGE', 'a source name is lower-case letters, digits, _ . - (at most 64)');
    if (k === 'remove-source') return { kind: k, params: { name } };
    const content = params['content'];
    if (typeof content !== 'string' || !content.trim() || content.length > 65_536)
      fail('USAGE', 'add-source needs the deb822 content of the .sources file');
    if (!/^Types:/im.test(content) || !/^URIs:/im.test(content) || !/^Suites:/im.test(content))
      fail('USAGE', 'the source must be deb822 with Types, URIs and Suites');
    return { kind: k, params: { name, content } };
  }
  if (k === 'release-upgrade') {
    const codename = params['codename'];
    if (typeof codename !== 'string' || !CODENAME_RE.test(codename))
      fail('USAGE', 'release-upgrade needs the codename of the release to move to (e.g. trixie)');
    return { kind: k, params: { codename } };
  }
  return { kind: k, params: {} };
}

export function checkPolicy(p: Partial<JobPolicy>): JobPolicy {
  const out = { ...DEFAULT_POLICY, ...p };
  if (!Number.isInteger(out.lockTimeout) || out.lockTimeout < 0 || out.lockTimeout > 86_400)
    fail('USAGE', 'lock timeout must be 0..86400 seconds');
  if (!Number.isInteger(out.timeout) || out.timeout < 10 || out.timeout > 7 * 86_400)
    fail('USAGE', 'job timeout must be 10 s..7 days');
  return out;
}

export interface CreateJob {
  kind: string;
  params?: Record<string, unknown>;
  policy?: Partial<JobPolicy>;
  origin: string;
  notBefore?: number | null;
  deadline?: number | null;
  maxAttempts?: number;
}

export interface Delivery {
  id: number;
  kind: string;
  params: Record<string, unknown>;
  policy: JobPolicy;
  attempt: number;
  leaseSeconds: number;
  deadline: number | null;
}

export interface CreateOptions {
  skipUnfit?: boolean;
  except?: ReadonlySet<number>;
  /** the host of each target (null: none), when the caller has read them already */
  parents?: ReadonlyMap<number, number | null>;
}

/** Jobs added per transaction by createInTurns: a few milliseconds each. */
export const JOBS_PER_TURN = 2_000;

export class JobService {
  constructor(
    private readonly store: JobStore,
    private readonly classes: ClassService,
    private readonly settings: JobSettings,
    private readonly now: () => number,
    /** a machine's host (null for a host itself) */
    private readonly parentOf: (machine: number) => number | null = () => null,
  ) {}

  /**
   * One job per machine. Kinds meant for hosts only (reboot) or chroots only (image-revert) skip
   * the other machines; a release-upgrade of a host covers its chroots, so a chroot whose host is
   * also a target gets none of its own. Refused when no machine is left, unless `skipUnfit`
   * (a schedule: its class may hold only machines the kind does not fit today).
   */
  create(targetIds: readonly number[], j: CreateJob, o: CreateOptions = {}): number[] {
    return this.createFor(targetIds, j, o).map((x) => x.id);
  }

  /**
   * create() saying which machine each job is for (the kinds skip machines they do not fit, a
   * machine removed meanwhile gets none). All the jobs are added in one transaction or none.
   */
  createFor(
    targetIds: readonly number[],
    j: CreateJob,
    o: CreateOptions = {},
  ): Array<{ id: number; machineId: number }> {
    const { machineIds, job } = this.prepareJobs(targetIds, j, o);
    // one statement for every machine, in one transaction: all the jobs or none
    return this.store.db.transaction(() => this.store.addMany(machineIds, job))();
  }

  /**
   * createFor() on the shared event loop: the jobs are added JOBS_PER_TURN machines at a time, a
   * transaction each, with a turn of the loop between (one insert of 20,000 jobs held the loop
   * 50–115 ms). The machines of the first turns can get their jobs before the last are added; if
   * a turn fails, the jobs already added are removed again and the error is thrown.
   */
  async createInTurns(
    targetIds: readonly number[],
    j: CreateJob,
    o: CreateOptions = {},
  ): Promise<Array<{ id: number; machineId: number }>> {
    const { machineIds, job } = this.prepareJobs(targetIds, j, o);
    const made: Array<{ id: number; machineId: number }> = [];
    try {
      for (let at = 0; at < machineIds.length; at += JOBS_PER_TURN) {
        if (at) await nextTurn();
        const part = machineIds.slice(at, at + JOBS_PER_TURN);
        made.push(...this.store.db.transaction(() => this.store.addMany(part, job))());
      }
    } catch (err) {
      for (let at = 0; at < made.length; at += JOBS_PER_TURN)
        this.store.removeNew(made.slice(at, at + JOBS_PER_TURN).map((x) => x.id));
      throw err;
    }
    return made;
  }

  /** The machines a job fits and the job's row, checked once (createFor, createInTurns). */
  private prepareJobs(
    targetIds: readonly number[],
    j: CreateJob,
    o: CreateOptions,
  ): { machineIds: number[]; job: Omit<NewJob, 'machineId'> } {
    const { kind, params } = checkJob(j.kind, j.params ?? {});
    // which machines a kind fits is decided on all targets (a host busy with last week's
    // release-upgrade still covers its chroots), then the excepted ones are left out
    const parentOf = o.parents ? (id: number) => o.parents!.get(id) ?? null : this.parentOf;
    const machineIds = this.applicable(kind, targetIds, o.skipUnfit === true, parentOf).filter(
      (id) => !o.except?.has(id),
    );
    const policy = checkPolicy(j.policy ?? {});
    const now = this.now();
    // the default deadline counts from when the job may start
    const deadline = j.deadline === undefined ? (j.notBefore ?? now) + this.settings.deadlineMs : j.deadline;
    if (deadline !== null && deadline <= now) fail('USAGE', 'the deadline is in the past');
    const maxAttempts = j.maxAttempts ?? this.settings.maxAttempts;
    return {
      machineIds,
      job: {
        kind,
        params: JSON.stringify(params),
        policy: JSON.stringify(policy),
        origin: j.origin,
        disruptive: DISRUPTIVE_KINDS.has(kind),
        notBefore: j.notBefore ?? null,
        deadline,
        maxAttempts,
      },
    };
  }

  private applicable(
    kind: JobKind,
    ids: readonly number[],
    skipUnfit: boolean,
    parentOf: (machine: number) => number | null,
  ): number[] {
    const all = new Set(ids);
    const out = ids.filter((id) => {
      const parent = parentOf(id);
      if (HOST_ONLY_KINDS.has(kind)) return parent === null;
      if (CHROOT_ONLY_KINDS.has(kind)) return parent !== null;
      return !(kind === 'release-upgrade' && parent !== null && all.has(parent));
    });
    if (ids.length && !out.length && !skipUnfit)
      fail(
        'USAGE',
        CHROOT_ONLY_KINDS.has(kind) ? `${kind} is for LTSP chroots only` : `${kind} is not for LTSP chroots`,
      );
    return out;
  }

  /** Whether a check-in should tell the machine to fetch: an open job it could be given now. */
  waiting(machineId: number): boolean {
    return this.store.hasOpen(machineId);
  }

  private deliverable(j: JobRow, m: MachineRow, now: number): boolean {
    if (j.notBefore !== null && j.notBefore > now) return false;
    if (j.state !== 'queued' && (j.leaseUntil ?? 0) > now) return false;
    return !j.disruptive || this.classes.inWindow(m, new Date(now));
  }

  /** The next job for a machine with a fresh lease, or undefined (one job at a time). */
  next(m: MachineRow): Delivery | undefined {
    const now = this.now();
    return this.store.db
      .transaction(() => {
        this.store.sweep(now, m.id);
        const open = this.store.open(m.id);
        // a job under a live lease is being worked on: nothing else meanwhile
        if (open.some((j) => j.state !== 'queued' && (j.leaseUntil ?? 0) > now)) return undefined;
        const j = open.find((x) => this.deliverable(x, m, now));
        if (!j) return undefined;
        this.store.deliver(j.id, now, this.settings.leaseMs, m.credentialVersion);
        return {
          id: j.id,
          kind: j.kind,
          params: JSON.parse(j.params) as Record<string, unknown>,
          policy: JSON.parse(j.policy) as JobPolicy,
          attempt: j.attempts + 1,
          leaseSeconds: Math.round(this.settings.leaseMs / 1000),
          deadline: j.deadline,
        };
      })
      .immediate();
  }

  private own(machineId: number, jobId: number): JobRow {
    const j = this.store.byId(jobId);
    if (!j || j.machineId !== machineId) fail('JOB_UNKNOWN', `no job ${jobId} for this machine`);
    return j;
  }

  /**
   * Only the identity a job was leased to may start it or give its result: after a re-enrolment
   * the new credential cannot claim what the old one was handed (nor an open job never handed out).
   */
  private leasedTo(j: JobRow, credentialVersion: number): void {
    const open = j.state === 'queued' || j.state === 'delivered' || j.state === 'running';
    if (j.leaseCredentialVersion === null ? open : j.leaseCredentialVersion !== credentialVersion) {
      fail(
        'JOB_NOT_LEASED',
        `job ${j.id} was not handed to this identity of the machine (${j.leaseCredentialVersion === null ? 'never delivered' : 'leased before a re-enrolment'}): its result is refused`,
      );
    }
  }

  /** The agent starts a job: running, with a lease as long as the job may take. */
  started(machineId: number, jobId: number, credentialVersion = 0): { leaseSeconds: number } {
    const now = this.now();
    return this.store.db
      .transaction(() => {
        this.store.sweep(now, machineId);
        const j = this.own(machineId, jobId);
        if (j.state !== 'delivered' && j.state !== 'running') fail('JOB_CLOSED', `job ${jobId} is ${j.state}`);
        this.leasedTo(j, credentialVersion);
        const policy = JSON.parse(j.policy) as JobPolicy;
        const leaseMs = (policy.timeout + 300) * 1000;
        this.store.start(jobId, now, leaseMs);
        return { leaseSeconds: leaseMs / 1000 };
      })
      .immediate();
  }

  /**
   * A result: stored for any job not yet closed (also after its lease ran out, or after a
   * server restart); a second report of a finished job is acknowledged and changes nothing.
   * `credentialVersion`: the identity that signed the result (JOB_NOT_LEASED when not the leased one).
   */
  finished(machineId: number, jobId: number, o: JobOutcome, credentialVersion = 0): { state: string } {
    if (o.failure !== null && !FAILURE_REASONS.includes(o.failure as never))
      fail('RPC_INVALID_PARAMS', `unknown failure reason "${o.failure.slice(0, 40)}"`);
    const outcome = { ...o, transcript: o.transcript.slice(-TRANSCRIPT_CAP), summary: o.summary.slice(0, 2000) };
    return this.store.db
      .transaction(() => {
        const j = this.own(machineId, jobId);
        this.leasedTo(j, credentialVersion);
        if (j.state === 'queued' || j.state === 'delivered' || j.state === 'running')
          this.store.finish(jobId, this.now(), outcome);
        else if (j.state === 'cancelled' || j.state === 'expired') this.store.recordLate(jobId, outcome);
        return { state: this.store.byId(jobId)!.state };
      })
      .immediate();
  }

  cancel(jobId: number): void {
    const j = this.store.byId(jobId);
    if (!j) fail('NOT_FOUND', `no job ${jobId}`);
    if (!this.store.cancel(jobId)) fail('USAGE', `job ${jobId} is ${j.state} already`);
  }

  /** whether a job of the machine finished since `since` (its unchanged state counts as reported again) */
  finishedSince(machineId: number, since: number): boolean {
    return this.store.finishedSince(machineId, since);
  }

  byId(jobId: number): JobRow | undefined {
    return this.store.byId(jobId);
  }

  /** Jobs newest first, by machine and state. */
  list(
    filter: { machineId?: number; state?: JobState; before?: number; limit?: number; brief?: boolean } = {},
  ): JobRow[] {
    return this.store.list(filter);
  }

  /** A machine's jobs not yet finished. */
  open(machineId: number): JobRow[] {
    return this.store.open(machineId);
  }

  /** Ends the jobs whose deadline or lease has passed (before they are shown). */
  sweep(now = this.now()): number {
    return this.store.sweep(now);
  }
}
