// Operations on enrolled machines (fleet/queries/machines.ts, machine-list.ts answer): the list
// with filters, sort and pages, one machine, its outdated packages with the reason for each;
// approving, refusing a re-enrolment and removing are the operator's. A change names one machine
// in its path and may name more (`more`): the command line takes several at once, and all are
// found before any changes.
import { fail } from '../errors.js';
import { MACHINE_SORTS, parseSort, queryMachines } from '../fleet/queries/machine-list.js';
import { MACHINE_STATES, parseState, UNSEEN_DEFAULT } from '../fleet/queries/machine-states.js';
import { machineExposures } from '../fleet/queries/exposures.js';
import {
  approveMachines,
  outdatedOfMachine,
  rejectReenrolments,
  removeMachines,
  showMachine,
} from '../fleet/queries/machines.js';
import { bool, int, listOf, object, op, str, strings } from './operation.js';
import { durationOption } from './values.js';

const ref = str('machine id or hostname', { maxLength: 253 });
const more = strings('more machines (ids or hostnames), changed with REF: all are found before any changes', 1000);

export interface MachineListInput {
  q?: string;
  state?: string;
  unseen?: string;
  class?: string;
  status?: string;
  pending?: boolean;
  sort?: string;
  dir?: string;
  page?: number;
  limit?: number;
}

const refsOf = (i: { ref: string; more?: string[] }): string[] => [i.ref, ...(i.more ?? [])];

export const machineOps = [
  op({
    name: 'machines.list',
    summary:
      'machines with status, last contact, outdated and security counts, open jobs: filtered, sorted, a page at a time',
    role: 'viewer',
    method: 'GET',
    path: '/machines',
    input: {
      properties: {
        q: str('machines whose hostname contains this (any case)', { maxLength: 253 }),
        state: { type: 'string', enum: [...MACHINE_STATES], description: 'machines in this state (see GET /overview)' },
        unseen: str('for state=unseen: not seen for longer than this (default 7d)', { maxLength: 20 }),
        class: str('the machines of this class', { maxLength: 100 }),
        status: { type: 'string', enum: ['pending', 'approved'], description: 'machines with this status' },
        pending: bool('machines waiting for approval (pending, or a re-enrolment waits)'),
        sort: { type: 'string', enum: [...MACHINE_SORTS], description: 'order (default hostname)' },
        dir: { type: 'string', enum: ['asc', 'desc'], description: 'direction (default asc; unknown values last)' },
        page: int('the page (from 1) of `limit` machines', 1, 1_000_000),
        limit: int('machines per page (default: every machine that matches)', 1, 1000),
      },
    },
    output: listOf('machines', '`{ machines, total, page, limit }`: one page, and how many match'),
    changes: false,
    run: ({ fleet }, i: MachineListInput) => {
      // the API's schema checks these too; the command line's values arrive here unchecked
      if (i.status !== undefined && i.status !== 'pending' && i.status !== 'approved')
        fail('USAGE', `status: expected pending or approved, got "${i.status.slice(0, 40)}"`);
      if (i.dir !== undefined && i.dir !== 'asc' && i.dir !== 'desc')
        fail('USAGE', `dir: expected asc or desc, got "${i.dir.slice(0, 40)}"`);
      return queryMachines(fleet, {
        ...(i.q === undefined ? {} : { q: i.q }),
        ...(i.state === undefined ? {} : { state: parseState(i.state) }),
        ...(i.class === undefined ? {} : { class: i.class }),
        ...(i.status === 'pending' || i.status === 'approved' ? { status: i.status } : {}),
        pending: i.pending === true,
        ...(i.sort === undefined ? {} : { sort: parseSort(i.sort) }),
        ...(i.dir === 'desc' ? { dir: 'desc' as const } : {}),
        ...(i.page === undefined ? {} : { page: i.page }),
        ...(i.limit === undefined ? {} : { limit: i.limit }),
        clock: { now: fleet.now(), unseenMs: durationOption('unseen', i.unseen ?? UNSEEN_DEFAULT) },
      });
    },
  }),
  op({
    name: 'machines.show',
    summary: 'one machine: facts, classes, last report, disagreements with its apt, outdated packages, recent jobs',
    role: 'viewer',
    method: 'GET',
    path: '/machines/:ref',
    input: { properties: { ref }, required: ['ref'] },
    output: object('the machine (`aptgate machines show --json`), with its `exposures` to advisories'),
    changes: false,
    run: async ({ fleet }, i: { ref: string }) => {
      const detail = showMachine(fleet, i.ref);
      return { ...detail, exposures: await machineExposures(fleet, String(detail.machine.id)) };
    },
  }),
  op({
    name: 'machines.outdated',
    summary:
      "a machine's outdated packages with what apt-get upgrade does with each (upgrade, kept back and why, held, phased), its pin, and behind the gate what upstream has",
    role: 'viewer',
    method: 'GET',
    path: '/machines/:ref/outdated',
    input: { properties: { ref }, required: ['ref'] },
    output: object('the entries of `aptgate outdated --json`, and `available` behind the gate'),
    changes: false,
    run: ({ fleet }, i: { ref: string }) => outdatedOfMachine(fleet, i.ref),
  }),
  op({
    name: 'machines.approve',
    summary: 'approve a pending machine, or switch it to its waiting re-enrolment (with that re-enrolment’s code)',
    role: 'operator',
    method: 'POST',
    path: '/machines/:ref/approve',
    input: {
      properties: {
        ref,
        more,
        code: str('only the re-enrolment with this code (the one its agent printed)', { maxLength: 64 }),
      },
      required: ['ref'],
    },
    output: listOf('machines', 'each machine: changed, and the re-enrolment approved if any'),
    changes: true,
    run: ({ fleet }, i: { ref: string; more?: string[]; code?: string }) => ({
      machines: approveMachines(fleet, refsOf(i), i.code),
    }),
  }),
  op({
    name: 'machines.reject',
    summary: 'refuse the waiting re-enrolment of a machine (it keeps its current identity)',
    role: 'operator',
    method: 'POST',
    path: '/machines/:ref/reject',
    input: { properties: { ref, more }, required: ['ref'] },
    output: listOf('machines', 'each machine and the re-enrolment refused, if one waited'),
    changes: true,
    run: ({ fleet }, i: { ref: string; more?: string[] }) => ({ machines: rejectReenrolments(fleet, refsOf(i)) }),
  }),
  op({
    name: 'machines.remove',
    summary: 'forget a machine (its jobs and LTSP chroots go with it; the agent must enrol again)',
    role: 'operator',
    method: 'DELETE',
    path: '/machines/:ref',
    input: { properties: { ref, more }, required: ['ref'] },
    output: listOf('machines', 'each machine removed, with its jobs and chroots'),
    changes: true,
    run: ({ fleet }, i: { ref: string; more?: string[] }) => ({ machines: removeMachines(fleet, refsOf(i)) }),
  }),
];
