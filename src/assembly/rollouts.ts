// Rollouts in the graph: the fleet's side they need (a class's machines, their upgrade jobs, the
// jobs a wave gets) lent to the gate's RolloutService, asked only once the graph is built.
import type { Config } from '../config.js';
import type { Fleet } from '../fleet/fleet.js';
import { failureText } from '../gate/gate.js';
import { RolloutService, type RolloutFleet } from '../gate/rollouts.js';
import type { Db } from '../state/db.js';
import { nextTurn } from '../sys/time-slice.js';
import type { RolloutStore } from '../state/rollouts.js';
import type { StageStore } from '../state/stages.js';

function rolloutFleet(config: Config, fleet: () => Fleet, db: Db): RolloutFleet {
  const ladder = config.gate.stages;
  return {
    classBinding: (name) => {
      const c = fleet().classes.byName(name);
      return c ? { stage: c.stage, gate: c.gate, createdAt: c.createdAt } : undefined;
    },
    classMachines: async (name, stage, slicer) => {
      const classes = fleet().classes;
      // classes come in precedence order: members of a class bound before this one follow that one
      const all = classes.all();
      const at = all.findIndex((c) => c.name === name);
      if (at < 0 || all[at]!.stage !== stage) return [];
      const before = all.slice(0, at).filter((c) => c.stage !== null && ladder.includes(c.stage));
      const taken = new Set<number>();
      for (const ids of (
        await classes.membersInSlices(
          before.map((c) => c.id),
          slicer,
        )
      ).values())
        for (const id of ids) taken.add(id);
      const mine = (await classes.machinesInSlices([all[at]!.id], slicer)).get(all[at]!.id) ?? [];
      return mine.flatMap((b) => (b.status === 'approved' && !taken.has(b.id) ? [b.id] : []));
    },
    queueUpgrades: async (parents, kind, origin) => {
      const made = await fleet().jobs.createInTurns([...parents.keys()], { kind, origin }, { parents });
      // the wave's machines check in now (a push, where the agent listens) rather than at their next turn
      const ids = made.map((x) => x.machineId);
      for (let at = 0; at < ids.length; at += 2000) {
        if (at) await nextTurn();
        fleet().setPullNow(ids.slice(at, at + 2000), true);
      }
      return new Map(made.map((x) => [x.machineId, x.id]));
    },
    // one transaction (a commit per job took 0.2 ms each)
    cancelJobs: (jobs) =>
      db.transaction(() => {
        // only a job not handed out yet: one delivered since stays the machine's
        for (const id of jobs) if (fleet().jobs.byId(id)?.state === 'queued') fleet().jobs.cancel(id);
      })(),
    failureOf: (job) => {
      const j = fleet().jobs.byId(job);
      return j ? failureText(j) : '';
    },
  };
}

export function buildRollouts(
  config: Config,
  store: RolloutStore,
  stages: StageStore,
  fleet: () => Fleet,
  now: () => number,
): RolloutService {
  return new RolloutService({
    store,
    stages,
    ladder: config.gate.stages,
    fleet: rolloutFleet(config, fleet, store.db),
    now,
  });
}
