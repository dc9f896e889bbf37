// `aptgate api-tokens list|create|revoke`: tokens for scripts and the remote command line
// (ops/access.ts). On the server host (local principal) `create` must name the owner (--user).
import type { Command } from 'commander';
import type { ApiTokenJson } from '../access/json.js';
import { parseRole } from '../access/roles.js';
import { opRunner, type RemoteOpts } from './call.js';
import { idArgument, type CliShell } from './fleet-context.js';
import { visible } from '../term/visible.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

function formatTokens(ts: readonly ApiTokenJson[]): string {
  if (ts.length === 0) return 'no API tokens\n';
  const rows = ts.map((t) => [
    String(t.id),
    visible(t.owner),
    visible(t.name ?? ''),
    t.role === t.effectiveRole ? t.role : `${t.role} (as ${t.effectiveRole})`,
    t.state,
    t.expiresAt.slice(0, 16).replace('T', ' '),
    t.lastUsed ? t.lastUsed.slice(0, 16).replace('T', ' ') : 'never',
  ]);
  const head = ['ID', 'OWNER', 'NAME', 'ROLE', 'STATE', 'EXPIRES', 'LAST USED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map(
      (r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd() + '\n',
    )
    .join('');
}

export function registerApiTokenCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  const tokens = program
    .command('api-tokens')
    .description('API tokens for scripts and the remote command line (hashed on the server, shown once)');
  leaf(tokens, 'list', "your API tokens (an admin's: everyone's, or --user's); never the token itself")
    .option('--user <name>', "only this user's tokens")
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts & { user?: string }) =>
      run(o, 'api-tokens.list', o.user === undefined ? {} : { user: o.user }, (r: { tokens: ApiTokenJson[] }) =>
        formatTokens(r.tokens),
      ),
    );
  leaf(tokens, 'create', 'make a token (printed once); its role is at most its owner’s and yours')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .requiredOption('--expires <duration>', 'how long it lasts: 30d, 12h (at most 365d)')
    .option('--name <label>', 'what it is for')
    .option('--user <name>', 'its owner (required on the server host; an admin may name another user)')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts & { role: string; expires: string; name?: string; user?: string }) =>
      run(
        o,
        'api-tokens.create',
        {
          role: parseRole(o.role),
          expires: o.expires,
          ...(o.name === undefined ? {} : { name: o.name }),
          ...(o.user === undefined ? {} : { user: o.user }),
        },
        (t: ApiTokenJson & { token: string }) =>
          `API token ${t.id} for ${visible(t.owner)} (${t.role}), expires ${t.expiresAt}:\n${t.token}\n` +
          'it is shown this once: keep it where scripts read it (APTGATE_TOKEN)\n',
      ),
    );
  leaf(tokens, 'revoke', 'revoke a token at once (your own; an admin: anyone’s)')
    .argument('<id>', 'the token id (api-tokens list)')
    .option('--json', 'machine-readable output')
    .action((id: string, o: RemoteOpts) =>
      run(
        o,
        'api-tokens.revoke',
        { id: idArgument('token id', id) },
        (t: ApiTokenJson) => `API token ${t.id} revoked\n`,
      ),
    );
}
