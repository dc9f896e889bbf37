// `aptgate gate status`, `aptgate promote`, `aptgate stage rollback|history|list` and
// `aptgate key export`: the release gate on the server host (the configured database is opened
// directly, as for the fleet commands; the running server publishes what they change when a
// client next reads the stage). Stage bindings of classes are under `aptgate classes`.
import type { Command } from 'commander';
import { textOption, withFleet, type CliShell, type FleetContext } from './fleet-context.js';
import { checkPromote, gateStatus, history, listStages, rollback, type PromoteOptions } from '../gate/queries.js';
import { exportKey, invokingUser, promote } from './gate.js';
import {
  formatGateStatus,
  formatHistory,
  formatKeyExport,
  formatPromote,
  formatRollback,
  formatStageList,
} from './gate-format.js';

type Json = { json?: boolean };

export function registerGateCommands(program: Command, shell: CliShell): void {
  const leaf = (parent: Command, spec: string, description: string) =>
    shell.configured(parent.command(spec).description(description));
  const print = <T>(o: Json, r: T, human: (r: T) => string) =>
    shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : human(r));
  const run = async <T>(o: Json, fn: (ctx: FleetContext) => T | Promise<T>, human: (r: T) => string) =>
    print(o, await withFleet(shell.configFrom(o), fn), human);

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
    .action((stages: string[], o: Json) => run(o, (ctx) => gateStatus(ctx, stages), formatGateStatus));

  leaf(
    program,
    'promote',
    'move the updates of a stage to the next one (refused while its gate does not hold, unless forced with a reason)',
  )
    .argument('<stage>', 'the stage whose updates move on')
    .option('--to <next>', 'the next stage (checked: promotion is one step of the ladder at a time)')
    .option('--only <source...>', 'only these source packages (their binaries move together)')
    .option('--security-only', 'only updates from security suites')
    .option('--force', 'promote although the gate does not hold (needs --reason; recorded)')
    .option('--reason <text>', 'why (recorded in the stage history)')
    .option('--json', 'machine-readable output')
    .action(
      (
        stage: string,
        o: Json & { to?: string; only?: string[]; securityOnly?: boolean; force?: boolean; reason?: string },
      ) => {
        const opts: PromoteOptions = {
          actor: invokingUser(),
          ...(o.to === undefined ? {} : { to: o.to }),
          ...(o.only === undefined ? {} : { only: o.only }),
          securityOnly: o.securityOnly === true,
          force: o.force === true,
          ...(o.reason === undefined ? {} : { reason: textOption('--reason', o.reason, 500) }),
        };
        const config = shell.configFrom(o);
        checkPromote(config, stage, opts); // before the database is opened
        return run(o, (ctx) => promote(ctx, stage, opts), formatPromote);
      },
    );

  const stage = program
    .command('stage')
    .description('stages of the release ladder: what each publishes, its history, rollback');
  leaf(
    stage,
    'list',
    'the ladder: per stage its suites and their current generation, the classes bound to it, auto-promotion',
  )
    .option('--json', 'machine-readable output')
    .action((o: Json) => run(o, (ctx) => listStages(ctx), formatStageList));
  leaf(stage, 'history', 'every generation of a stage: when, kind, who, why, evidence, content')
    .argument('<stage>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json) => run(o, (ctx) => history(ctx, name), formatHistory));
  leaf(
    stage,
    'rollback',
    'switch every suite of a stage back to its previous content (clients are no longer offered the newer versions; nothing is downgraded)',
  )
    .argument('<stage>')
    .option('--reason <text>', 'why (recorded in the stage history)')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json & { reason?: string }) =>
      run(
        o,
        (ctx) =>
          rollback(ctx, name, {
            actor: invokingUser(),
            ...(o.reason === undefined ? {} : { reason: textOption('--reason', o.reason, 500) }),
          }),
        formatRollback,
      ),
    );

  const key = program.command('key').description("the server's signing key (it signs every stage's InRelease)");
  leaf(
    key,
    'export',
    "print or write the server's public key, for clients' Signed-By (creates the key if the server has not yet)",
  )
    .option('--binary', 'a binary keyring instead of ASCII armor (needs --output)')
    .option('--output <file>', 'write it to this file (mode 0644) instead of printing it')
    .option('--json', 'machine-readable output')
    .action(async (o: Json & { binary?: boolean; output?: string }) =>
      print(
        o,
        await exportKey(shell.configFrom(o), {
          binary: o.binary === true,
          ...(o.output === undefined ? {} : { output: o.output }),
        }),
        formatKeyExport,
      ),
    );
}
