// Running a commander program as the `aptgate` executable: the shared program head, exit
// statuses and how errors reach the terminal (light: the one-shot `outdated` path uses it too).
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { errorLine, exitStatusOf } from '../term/exit-status.js';
import { visibleText } from '../term/visible.js';

/** Thrown by a command that printed its result and ends with a status other than 0 (not an error). */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
  }
}

/** `aptgate` before its commands are added. */
export function programHead(): Command {
  return new Command('aptgate')
    .description('apt caching proxy, package index and release gate for Debian and Ubuntu machines')
    .version(VERSION)
    .showHelpAfterError();
}

export async function runProgram(program: Command, argv: string[]): Promise<number> {
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof ExitStatus) return err.status;
    const e = err as { code?: string; exitCode?: number; message: string };
    if (e.code?.startsWith('commander.')) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : (e.exitCode ?? 2);
    }
    // messages may quote what a client sent (a hostname, a path); some have several lines
    process.stderr.write(visibleText(`aptgate: ${errorLine(err)}\n`));
    return exitStatusOf('aptgate', err);
  }
}
