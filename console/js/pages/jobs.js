// Jobs: the newest jobs of the fleet (or of one machine: ?machine=ID), filtered by state; an
// operator queues a job for machines or classes from here.
import { get, listOf } from '../api.js';
import { EP } from '../endpoints.js';
import { heading, replace } from '../dom.js';
import { JOB_STATES, jobsTable } from './jobs-table.js';
import { newJobForm } from './job-form.js';

export async function render(ctx) {
  const machine = ctx.params.get('machine') ?? undefined;
  // a link's state (#/jobs?state=failed) is asked of the server: not only among the newest 500
  const answer = await get(EP.jobs, { machine, state: ctx.params.get('state') ?? undefined, limit: 500 });
  replace(
    ctx.root,
    heading(machine ? `Jobs of machine ${machine}` : 'Jobs'),
    ctx.can('operator') ? newJobForm(ctx) : null,
    jobsTable(listOf(answer, 'jobs'), {
      params: ctx.params,
      keepParams: true,
      filters: [
        { name: 'state', label: 'State', options: JOB_STATES.map((s) => [s, s]), test: (j, v) => j.state === v },
      ],
    }),
  );
}
