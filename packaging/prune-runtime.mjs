#!/usr/bin/env node
// Trims a production node_modules (after `npm prune --omit=dev`) to what the aptgate server
// loads at run time, for the Debian package:
//   - packages only needed to install another one go (better-sqlite3's prebuild-install, which
//     downloads prebuilt binaries at `npm install` and is never required afterwards), with every
//     package nothing else still reaches;
//   - better-sqlite3 keeps its compiled module only (not the SQLite sources, objects, headers);
//   - what no program reads goes: documentation, tests, examples, type declarations, source
//     maps, editor/VCS/lint/npm dotfiles, npm's bookkeeping (.bin, .package-lock.json);
//   - the packages' command-line programs (package.json "bin") go;
//   - a file starting with "#!" is made executable, any other loses its executable bits.
//
//   node packaging/prune-runtime.mjs DIR      (DIR holds package.json and node_modules/)
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? '.');
const modules = path.join(root, 'node_modules');
/** dependencies that are install-time only: package name → dependencies to ignore */
const INSTALL_ONLY = { 'better-sqlite3': ['prebuild-install'] };
/** inside a kept package: top-level directories no program loads */
const JUNK_DIRS = new Set(['test', 'tests', '__tests__', 'spec', 'example', 'examples', 'bench', 'benchmark', 'benchmarks',
  'doc', 'docs', 'integration', 'coverage', 'man', 'scripts', 'types', '.github', '.husky', '.vscode']);
/** files no program loads, anywhere in a kept package */
const JUNK_FILE = /(\.md|\.markdown|\.d\.ts|\.d\.mts|\.d\.cts|\.map|\.html|\.tsbuildinfo|\.flow)$|^(CHANGELOG|HISTORY|AUTHORS|CONTRIBUTORS)(\..*)?$|^(Makefile|tsconfig\.json|\.?eslint.*|\.npmignore|\.gitignore|\.gitattributes|\.editorconfig|\.travis\.yml|\.nycrc.*|\.prettierrc.*|\.taprc|\.airtap\.yml|\.jshintrc|\.babelrc)$/i;

/** license texts stay with their package, whatever their name ends with */
const LICENSE = /^(LICEN[CS]E|COPYING|NOTICE)/i;

const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));

/** Node's lookup: DIR/node_modules/NAME, then in each parent up to the root. */
function resolvePackage(fromDir, name) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root || !dir.startsWith(root)) return undefined;
  }
}

const keep = new Set();
function visit(dir) {
  const pkg = readJson(path.join(dir, 'package.json'));
  const skip = new Set(INSTALL_ONLY[pkg.name] ?? []);
  const deps = [...Object.keys(pkg.dependencies ?? {}).map((n) => [n, false]), ...Object.keys(pkg.optionalDependencies ?? {}).map((n) => [n, true])];
  for (const [name, optional] of deps) {
    if (skip.has(name)) continue;
    const found = resolvePackage(dir, name);
    if (!found) {
      if (optional) continue;
      throw new Error(`${pkg.name}: dependency ${name} is not installed`);
    }
    if (keep.has(found)) continue;
    keep.add(found);
    visit(found);
  }
}
visit(root);

/** every installed package directory, nested ones included */
function installed(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.name.startsWith('@')) { installed(p, out); continue; }
    if (existsSync(path.join(p, 'package.json'))) {
      out.push(p);
      installed(path.join(p, 'node_modules'), out);
    }
  }
  return out;
}

let removed = 0;
for (const p of installed(modules)) {
  if (!keep.has(p) && existsSync(p)) { rmSync(p, { recursive: true, force: true }); removed++; }
}
rmSync(path.join(modules, '.bin'), { recursive: true, force: true });
rmSync(path.join(modules, '.package-lock.json'), { force: true });

// better-sqlite3: the compiled module is all it loads (lib/ finds it through "bindings")
const sqlite = resolvePackage(root, 'better-sqlite3');
if (!sqlite || !existsSync(path.join(sqlite, 'build/Release/better_sqlite3.node'))) throw new Error('better-sqlite3 is not built');
for (const e of ['deps', 'src', 'binding.gyp']) rmSync(path.join(sqlite, e), { recursive: true, force: true });
for (const e of readdirSync(path.join(sqlite, 'build'))) if (e !== 'Release') rmSync(path.join(sqlite, 'build', e), { recursive: true, force: true });
for (const e of readdirSync(path.join(sqlite, 'build/Release'))) if (e !== 'better_sqlite3.node') rmSync(path.join(sqlite, 'build/Release', e), { recursive: true, force: true });

function startsWithShebang(f) {
  const fd = openSync(f, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b.toString('latin1') === '#!';
  } finally {
    closeSync(fd);
  }
}

/** the package's own code files (not its node_modules), for what they load */
function codeFiles(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && e.name !== 'node_modules') codeFiles(path.join(dir, e.name), out);
    else if (e.isFile() && /\.(c|m)?js$/.test(e.name)) out.push(path.join(dir, e.name));
  }
  return out;
}

/**
 * A top-level directory the package's code loads from ('./types/standard' in mime, which
 * @fastify/static loads) is code, whatever its name: it stays.
 */
function loadedFrom(pkgDir, name) {
  // require('./types/x') or import ... from '../types/x.js' (not a JSDoc import("./types"))
  const ref = new RegExp(`(require\\(\\s*|\\bfrom\\s+)(["'])(\\.\\.?/)+${name.replace(/[.]/g, '\\.')}(/|\\2)`);
  // code in the directories that go (tests, scripts, ...) does not count
  const outside = (f) => !JUNK_DIRS.has(path.relative(pkgDir, f).split(path.sep)[0]);
  return codeFiles(pkgDir).some((f) => outside(f) && ref.test(readFileSync(f, 'utf8')));
}

/** junk inside a kept package (not inside its own node_modules: those are packages of their own) */
function clean(dir, top) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'node_modules') continue;
      if ((top && JUNK_DIRS.has(e.name) && !loadedFrom(dir, e.name)) || e.name === '.github') { rmSync(p, { recursive: true, force: true }); continue; }
      clean(p, false);
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
    } else if (e.isFile()) {
      if (!LICENSE.test(e.name) && (JUNK_FILE.test(e.name) || e.name.startsWith('.'))) { rmSync(p); continue; }
      const mode = statSync(p).mode & 0o777;
      const want = e.name.endsWith('.node') ? 0o644 : startsWithShebang(p) ? 0o755 : 0o644;
      if (mode !== want) chmodSync(p, want);
    }
  }
}
for (const p of keep) {
  // a package's command-line programs ("bin"): nothing runs them here
  const { bin, main } = readJson(path.join(p, 'package.json'));
  const bins = typeof bin === 'string' ? [bin] : Object.values(bin ?? {});
  for (const b of bins) if (path.resolve(p, b) !== path.resolve(p, main ?? 'index.js')) rmSync(path.resolve(p, b), { force: true });
  clean(p, true);
}
// scopes left empty by removed packages
for (const e of readdirSync(modules)) {
  const p = path.join(modules, e);
  if (e.startsWith('@') && readdirSync(p).length === 0) rmSync(p, { recursive: true });
}
process.stdout.write(`node_modules for run time: ${keep.size} packages kept, ${removed} removed\n`);
