// `aptgate rollout start|status|pause|resume|abort`: rollouts in waves (ops/rollouts.ts), run on
// the server host or on --server through the API, printed by rollout-format.ts. The options of a
// rollout are also those of `aptgate promote --rollout CLASS` (gate-commands.ts).
import { Option, type Command } from 'commander';
import type { RolloutDetailJson, RolloutJson } from '../gate/rollout-queries.js';
import type { RolloutOptionsInput } from '../ops/rollout-options.js';
import { offer } from '../term/completion.js';
import { opRunner, type RemoteOpts } from './call.js';
import { idArgument, intOption, type CliShell } from './fleet-context.js';
import { formatRollout, formatRollouts } from './rollout-format.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

export interface RolloutFlags {
  waves?: string;
  soak?: string;
  halt?: string;
  jobs?: string;
}

/** --waves, --soak, --halt, --jobs: the options of a rollout (rollout start, promote --rollout). */
export function rolloutFlags(cmd: Command): Command {
  return cmd
    .option('--waves <shares>', 'cumulative shares of the class, rising, the last 100% (default 10%,50%,100%)')
    .option('--soak <duration>', 'how long each wave soaks once its machines upgraded (default 1h)')
    .option(
      '--halt <n|share>',
      'halt when this many machines (1) or this share (10%) of the open wave failed (default 1)',
    )
    .addOption(
      offer(
        new Option(
          '--jobs <kind>',
          "the job a wave's machines get when it opens: upgrade (default), dist-upgrade, none",
        ),
        ['upgrade', 'dist-upgrade', 'none'],
      ),
    );
}

/** The flags as the operation takes them (it checks each value and fills the defaults). */
export function rolloutInput(o: RolloutFlags): RolloutOptionsInput {
  return {
    ...(o.waves === undefined ? {} : { waves: o.waves }),
    ...(o.soak === undefined ? {} : { soak: o.soak }),
    ...(o.halt === undefined ? {} : { halt: o.halt }),
    ...(o.jobs === undefined ? {} : { jobs: o.jobs as RolloutOptionsInput['jobs'] }),
  };
}

export function registerRolloutCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  const rollout = program
    .command('rollout')
    .description("rollouts in waves: a stage's new content reaches a class a share at a time, halted by failures");

  rolloutFlags(
    leaf(
      rollout,
      'start',
      "roll the stage's current content out to a class in waves (the first wave opens at once; see aptgate rollout status)",
    ),
  )
    .argument('<stage>', 'the stage whose current content rolls out')
    .requiredOption('--class <name>', 'a class bound to that stage')
    .option('--reshuffle', "new wave places for the class's machines (they keep theirs otherwise)")
    .option('--reason <text>', "why (recorded in the rollout's events and the audit log)")
    .option('--json', 'machine-readable output')
    .action((stage: string, o: RemoteOpts & RolloutFlags & { class: string; reshuffle?: boolean; reason?: string }) =>
      run(
        o,
        'rollouts.start',
        {
          stage,
          class: o.class,
          ...rolloutInput(o),
          ...(o.reshuffle ? { reshuffle: true } : {}),
          ...(o.reason === undefined ? {} : { reason: o.reason }),
        },
        (r: RolloutDetailJson) => formatRollout(r),
      ),
    );

  leaf(
    rollout,
    'status',
    "without an id: the rollouts, newest first (the history); with one: its waves, every machine's standing, state and why, events",
  )
    .argument('[id]', 'a rollout')
    .option('--stage <stage>', 'the list: only rollouts of this stage')
    .option('--limit <n>', 'the list: only the newest N (default 100)')
    .option('--json', 'machine-readable output')
    .action((id: string | undefined, o: RemoteOpts & { stage?: string; limit?: string }) =>
      id === undefined
        ? run(
            o,
            'rollouts.list',
            {
              ...(o.stage === undefined ? {} : { stage: o.stage }),
              ...(o.limit === undefined ? {} : { limit: intOption('--limit', o.limit, 1, 1000) }),
            },
            (r: { rollouts: RolloutJson[] }) => formatRollouts(r.rollouts),
          )
        : run(o, 'rollouts.show', { id: idArgument('rollout', id) }, (r: RolloutDetailJson) => formatRollout(r)),
    );

  const acts = [
    ['pause', 'hold a running rollout where it is (no wave opens; machines keep what they read)'],
    ['resume', 'a paused or halted rollout runs again (a halted wave is judged again)'],
    ['abort', 'every machine of the class back to the content before the rollout (nothing is downgraded)'],
  ] as const;
  for (const [what, description] of acts)
    leaf(rollout, what, description)
      .argument('<id>', 'the rollout')
      .option('--reason <text>', "why (recorded in the rollout's events and the audit log)")
      .option('--json', 'machine-readable output')
      .action((id: string, o: RemoteOpts & { reason?: string }) =>
        run(
          o,
          `rollouts.${what}`,
          { id: idArgument('rollout', id), ...(o.reason === undefined ? {} : { reason: o.reason }) },
          (r: RolloutDetailJson) => formatRollout(r),
        ),
      );
}
