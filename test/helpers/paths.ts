/**
 * Locations of committed fixture files. The helpers run from dist/test/helpers/ after `tsc`,
 * while the fixtures stay in test/fixtures/ (tsc does not copy them), so we walk up from this
 * module until we find the project root (the directory holding test/fixtures/).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'test', 'fixtures', 'gpg')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new Error('cannot locate the project root (a directory with package.json and test/fixtures/gpg)');
    dir = parent;
  }
}

export const projectRoot: string = findProjectRoot();
export const fixturesDir: string = path.join(projectRoot, 'test', 'fixtures');
/** The real Debian package committed as a fixture (GNU hello 2.10-3, amd64). */
export const helloDeb: string = path.join(fixturesDir, 'debs', 'hello_2.10-3_amd64.deb');
