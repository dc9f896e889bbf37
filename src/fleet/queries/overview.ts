// The fleet at a glance (`aptgate overview`, GET /overview): how many machines are in each state
// (the predicates of machine-states.ts, which GET /machines?state= filters by: each count is that
// list's total) and the proxy's totals. The gate's part is gate/queries.ts (ops/overview.ts joins them).
import { ClientStore } from '../../state/clients.js';
import type { FleetQueryContext } from './context.js';
import { factsTable, withCounts } from './machine-rows.js';
import { MACHINE_STATES, stateCondition, stateParams, type MachineState, type StateClock } from './machine-states.js';

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
  // one statement: the machines, and how many satisfy each state's condition
  const sums = MACHINE_STATES.map((s) => `coalesce(SUM(CASE WHEN ${stateCondition(s)} THEN 1 ELSE 0 END), 0)`);
  const [total, ...n] = await withCounts(ctx, () =>
    ctx.db
      .prepare<[object], number[]>(`${factsTable()} SELECT count(*), ${sums.join(', ')} FROM f`)
      .raw(true)
      .get(stateParams(clock))!,
  );
  const states = Object.fromEntries(MACHINE_STATES.map((s, i) => [s, n[i]!])) as Record<MachineState, number>;
  const t = new ClientStore(ctx.db).totals();
  return {
    machines: { total: total!, unseen: clock.unseen, states },
    proxy: { ...t, hitRatio: t.hits + t.misses ? t.hits / (t.hits + t.misses) : null },
  };
}
