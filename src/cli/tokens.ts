// `aptgate token create|list|revoke`: enrolment tokens (fleet/queries/tokens.ts answers; fleet-format.ts prints).
import { type Command } from 'commander';
import { createToken, listTokens, revokeToken } from '../fleet/queries/tokens.js';
import { formatTokenCreated, formatTokens } from './fleet-format.js';
import { durationOption, idArgument, intOption, runner, type CliShell } from './fleet-context.js';

type Json = { json?: boolean };
type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerTokenCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);

  const token = program.command('token').description('enrolment tokens: what a new machine needs to join (shown once)');
  leaf(token, 'create', 'create a token and print it with the command to run on a client')
    .option('--class <name>', 'machines enrolled with it join this class')
    .option(
      '--auto-approve',
      'machines enrolled with it are approved at once (default: pending until aptgate machines approve)',
    )
    .option('--expires <duration>', 'valid for this long, e.g. 7d or 12h (default: no expiry)')
    .option('--uses <n>', 'enrolments it allows (default: unlimited)')
    .option('--note <text>', 'a note for token list')
    .option('--enrol-url <url>', 'the server URL printed in the enrol command (default http://THIS-HOST:PORT)')
    .option('--json', 'machine-readable output')
    .action(
      (
        o: Json & {
          class?: string;
          autoApprove?: boolean;
          expires?: string;
          uses?: string;
          note?: string;
          enrolUrl?: string;
        },
      ) =>
        run(
          o,
          (ctx) =>
            createToken(ctx, {
              ...(o.class === undefined ? {} : { class: o.class }),
              autoApprove: o.autoApprove === true,
              ...(o.expires === undefined ? {} : { expiresMs: durationOption('--expires', o.expires) }),
              ...(o.uses === undefined ? {} : { uses: intOption('--uses', o.uses, 1, 1_000_000) }),
              ...(o.note === undefined ? {} : { note: o.note }),
              ...(o.enrolUrl === undefined ? {} : { server: o.enrolUrl }),
            }),
          formatTokenCreated,
        ),
    );
  leaf(token, 'list', 'tokens with their class, expiry, uses and state (never the tokens themselves)')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(
        o,
        (ctx) => ({ tokens: listTokens(ctx) }),
        (r) => formatTokens(r.tokens),
      ),
    );
  leaf(token, 'revoke', 'revoke a token: no further enrolment with it')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(
        o,
        (ctx) => revokeToken(ctx, idArgument('token id', id)),
        (t) => `token ${t.id} revoked\n`,
      ),
    );
}
