// `aptgate packages NAME`: who has a package, through the operation packages.users (here or on
// --server); fleet-format.ts prints.
import { type Command } from 'commander';
import type { PackageUsers } from '../fleet/queries/packages.js';
import { formatPackageUsers } from './fleet-format.js';
import { callAllPages, type RemoteOpts } from './call.js';
import type { CliShell } from './fleet-context.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerPackageCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  leaf(program, 'packages', 'which machines have a package installed, at which version, and whether it is outdated')
    .argument('<name>', 'binary package name, e.g. openssl')
    .option('--older-than <version>', 'only machines whose version is older (dpkg order)')
    .option('--security', 'only machines with a security update of it')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: RemoteOpts & { olderThan?: string; security?: boolean }) => {
      const input = {
        name,
        ...(o.olderThan === undefined ? {} : { olderThan: o.olderThan }),
        ...(o.security ? { security: true } : {}),
      };
      const r = (await callAllPages(shell, o, 'packages.users', input, 'machines')) as unknown as PackageUsers;
      shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatPackageUsers(r));
    });
}
