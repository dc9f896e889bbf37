// `aptgate gate status`, `aptgate promote`, `aptgate stage rollback|history|list` and
// `aptgate key export`: the release gate's operations (ops/gate.ts), run on the server host (the
// configured database opened directly; the running server publishes what they change when a
// client next reads the stage) or on --server through the API. Stage bindings of classes are
// under `aptgate classes`; rollouts in waves (`aptgate rollout`, and `promote --rollout`) in rollout.ts.
import type { Command } from 'commander';
import type { GateStatusJson, HistoryJson, PromoteJson, RollbackJson, StageListJson } from '../gate/queries.js';
import type { PromoteWithRolloutJson } from '../gate/rollout-queries.js';
import { fail } from '../errors.js';
import { opRunner, type RemoteOpts } from './call.js';
import { idArgument, intOption, type CliShell } from './fleet-context.js';
import { exportKey } from './gate.js';
import {
  formatGateStatus,
  formatHistory,
  formatKeyExport,
  formatPromote,
  formatRollback,
  formatStageList,
} from './gate-format.js';
import { registerRolloutCommands, rolloutFlags, rolloutInput, type RolloutFlags } from './rollout.js';
import { formatPromoteRollout } from './rollout-format.js';

export function registerGateCommands(program: Command, shell: CliShell): void {
  const leaf = (parent: Command, spec: string, description: string) =>
    shell.configured(parent.command(spec).description(description));
  const run = opRunner(shell);

  const gate = program
    .command('gate')
    .description(
      'the release gate: what a stage has that the next one does not, and whether its test machines let it move on',
    );
  leaf(
    gate,
    'status',
    "per stage: the next stage, pending updates, each test machine's standing, whether the gate holds and what is missing",
  )
    .argument('[stage...]', 'stages to show (default: every stage but the last)')
    .option('--json', 'machine-readable output')
    .action((stages: string[], o: RemoteOpts) =>
      run(o, 'gate.status', stages.length ? { stage: stages } : {}, (r: { stages: GateStatusJson[] }) =>
        formatGateStatus(r),
      ),
    );

  rolloutFlags(
    leaf(
      program,
      'promote',
      'move the updates of a stage to the next one (refused while its gate does not hold, unless forced with a reason)',
    ),
  )
    .argument('<stage>', 'the stage whose updates move on')
    .option('--to <next>', 'the next stage (checked: promotion is one step of the ladder at a time)')
    .option('--only <source...>', 'only these source packages (their binaries move together)')
    .option('--security-only', 'only updates from security suites')
    .option('--force', 'promote although the gate does not hold (needs --reason; recorded)')
    .option('--reason <text>', 'why (recorded in the stage history)')
    .option(
      '--rollout <class>',
      'then roll the promoted content out to this class of the next stage in waves (--waves, --soak, --halt, --jobs)',
    )
    .option('--json', 'machine-readable output')
    .action(
      (
        stage: string,
        o: RemoteOpts &
          RolloutFlags & {
            to?: string;
            only?: string[];
            securityOnly?: boolean;
            force?: boolean;
            reason?: string;
            rollout?: string;
          },
      ) => {
        if (o.rollout === undefined && Object.keys(rolloutInput(o)).length)
          fail('USAGE', '--waves, --soak, --halt and --jobs go with --rollout CLASS');
        return run(
          o,
          'gate.promote',
          {
            stage,
            ...(o.to === undefined ? {} : { to: o.to }),
            ...(o.only === undefined ? {} : { only: o.only }),
            ...(o.securityOnly ? { securityOnly: true } : {}),
            ...(o.force ? { force: true } : {}),
            ...(o.reason === undefined ? {} : { reason: o.reason }),
            ...(o.rollout === undefined ? {} : { rollout: { class: o.rollout, ...rolloutInput(o) } }),
          },
          (r: PromoteJson | PromoteWithRolloutJson) => ('rollout' in r ? formatPromoteRollout(r) : formatPromote(r)),
        );
      },
    );
  registerRolloutCommands(program, shell, leaf);

  const stage = program
    .command('stage')
    .description('stages of the release ladder: what each publishes, its history, rollback');
  leaf(
    stage,
    'list',
    'the ladder: per stage its suites and their current generation, the classes bound to it, auto-promotion',
  )
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts) => run(o, 'stages.list', {}, (r: StageListJson) => formatStageList(r)));
  leaf(stage, 'history', 'every generation of a stage: when, kind, who, why, evidence, content')
    .argument('<stage>')
    .option('--limit <n>', 'only the newest N generations')
    .option('--before <id>', 'only generations older than this one (the next page)')
    .option('--json', 'machine-readable output')
    .action((name: string, o: RemoteOpts & { limit?: string; before?: string }) =>
      run(
        o,
        'stages.history',
        {
          stage: name,
          ...(o.limit === undefined ? {} : { limit: intOption('--limit', o.limit, 1, 10_000) }),
          ...(o.before === undefined ? {} : { before: idArgument('--before', o.before) }),
        },
        (r: HistoryJson) => formatHistory(r),
      ),
    );
  leaf(
    stage,
    'rollback',
    'switch every suite of a stage back to its previous content (clients are no longer offered the newer versions; nothing is downgraded)',
  )
    .argument('<stage>')
    .option('--reason <text>', 'why (recorded in the stage history)')
    .option('--json', 'machine-readable output')
    .action((name: string, o: RemoteOpts & { reason?: string }) =>
      run(
        o,
        'stages.rollback',
        { stage: name, ...(o.reason === undefined ? {} : { reason: o.reason }) },
        (r: RollbackJson) => formatRollback(r),
      ),
    );

  const key = program.command('key').description("the server's signing key (it signs every stage's InRelease)");
  leaf(
    key,
    'export',
    "print or write the server's public key, for clients' Signed-By (the server makes it at its first start)",
  )
    .option('--binary', 'a binary keyring instead of ASCII armor (needs --output)')
    .option('--output <file>', 'write it to this file (mode 0644) instead of printing it')
    .option('--json', 'machine-readable output')
    .action(async (o: RemoteOpts & { binary?: boolean; output?: string }) => {
      const r = await exportKey(shell, o, {
        binary: o.binary === true,
        ...(o.output === undefined ? {} : { output: o.output }),
      });
      shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatKeyExport(r));
    });
}
