// `npm start` skips tsc when dist/ is newer than every source: exits 0 then, 1 otherwise (a
// stat of each file takes milliseconds, an incremental tsc seconds). `--stamp` records a
// build that just succeeded (tsc leaves its build info untouched when no output changed).
// Further arguments are more sources to compare (`npm test` adds test/). Compiled files whose
// source is gone are removed first (tsc never does): a deleted test must not run on from dist/.
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const prune = (dir) => {
  if (!existsSync(join('dist', dir))) return;
  for (const n of readdirSync(join('dist', dir))) {
    const rel = join(dir, n);
    if (statSync(join('dist', rel)).isDirectory()) prune(rel);
    else {
      const m = /^(.*)\.js(?:\.map)?$/.exec(rel);
      if (m && !existsSync(`${m[1]}.ts`)) rmSync(join('dist', rel));
    }
  }
};
for (const d of ['src', 'test', 'bench']) prune(d);

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
