// `aptgate users add|list|remove|passwd|role`: the accounts of the API and the web console, on
// the server host as the local principal ("local <unix user>", admin). One function per command
// does the domain call and its audit record; the command around it reads options and prints.
import type { Command } from 'commander';
import { userJson, type UserJson } from '../access/json.js';
import { localPrincipal, type Principal } from '../access/principal.js';
import { parseRole } from '../access/roles.js';
import type { Services } from '../assembly/services.js';
import { formatUsers, userLine } from './access-format.js';
import { runner, type CliShell } from './fleet-context.js';
import { readNewPassword } from './password-input.js';

type Json = { json?: boolean };
type Leaf = (parent: Command, spec: string, description: string) => Command;

export function listUsers(s: Services): { users: UserJson[] } {
  return { users: s.access.listUsers().map(userJson) };
}

export function addUser(s: Services, by: Principal, a: { name: string; role: string; password: string }) {
  return s.audit.recorded({ principal: by, action: 'users.add', args: { name: a.name, role: a.role } }, async () =>
    userJson(await s.access.addUser(a.name, a.role, a.password)),
  );
}

export function removeUser(s: Services, by: Principal, a: { name: string }) {
  return s.audit.recorded({ principal: by, action: 'users.remove', args: a }, () =>
    userJson(s.access.removeUser(a.name)),
  );
}

export function setUserPassword(s: Services, by: Principal, a: { name: string; password: string }) {
  return s.audit.recorded({ principal: by, action: 'users.passwd', args: { name: a.name } }, async () =>
    userJson(await s.access.setPassword(a.name, a.password)),
  );
}

export function setUserRole(s: Services, by: Principal, a: { name: string; role: string }) {
  return s.audit.recorded({ principal: by, action: 'users.role', args: a }, () =>
    userJson(s.access.setRole(a.name, a.role)),
  );
}

export function registerUserCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);
  const users = program
    .command('users')
    .description('accounts of the API and the web console, with their roles (viewer, operator, admin)');
  leaf(users, 'add', 'add a user; the password is asked twice on a terminal, else read as one line from stdin')
    .argument('<name>', 'lower-case letters, digits, _ . - (at most 32)')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: Json & { role: string }) => {
      const role = parseRole(o.role);
      const password = await readNewPassword(`password for ${name}`);
      await run(
        o,
        (ctx) => addUser(ctx.services, localPrincipal(), { name, role, password }),
        (u) => userLine('added', u),
      );
    });
  leaf(users, 'list', 'users and their roles (never a password or its hash)')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(
        o,
        (ctx) => listUsers(ctx.services),
        (r) => formatUsers(r.users),
      ),
    );
  leaf(users, 'remove', 'remove a user with their sessions and API tokens (never the last admin)')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json) =>
      run(
        o,
        (ctx) => removeUser(ctx.services, localPrincipal(), { name }),
        (u) => userLine('removed', u),
      ),
    );
  leaf(users, 'passwd', "set a user's password (asked as for add); their sessions end")
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: Json) => {
      const password = await readNewPassword(`new password for ${name}`);
      await run(
        o,
        (ctx) => setUserPassword(ctx.services, localPrincipal(), { name, password }),
        (u) => userLine('has a new password', u),
      );
    });
  leaf(users, 'role', "change a user's role, at once for their sessions and API tokens (never the last admin's)")
    .argument('<name>')
    .argument('<role>', 'viewer, operator or admin')
    .option('--json', 'machine-readable output')
    .action((name: string, role: string, o: Json) =>
      run(
        o,
        (ctx) => setUserRole(ctx.services, localPrincipal(), { name, role: parseRole(role) }),
        (u) => userLine('changed', u),
      ),
    );
}
