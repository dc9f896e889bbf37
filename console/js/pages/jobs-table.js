// A table of jobs (a machine's recent ones, or the jobs page's): kind, state, times, result,
// each linked to its page with the transcript.
import { h, link } from '../dom.js';
import { ago, duration } from '../format.js';
import { dataTable } from '../table.js';

const STATE_CLASS = { succeeded: 'ok', failed: 'bad', expired: 'bad', cancelled: 'muted' };

export const JOB_STATES = ['queued', 'delivered', 'running', 'succeeded', 'failed', 'expired', 'cancelled'];

export function jobsTable(jobs, { machine = true, params, keepParams = false, filters = [] } = {}) {
  return dataTable({
    id: machine ? 'jobs' : 'machine-jobs',
    caption: 'Jobs',
    rows: jobs,
    params: params ?? new URLSearchParams(),
    keepParams,
    sort: 'id',
    filters,
    search: (j) => `${j.kind} ${j.machine.hostname} ${j.state} ${j.summary ?? ''} ${j.failure ?? ''}`,
    empty: 'No job.',
    columns: [
      { key: 'id', label: 'Job', num: true, value: (j) => -j.id, cell: (j) => link(`/jobs/${j.id}`, String(j.id)) },
      machine
        ? {
            key: 'machine',
            label: 'Machine',
            value: (j) => j.machine.hostname,
            cell: (j) => link(`/machines/${j.machine.id}`, j.machine.hostname),
          }
        : null,
      { key: 'kind', label: 'Kind' },
      { key: 'state', label: 'State', cell: (j) => h('span', { class: STATE_CLASS[j.state] }, j.state) },
      { key: 'createdAt', label: 'Created', cell: (j) => h('time', { datetime: j.createdAt }, ago(j.createdAt)) },
      {
        key: 'finishedAt',
        label: 'Finished',
        cell: (j) => (j.finishedAt ? h('time', { datetime: j.finishedAt }, ago(j.finishedAt)) : '—'),
      },
      { key: 'durationMs', label: 'Took', num: true, cell: (j) => duration(j.durationMs) },
      {
        key: 'summary',
        label: 'Result',
        value: (j) => (j.failure ? `${j.failure}: ${j.summary ?? ''}` : (j.summary ?? '')),
      },
    ].filter(Boolean),
  });
}
