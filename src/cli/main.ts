#!/usr/bin/env node
// The `aptgate` executable.

// `aptgate ... | head`: a reader that stopped reading ends the command quietly, not with a stack trace
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});

// `aptgate outdated` runs one shot on a machine, where apt's own answer takes a fraction of a
// second: it loads only its own modules (the same command definition as the full program)
const code =
  process.argv[2] === 'outdated'
    ? await (await import('./outdated-main.js')).runOutdated(process.argv)
    : await (await import('./program.js')).runCli(process.argv);
if (code !== 0) process.exitCode = code;
