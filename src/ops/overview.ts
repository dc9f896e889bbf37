// The overview (`aptgate overview`, GET /overview): machines by state, each count the total of
// GET /machines?state= (fleet/queries/overview.ts); per stage, the gate open or closed and what it
// waits for (gate/queries.ts); the proxy's totals.
import { fleetOverview } from '../fleet/queries/overview.js';
import { UNSEEN_DEFAULT } from '../fleet/queries/machine-states.js';
import { gateStatus } from '../gate/queries.js';
import { nextTurn } from '../sys/time-slice.js';
import { object, op, str } from './operation.js';
import { durationOption } from './values.js';

export const overviewOps = [
  op({
    name: 'overview.show',
    summary: 'machines by state (each count a GET /machines?state= total), the gate of each stage, the proxy’s totals',
    role: 'viewer',
    method: 'GET',
    path: '/overview',
    input: {
      properties: {
        unseen: str('"not seen" means for longer than this (default 7d)', { maxLength: 20 }),
      },
    },
    output: object('`{ machines: { total, unseen, states }, gate: { stages }, proxy }`'),
    changes: false,
    run: async ({ services, fleet }, i: { unseen?: string }) => {
      const unseen = i.unseen ?? UNSEEN_DEFAULT;
      const o = await fleetOverview(fleet, { now: fleet.now(), unseenMs: durationOption('unseen', unseen), unseen });
      // a turn between the fleet's statements and the gate's: neither holds the loop for both
      await nextTurn();
      const gate = gateStatus({ config: services.config, gate: services.gate, fleet: services.fleet }, []);
      return { machines: o.machines, gate, proxy: o.proxy };
    },
  }),
];
