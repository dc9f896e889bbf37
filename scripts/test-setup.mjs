// `npm test`'s set-up (package.json "pretest", before the build): the Debian packages the tests
// use (scripts/debian-packages.txt, groups build, run and test: apt-get as root), then the
// minbase .debs of the LTSP chroot tests (test/fetch-minbase.sh: downloaded once into
// $APTGATE_TEST_MINBASE_DIR or /var/cache/aptgate-test, only verified afterwards). Any failure
// stops `npm test` with a message saying what is missing and how to get it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePackages, SetupError } from './debian-packages.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const started = process.hrtime.bigint();

function minbase() {
  const script = path.join(root, 'test', 'fetch-minbase.sh');
  const r = spawnSync('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    throw new SetupError(
      `the minbase .debs are not there and could not be fetched (bash test/fetch-minbase.sh: ${r.error ? r.error.message : (r.signal ?? `exit status ${r.status}`)}; why is above)`,
    );
  }
}

try {
  ensurePackages(['build', 'run', 'test'], { why: 'npm test' });
  minbase();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`npm test set-up: Debian packages and minbase .debs present (${(ms / 1000).toFixed(1)} s)\n`);
} catch (e) {
  if (!(e instanceof SetupError)) throw e;
  process.stderr.write(`!! npm test set-up: ${e.message}\n`);
  process.exitCode = 1;
}
