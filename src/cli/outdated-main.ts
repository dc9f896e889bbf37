// `aptgate outdated ...` as main.ts runs it: the program head and that one command only, so a
// one-shot run on a machine loads the outdated computation and commander, nothing else.
import { registerOutdatedCommand } from './outdated-command.js';
import { programHead, runProgram } from './run.js';
import { visibleText } from '../term/visible.js';

export function runOutdated(argv: string[]): Promise<number> {
  const program = programHead();
  registerOutdatedCommand(program, (s) => process.stdout.write(visibleText(s)));
  return runProgram(program, argv);
}
