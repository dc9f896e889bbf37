// Operations on jobs (fleet/queries/jobs.ts answers): the list with filters and pages, one job
// with its transcript (viewer); queueing jobs for machines and classes, cancelling (operator).
// The options a job takes are shared with schedules.create (ops/schedules.ts).
import type { Principal } from '../access/principal.js';
import { addJobs, cancelJob, JOB_STATES, listJobs, showJob, type JobOptions } from '../fleet/queries/jobs.js';
import { JOB_KINDS } from '../protocol/wire.js';
import { bool, int, listOf, object, op, str, strings, type JsonSchema } from './operation.js';
import { dateOption, durationOption } from './values.js';

// kinds and states are checked by the queries, not the schema: one message on every edge
export const jobKind: JsonSchema = str(`the job kind: ${JOB_KINDS.join(', ')}`, { maxLength: 40 });

/** What a job does and how (shared by jobs.create and schedules.create); text values parsed by jobOptions. */
export const jobOptionProps: Record<string, JsonSchema> = {
  packages: strings('install/remove/hold/unhold: package names (install also name=version)', 500),
  securityOnly: bool('upgrade: only packages with a security update'),
  sourceName: str('add-source/remove-source: the .sources file name (without .sources)', { maxLength: 64 }),
  sourceContent: str('add-source: the deb822 text of the .sources file', { maxLength: 65_536 }),
  codename: str('release-upgrade: the release to move to', { maxLength: 64 }),
  allowReboot: bool('the job may reboot the machine'),
  repairDpkg: bool('run dpkg --configure -a first when dpkg was interrupted (default true)'),
  lockTimeout: int('seconds to wait for the dpkg lock (default 300)', 0, 86_400),
  jobTimeout: str('how long the job may run on the machine: 30m, 2h (default 1h)', { maxLength: 40 }),
};

export interface JobOptionInput {
  packages?: string[];
  securityOnly?: boolean;
  sourceName?: string;
  sourceContent?: string;
  codename?: string;
  allowReboot?: boolean;
  repairDpkg?: boolean;
  lockTimeout?: number;
  jobTimeout?: string;
}

export function jobOptions(i: JobOptionInput): JobOptions {
  return {
    ...(i.packages?.length ? { packages: i.packages } : {}),
    securityOnly: i.securityOnly === true,
    ...(i.sourceName === undefined ? {} : { sourceName: i.sourceName }),
    ...(i.sourceContent === undefined ? {} : { sourceContent: i.sourceContent }),
    ...(i.codename === undefined ? {} : { codename: i.codename }),
    allowReboot: i.allowReboot === true,
    ...(i.repairDpkg === false ? { repairDpkg: false } : {}),
    ...(i.lockTimeout === undefined ? {} : { lockTimeout: i.lockTimeout }),
    ...(i.jobTimeout === undefined
      ? {}
      : { timeout: Math.round(durationOption('--job-timeout', i.jobTimeout) / 1000) }),
  };
}

/** Where a job came from: `cli` on the server host, `api:USER` through the API (console, remote CLI). */
export const originOf = (p: Principal): string => (p.kind === 'local' ? 'cli' : `api:${p.name}`);

const jobId = int('the job id', 1);

export const jobOps = [
  op({
    name: 'jobs.list',
    summary: 'jobs, newest first, by machine and state; a page ends before the id given',
    role: 'viewer',
    method: 'GET',
    path: '/jobs',
    input: {
      properties: {
        machine: str('only jobs of this machine (id or host name)', { maxLength: 255 }),
        state: str(`only jobs in this state: ${JOB_STATES.join(', ')}`, { maxLength: 40 }),
        before: int('only jobs older than this id (the next page)', 1),
        limit: int('at most this many (default 100)', 1, 1000),
      },
    },
    output: listOf('jobs', 'jobs, newest first (without transcripts)'),
    changes: false,
    run: ({ fleet }, i: { machine?: string; state?: string; before?: number; limit?: number }) => ({
      jobs: listJobs(fleet, i),
    }),
  }),
  op({
    name: 'jobs.show',
    summary: 'one job with its result and transcript',
    role: 'viewer',
    method: 'GET',
    path: '/jobs/:id',
    input: { properties: { id: jobId }, required: ['id'] },
    output: object('the job with its transcript'),
    changes: false,
    run: ({ fleet }, i: { id: number }) => showJob(fleet, i.id),
  }),
  op({
    name: 'jobs.create',
    summary: 'queue a job for every machine of the targets (class names, machine ids or host names)',
    role: 'operator',
    method: 'POST',
    path: '/jobs',
    input: {
      properties: {
        kind: jobKind,
        to: {
          ...strings('class names, machine ids or host names (a name that is both: the class)', 1000),
          minItems: 1,
        },
        ...jobOptionProps,
        notBefore: str('not delivered before this ISO date/time (server local time unless a zone is given)', {
          maxLength: 40,
        }),
        deadline: str('expires when not done within this time, e.g. 2d (default: fleet.job_deadline)', {
          maxLength: 40,
        }),
      },
      required: ['kind', 'to'],
    },
    output: object('{ kind, jobs: [ { id, machine: { id, hostname }, pending } ] }'),
    changes: true,
    // the .sources text can be long: the audit keeps its length
    auditArgs: (i: { sourceContent?: string }) =>
      i.sourceContent === undefined ? i : { ...i, sourceContent: `[${i.sourceContent.length} characters]` },
    auditDetail: (r: { jobs: Array<{ id: number }> }) => ({ jobs: r.jobs.map((j) => j.id) }),
    run: (
      { fleet, principal },
      i: JobOptionInput & { kind: string; to: string[]; notBefore?: string; deadline?: string },
    ) =>
      addJobs(fleet, i.kind, i.to, {
        ...jobOptions(i),
        ...(i.notBefore === undefined ? {} : { notBefore: dateOption('--not-before', i.notBefore) }),
        ...(i.deadline === undefined ? {} : { deadlineMs: durationOption('--deadline', i.deadline) }),
        origin: originOf(principal),
      }),
  }),
  op({
    name: 'jobs.cancel',
    summary: 'cancel a job that has not finished (an agent running it finishes, its result is kept)',
    role: 'operator',
    method: 'POST',
    path: '/jobs/:id/cancel',
    input: { properties: { id: jobId }, required: ['id'] },
    output: object('the cancelled job'),
    changes: true,
    run: ({ fleet }, i: { id: number }) => cancelJob(fleet, i.id),
  }),
];
