// `aptgate users add|list|remove|passwd|role`: the accounts of the API and the web console. Each
// command runs its operation (ops/access.ts) on the server host as the local principal ("local
// <unix user>", admin) or on --server with a token; the command reads options and prints.
import type { Command } from 'commander';
import type { UserJson } from '../access/json.js';
import { parseRole } from '../access/roles.js';
import { formatUsers, userLine } from './access-format.js';
import { opRunner, type RemoteOpts } from './call.js';
import type { CliShell } from './fleet-context.js';
import { readNewPassword } from './password-input.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerUserCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  const users = program
    .command('users')
    .description('accounts of the API and the web console, with their roles (viewer, operator, admin)');
  leaf(users, 'add', 'add a user; the password is asked twice on a terminal, else read as one line from stdin')
    .argument('<name>', 'lower-case letters, digits, _ . - (at most 32)')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: RemoteOpts & { role: string }) => {
      const role = parseRole(o.role);
      const password = await readNewPassword(`password for ${name}`);
      await run(o, 'users.add', { name, role, password }, (u: UserJson) => userLine('added', u));
    });
  leaf(users, 'list', 'users and their roles (never a password or its hash)')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts) => run(o, 'users.list', {}, (r: { users: UserJson[] }) => formatUsers(r.users)));
  leaf(users, 'remove', 'remove a user with their sessions and API tokens (never the last admin)')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: RemoteOpts) => run(o, 'users.remove', { name }, (u: UserJson) => userLine('removed', u)));
  leaf(users, 'passwd', "set a user's password (asked as for add); their sessions end")
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: RemoteOpts) => {
      const password = await readNewPassword(`new password for ${name}`);
      await run(o, 'users.passwd', { name, password }, (u: UserJson) => userLine('has a new password', u));
    });
  leaf(users, 'role', "change a user's role, at once for their sessions and API tokens (never the last admin's)")
    .argument('<name>')
    .argument('<role>', 'viewer, operator or admin')
    .option('--json', 'machine-readable output')
    .action((name: string, role: string, o: RemoteOpts) =>
      run(o, 'users.role', { name, role: parseRole(role) }, (u: UserJson) => userLine('changed', u)),
    );
}
