// The fleet at a glance (`aptgate overview`, GET /overview): how many machines are in each state
// (the predicates of machine-states.ts, which GET /machines?state= filters by: each count is that
// list's total) and the proxy's totals. The gate's part is gate/queries.ts (ops/overview.ts joins them).
import { ClientStore } from '../../state/clients.js';
import type { FleetQueryContext } from './context.js';
import { machineFacts } from './machine-rows.js';
import { countStates, type MachineState, type StateClock } from './machine-states.js';

export interface FleetOverview {
  machines: {
    total: number;
    /** "not seen" is for longer than this */
    unseen: string;
    states: Record<MachineState, number>;
  };
  proxy: {
    /** client addresses the proxy knows (at most 10,000, the least recently seen forgotten first) */
    clients: number;
    requests: number;
    /** bytes served to clients */
    bytes: number;
    hits: number;
    misses: number;
    /** hits / (hits + misses); null before any */
    hitRatio: number | null;
  };
}

export async function fleetOverview(
  ctx: FleetQueryContext,
  clock: StateClock & { unseen: string },
): Promise<FleetOverview> {
  const rows = await machineFacts(ctx, { statesOnly: true });
  const t = new ClientStore(ctx.db).totals();
  return {
    machines: { total: rows.length, unseen: clock.unseen, states: countStates(rows, clock) },
    proxy: { ...t, hitRatio: t.hits + t.misses ? t.hits / (t.hits + t.misses) : null },
  };
}
