// `npm start` skips tsc when dist/ is newer than every source: exits 0 then, 1 otherwise (a
// stat of each file takes milliseconds, an incremental tsc seconds). `--stamp` records a
// build that just succeeded (tsc leaves its build info untouched when no output changed).
// Further arguments are more sources to compare (`npm test` adds test/).
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const STAMP = 'dist/.built';
if (process.argv.includes('--stamp')) {
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  process.exit(0);
}
let built;
try {
  built = statSync(STAMP).mtimeMs;
} catch {
  process.exit(1);
}
const newer = (p) => {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs > built;
  return readdirSync(p).some((n) => newer(join(p, n)));
};
process.exit(['src', 'tsconfig.json', 'package.json', ...process.argv.slice(2)].some(newer) ? 1 : 0);
