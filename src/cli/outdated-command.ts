// `aptgate outdated`: its command-line definition, shared by the full program and the one-shot
// path of main.ts (which loads nothing of the server, fleet or gate for it).
import type { Command } from 'commander';
import { formatOutdated, outdatedFromFiles, outdatedJson, type OutdatedFromFilesOptions } from './outdated.js';
import { visible } from '../term/visible.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerOutdatedCommand(program: Command, out: (s: string) => void): void {
  program
    .command('outdated')
    .description('which installed packages are outdated, as apt decides it, computed from files (no server needed)')
    .requiredOption('--status <file>', 'dpkg status file (/var/lib/dpkg/status of the machine)')
    .option('--lists <dir>', 'apt lists directory (/var/lib/apt/lists of the machine, after apt update)')
    .option('--packages <file...>', 'Packages files (plain, .xz, .gz) instead of a lists directory')
    .option(
      '--sources <file|dir>',
      "apt sources file or sources.list.d directory (repeatable, in apt's order): suites are listed in apt's order",
      collect,
    )
    .option(
      '--preferences <file|dir>',
      'apt preferences file or preferences.d directory (repeatable, read in order)',
      collect,
    )
    .option('--arch <arch>', "native architecture (default: this machine's)")
    .option('--foreign-arch <arch>', 'foreign architecture enabled with dpkg --add-architecture (repeatable)', collect)
    .option('--machine-id <id>', "the machine's /etc/machine-id, to decide phased updates as its apt would")
    .option('--json', 'machine-readable output (documented in README)')
    .action(async (o: OutdatedFromFilesOptions & { json?: boolean }) => {
      const { result, warnings } = await outdatedFromFiles(o);
      for (const w of warnings) process.stderr.write(`aptgate: warning: ${visible(w)}\n`);
      out(o.json ? JSON.stringify(outdatedJson(result), null, 2) + '\n' : formatOutdated(result));
    });
}
