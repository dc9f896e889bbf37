// Rollouts in the graph: the fleet's side they need (a class's machines, their upgrade jobs, the
// jobs a wave gets) lent to the gate's RolloutService, asked only once the graph is built.
import type { Config } from '../config.js';
import type { Fleet } from '../fleet/fleet.js';
import { RolloutService, type RolloutFleet } from '../gate/rollouts.js';
import type { RolloutStore } from '../state/rollouts.js';
import type { StageStore } from '../state/stages.js';

function rolloutFleet(config: Config, fleet: () => Fleet): RolloutFleet {
  const ladder = config.gate.stages;
  return {
    hostname: (id) => fleet().machines.byId(id)?.hostname,
    upgradeJobs: (machine) =>
      fleet()
        // brief rows: a class's every machine is read at each tick, transcripts only for a failure
        .jobs.list({ machineId: machine, limit: 50, brief: true })
        .filter((j) => j.kind === 'upgrade' || j.kind === 'dist-upgrade'),
    job: (id) => fleet().jobs.byId(id),
    classBinding: (name) => {
      const c = fleet().classes.byName(name);
      return c ? { stage: c.stage, gate: c.gate } : undefined;
    },
    classMachines: (name, stage) => {
      const classes = fleet().classes;
      // classes come in precedence order: members of a class bound before this one follow that one
      const all = classes.all();
      const at = all.findIndex((c) => c.name === name);
      if (at < 0 || all[at]!.stage !== stage) return [];
      const before = new Set(
        all
          .slice(0, at)
          .filter((c) => c.stage !== null && ladder.includes(c.stage))
          .flatMap((c) => classes.membersOf(c.id)),
      );
      return classes.machinesOf(all[at]!.id).flatMap((b) => {
        if (b.status !== 'approved' || before.has(b.id)) return [];
        const m = fleet().machines.byId(b.id);
        return m ? [{ id: m.id, machineId: m.machineId }] : [];
      });
    },
    queueUpgrades: (machines, kind, origin) => {
      const made = fleet().jobs.createFor(machines, { kind, origin });
      // the wave's machines check in now (a push, where the agent listens) rather than at their next turn
      fleet().setPullNow(
        made.map((x) => x.machineId),
        true,
      );
      return new Map(made.map((x) => [x.machineId, x.id]));
    },
    cancelJob: (job) => {
      const j = fleet().jobs.byId(job);
      if (j?.state === 'queued') fleet().jobs.cancel(job);
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
  return new RolloutService({ store, stages, ladder: config.gate.stages, fleet: rolloutFleet(config, fleet), now });
}
