// `aptgate token create|list|revoke`: enrolment tokens, through the operations of ops/tokens.ts
// (here or on --server); fleet-format.ts prints.
import { type Command } from 'commander';
import type { TokenCreated, TokenInfo } from '../fleet/queries/tokens.js';
import { formatTokenCreated, formatTokens } from './fleet-format.js';
import { opRunner, type RemoteOpts } from './call.js';
import { idArgument, intOption, type CliShell } from './fleet-context.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

interface CreateOpts extends RemoteOpts {
  class?: string;
  autoApprove?: boolean;
  expires?: string;
  uses?: string;
  note?: string;
  enrolUrl?: string;
}

export function registerTokenCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);

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
    .option(
      '--enrol-url <url>',
      "the server URL printed in the enrol command (default http://SERVER-HOST:PORT, the server's host name and apt port)",
    )
    .option('--json', 'machine-readable output')
    .action((o: CreateOpts) =>
      run(
        o,
        'tokens.create',
        {
          ...(o.class === undefined ? {} : { class: o.class }),
          ...(o.autoApprove ? { autoApprove: true } : {}),
          ...(o.expires === undefined ? {} : { expires: o.expires }),
          ...(o.uses === undefined ? {} : { uses: intOption('--uses', o.uses, 1, 1_000_000) }),
          ...(o.note === undefined ? {} : { note: o.note }),
          ...(o.enrolUrl === undefined ? {} : { enrolUrl: o.enrolUrl }),
        },
        (r: TokenCreated) => formatTokenCreated(r),
      ),
    );
  leaf(token, 'list', 'tokens with their class, expiry, uses and state (never the tokens themselves)')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts) => run(o, 'tokens.list', {}, (r: { tokens: TokenInfo[] }) => formatTokens(r.tokens)));
  leaf(token, 'revoke', 'revoke a token: no further enrolment with it')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: RemoteOpts) =>
      run(o, 'tokens.revoke', { id: idArgument('token id', id) }, (t: TokenInfo) => `token ${t.id} revoked\n`),
    );
}
