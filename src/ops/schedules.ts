// Operations on schedules, recurring jobs for the machines of a class (fleet/queries/jobs.ts
// answers): the list with each next run (viewer), adding and removing (operator).
import { addSchedule, listSchedules, removeSchedule } from '../fleet/queries/jobs.js';
import { int, listOf, object, op, str } from './operation.js';
import { jobKind, jobOptionProps, jobOptions, type JobOptionInput } from './jobs.js';
import { durationOption } from './values.js';

export const scheduleOps = [
  op({
    name: 'schedules.list',
    summary: 'schedules with their class, job, cron expression and next run',
    role: 'viewer',
    method: 'GET',
    path: '/schedules',
    input: { properties: {} },
    output: listOf('schedules', 'the schedules'),
    changes: false,
    run: ({ fleet }) => ({ schedules: listSchedules(fleet) }),
  }),
  op({
    name: 'schedules.create',
    summary: 'a recurring job for every machine of a class (cron in the server local time)',
    role: 'operator',
    method: 'POST',
    path: '/schedules',
    input: {
      properties: {
        class: str('the class whose machines get the jobs', { maxLength: 64 }),
        kind: jobKind,
        cron: str('minute hour day month weekday, e.g. "0 2 * * *"', { maxLength: 200 }),
        ...jobOptionProps,
        deadline: str('a fired job expires when not done within this time (default 1d)', { maxLength: 40 }),
      },
      required: ['class', 'kind', 'cron'],
    },
    output: object('the schedule: { id, class, kind, params, policy, cron, deadlineS, nextAt, lastFired }'),
    changes: true,
    auditArgs: (i: { sourceContent?: string }) =>
      i.sourceContent === undefined ? i : { ...i, sourceContent: `[${i.sourceContent.length} characters]` },
    run: ({ fleet }, i: JobOptionInput & { class: string; kind: string; cron: string; deadline?: string }) =>
      addSchedule(fleet, {
        ...jobOptions(i),
        class: i.class,
        kind: i.kind,
        cron: i.cron,
        ...(i.deadline === undefined ? {} : { deadlineMs: durationOption('--deadline', i.deadline) }),
      }),
  }),
  op({
    name: 'schedules.remove',
    summary: 'remove a schedule (jobs it created stay)',
    role: 'operator',
    method: 'DELETE',
    path: '/schedules/:id',
    input: { properties: { id: int('the schedule id', 1) }, required: ['id'] },
    output: object('{ removed: id }'),
    changes: true,
    run: ({ fleet }, i: { id: number }) => removeSchedule(fleet, i.id),
  }),
];
