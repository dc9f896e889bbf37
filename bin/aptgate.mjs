#!/usr/bin/env node
// `aptgate` of a checkout (package.json "bin", so `npx aptgate ...` runs it): the built command
// line, dist/src/cli/main.js. A committed file with its executable bit, because npx runs the bin
// as a program, and tsc writes dist/ files without that bit whenever it recreates them.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    `aptgate: ${fileURLToPath(main)} is not built: run \`npm install\` in ${fileURLToPath(new URL('..', import.meta.url))} (it compiles dist/)\n`,
  );
  process.exit(1);
}
await import(main.href);
