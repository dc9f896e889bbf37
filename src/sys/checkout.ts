// Where the running program lives: a source checkout (npm start, npx aptgate) keeps its state
// under the checkout's own ignored state/ directory; an installed program has none.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root of this program: dist/src/sys/checkout.js → three levels up. */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

/** The checkout the program runs from (it has its sources and git metadata), or undefined when installed. */
export function checkoutRoot(root = packageRoot()): string | undefined {
  const has = (p: string) => existsSync(path.join(root, p));
  return has('package.json') && has('tsconfig.json') && has('src') && (has('.git') || has('.gitignore'))
    ? root
    : undefined;
}

/** The packaged configuration (Debian package aptgate). */
export const PACKAGED_CONFIG = '/etc/aptgate/aptgate.conf';

/** The state directory when none is configured: the checkout's state/, else /var/lib/aptgate. */
export function defaultStateDir(checkout: string | undefined): string {
  return checkout ? path.join(checkout, 'state') : '/var/lib/aptgate';
}
