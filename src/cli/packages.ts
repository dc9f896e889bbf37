// `aptgate packages NAME`: who has a package (fleet/queries/packages.ts answers; fleet-format.ts prints).
import { type Command } from 'commander';
import { packageUsers } from '../fleet/queries/packages.js';
import { formatPackageUsers } from './fleet-format.js';
import { runner, type CliShell } from './fleet-context.js';

type Json = { json?: boolean };
type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerPackageCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);

  leaf(program, 'packages', 'which machines have a package installed, at which version, and whether it is outdated')
    .argument('<name>', 'binary package name, e.g. openssl')
    .option('--older-than <version>', 'only machines whose version is older (dpkg order)')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json & { olderThan?: string }) =>
      run(o, (ctx) => packageUsers(ctx, name, o.olderThan), formatPackageUsers),
    );
}
