// Push (fleet/queries/push.ts): the targets' pull-now flag, so that their agents pull at their
// next check-in, and the hosts to reach. Running the agent over ssh is the command line's part,
// from where it runs (its ssh, keys and options): the API never starts a process from what a
// request says.
import { markPullNow } from '../fleet/queries/push.js';
import { object, op, strings } from './operation.js';

export const pushOps = [
  op({
    name: 'push.create',
    summary: 'make machines pull now: set the pull-now flag of the approved ones among classes, ids or hostnames',
    role: 'operator',
    method: 'POST',
    path: '/push',
    input: {
      properties: { targets: { ...strings('class names, machine ids or hostnames', 1000), minItems: 1 } },
      required: ['targets'],
    },
    output: object(
      '`{ pullNow, skipped, hosts }`: flagged machines, those left alone and why, the hosts to run the agent on',
    ),
    changes: true,
    run: ({ fleet }, i: { targets: string[] }) => markPullNow(fleet, i.targets),
  }),
];
