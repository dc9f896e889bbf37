// The administrator's fleet commands on the server host (the configured database is opened
// directly; nothing here is reachable over the network), one file per noun: tokens, machines,
// packages, push, classes, jobs (with schedules). The answers come from fleet/queries/.
import type { Command } from 'commander';
import { registerClassCommands } from './classes.js';
import { registerCveCommand } from './cves.js';
import type { CliShell } from './fleet-context.js';
import { registerJobCommands } from './jobs.js';
import { registerMachineCommands } from './machines.js';
import { registerOverviewCommand } from './overview.js';
import { registerPackageCommand } from './packages.js';
import { registerPushCommand } from './push.js';
import { registerSiteCommands } from './sites.js';
import { registerTokenCommands } from './tokens.js';

export type { CliShell } from './fleet-context.js';

export function registerFleetCommands(program: Command, shell: CliShell): void {
  const leaf = (parent: Command, spec: string, description: string) =>
    shell.configured(parent.command(spec).description(description));
  registerOverviewCommand(program, shell, leaf);
  registerTokenCommands(program, shell, leaf);
  registerMachineCommands(program, shell, leaf);
  registerPackageCommand(program, shell, leaf);
  registerPushCommand(program, shell, leaf);
  registerClassCommands(program, shell, leaf);
  registerJobCommands(program, shell, leaf);
  registerCveCommand(program, shell, leaf);
  registerSiteCommands(program, shell, leaf);
}
