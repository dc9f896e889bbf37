#!/usr/bin/env node
// The `aptgate` executable.
import { runCli } from './program.js';

// `aptgate ... | head`: a reader that stopped reading ends the command quietly, not with a stack trace
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

const code = await runCli(process.argv);
if (code !== 0) process.exitCode = code;
