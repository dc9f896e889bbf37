// Installs the Debian packages of scripts/debian-packages.txt that are missing (apt-get, as root),
// or names the apt-get command that would (not root, or --check). Used by `npm test`
// (scripts/test-setup.mjs) and by .ci/run, so both read the one list. No shell: every command is
// spawned with an argument array.
//
//   node scripts/debian-packages.mjs [--check] [--file LIST] (GROUP... | --all)
//
// Exit 0: all present (or installed now); 1: missing and not installable here, or apt-get failed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LIST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'debian-packages.txt');

// Debian policy 5.6.1 (lower case, digits, + - .), and a group name of the same letters
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
const LINE = /^([a-z0-9][a-z0-9-]*):(.*)$/;

export class SetupError extends Error {}

/** The list file as Map<group, packages>, in file order; throws SetupError on a malformed line. */
export function readPackageList(file = LIST) {
  const groups = new Map();
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '') return;
      const m = LINE.exec(line);
      const names = m
        ? m[2]
            .trim()
            .split(/\s+/)
            .filter((n) => n !== '')
        : [];
      const bad = names.find((n) => !PACKAGE.test(n));
      if (!m || names.length === 0 || bad !== undefined) {
        throw new SetupError(
          `${file}:${i + 1}: ${bad !== undefined ? `not a Debian package name: ${JSON.stringify(bad)}` : 'expected "<group>: <package>..."'}`,
        );
      }
      groups.set(m[1], [...(groups.get(m[1]) ?? []), ...names]);
    });
  return groups;
}

/** The packages of these groups, each once; throws SetupError for a group the list lacks. */
export function packagesOf(list, groups) {
  const out = [];
  for (const g of groups) {
    const names = list.get(g);
    if (!names)
      throw new SetupError(
        `no group ${JSON.stringify(g)} in the package list (it has: ${[...list.keys()].join(', ')})`,
      );
    for (const n of names) if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** Those of `names` that dpkg does not list as installed (one dpkg-query for all). */
export function missingPackages(names) {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\n', ...names], { encoding: 'utf8' });
  if (r.error) {
    throw new SetupError(
      `cannot run dpkg-query (${r.error.code ?? r.error.message}): aptgate's set-up needs Debian 12 (bookworm), with dpkg and apt`,
    );
  }
  // unknown names go to stderr ("no packages found matching"); only "installed" counts
  const installed = new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.endsWith(' installed'))
      .map((l) => l.split(' ')[0]),
  );
  return names.filter((n) => !installed.has(n));
}

function aptGet(args) {
  const argv = ['apt-get', ...args];
  process.stderr.write(`+ ${argv.join(' ')}\n`);
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error || r.status !== 0) {
    throw new SetupError(
      `\`${argv.join(' ')}\` failed (${r.error ? r.error.message : (r.signal ?? `exit status ${r.status}`)}; its output is above)`,
    );
  }
}

/**
 * Makes sure the packages of `groups` are installed: apt-get update + install of the missing ones
 * when running as root and not `check`, else a SetupError naming the apt-get command to run.
 * Returns the packages it installed.
 */
export function ensurePackages(groups, { check = false, file = LIST, why = 'aptgate' } = {}) {
  const names = packagesOf(readPackageList(file), groups);
  const missing = missingPackages(names);
  if (missing.length === 0) return [];
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (check || process.getuid?.() !== 0) {
    throw new SetupError(
      `${why} needs Debian packages that are not installed: ${missing.join(' ')}\n` +
        `install them as root, then run it again:\n  apt-get update && apt-get ${install.join(' ')}`,
    );
  }
  process.stderr.write(`${why}: installing the missing Debian packages (${groups.join(', ')}): ${missing.join(' ')}\n`);
  aptGet(['update']);
  aptGet(install);
  const still = missingPackages(missing);
  if (still.length > 0)
    throw new SetupError(`apt-get install succeeded but these are still not installed: ${still.join(' ')}`);
  return missing;
}

function main(argv) {
  let check = false;
  let file = LIST;
  let all = false;
  const groups = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--all') all = true;
    else if (a === '--file' && i + 1 < argv.length) file = argv[++i];
    else if (!a.startsWith('-')) groups.push(a);
    else
      throw new SetupError(
        `unknown option ${a} (usage: debian-packages.mjs [--check] [--file LIST] (GROUP... | --all))`,
      );
  }
  if (all) groups.push(...readPackageList(file).keys());
  if (groups.length === 0) throw new SetupError('name the groups to install, or --all');
  const installed = ensurePackages(groups, { check, file });
  const names = packagesOf(readPackageList(file), groups);
  process.stdout.write(
    installed.length > 0 ? `installed: ${installed.join(' ')}\n` : `all present: ${names.join(' ')}\n`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof SetupError)) throw e;
    process.stderr.write(`!! ${e.message}\n`);
    process.exitCode = 1;
  }
}
