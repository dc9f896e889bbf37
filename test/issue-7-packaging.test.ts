// Issue 7: the pieces of the Debian packages that can be checked without building them (the
// full build, lintian, install, serve, enrol, remove and purge run in packaging/ci-packages.sh,
// the last step of .ci/run):
//   - the packaged /etc/aptgate/aptgate.conf (packaging/debian-conf.sh) is valid and differs
//     from the built-in defaults in cache_dir and db only;
//   - aptgate.service writes where that configuration (and the signing key next to the
//     database) says, and runs what the wrapper runs;
//   - the agent bundle (packaging/bundle-agent.mjs) is one CommonJS file that needs no
//     node_modules and runs (packaging/ci-packages.sh runs the packaged one on Debian's nodejs 18).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { keyDir } from '../src/assembly/gate.js';
import { loadConfig } from '../src/config.js';
import { configJson } from '../src/cli/program.js';
import { VERSION } from '../src/version.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let tmp: string;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'aptgate-issue7-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** the loaded configuration without the environment of this test run */
function load(file?: string) {
  return loadConfig({ ...(file ? { file } : {}), env: {} });
}

describe('issue 7: the packaged configuration', () => {
  it('is config/aptgate.conf with the package directories set, and nothing else changed', async () => {
    const { stdout } = await run('sh', [
      path.join(root, 'packaging/debian-conf.sh'),
      path.join(root, 'config/aptgate.conf'),
    ]);
    const file = path.join(tmp, 'aptgate.conf');
    await writeFile(file, stdout);
    const packaged = load(file);
    assert.equal(packaged.cacheDir, '/var/cache/aptgate');
    assert.equal(packaged.db, '/var/lib/aptgate/aptgate.db');
    const defaults = load();
    assert.deepEqual(
      { ...configJson(packaged), cacheDir: null, db: null },
      { ...configJson(defaults), cacheDir: null, db: null },
    );
    // fully commented otherwise: two settings, each section header once
    const settings = stdout.split('\n').filter((l) => /^[a-z_]+\s*=/.test(l));
    assert.deepEqual(settings, ['cache_dir = /var/cache/aptgate', 'db = /var/lib/aptgate/aptgate.db']);
    assert.match(stdout, /^# \/etc\/aptgate\/aptgate\.conf/);
  });

  it('fails loudly when the reference file no longer has the lines it replaces', async () => {
    const changed = path.join(tmp, 'changed.conf');
    await writeFile(
      changed,
      (await readFile(path.join(root, 'config/aptgate.conf'), 'utf8')).replace('\n#db =\n', '\n#db = ./state.db\n'),
    );
    await assert.rejects(run('sh', [path.join(root, 'packaging/debian-conf.sh'), changed]), /"#db =" not found/);
  });
});

describe('issue 7: aptgate.service', () => {
  it('may write the cache, the database and the signing key the packaged configuration names, and nothing else', async () => {
    const unit = await readFile(path.join(root, 'debian/aptgate.service'), 'utf8');
    const { stdout } = await run('sh', [
      path.join(root, 'packaging/debian-conf.sh'),
      path.join(root, 'config/aptgate.conf'),
    ]);
    const file = path.join(tmp, 'unit.conf');
    await writeFile(file, stdout);
    const config = load(file);
    const value = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
    assert.deepEqual(value('ExecStart'), ['/usr/bin/aptgate serve --config /etc/aptgate/aptgate.conf']);
    assert.deepEqual(value('User'), ['aptgate']);
    assert.deepEqual(value('ProtectSystem'), ['strict']);
    const writable = value('ReadWritePaths').flatMap((v) => v.split(/\s+/));
    const inside = (p: string) => writable.some((w) => p === w || p.startsWith(w + '/'));
    for (const p of [config.cacheDir, path.dirname(config.db), keyDir(config)])
      assert.ok(inside(p), `${p} is not writable for the service`);
    for (const key of ['PrivateTmp', 'NoNewPrivileges', 'ProtectHome']) assert.deepEqual(value(key), ['yes'], key);
    // Node's JIT writes and then executes memory
    assert.deepEqual(value('MemoryDenyWriteExecute'), []);
    const wrapper = await readFile(path.join(root, 'debian/aptgate.wrapper'), 'utf8');
    assert.match(wrapper, /^exec \/usr\/bin\/node \/usr\/lib\/aptgate\/dist\/src\/cli\/main\.js "\$@"$/m);
  });
});

describe('issue 7: the agent bundle', () => {
  let bundle: string;
  before(async () => {
    bundle = path.join(tmp, 'agent', 'aptgate-agent');
    await run(process.execPath, [path.join(root, 'packaging/bundle-agent.mjs'), root, bundle], { cwd: tmp });
  });

  it('is one file for /usr/bin/node that loads nothing but Node.js modules', async () => {
    const text = await readFile(bundle, 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/node\n'));
    const required = new Set([...text.matchAll(/\brequire\("([^"]+)"\)/g)].map((m) => m[1]!));
    assert.ok(required.size > 0);
    for (const r of required)
      assert.ok(builtinModules.includes(r.replace(/^node:/, '')), `the bundle requires ${r}, not a Node.js module`);
    assert.doesNotMatch(text, /\bimport\.meta\b|createRequire\(/);
  });

  it('runs from a directory without node_modules', async () => {
    const { stdout } = await run(process.execPath, [bundle, '--version'], { cwd: tmp });
    assert.equal(stdout.trim(), VERSION);
    const help = await run(process.execPath, [bundle, '--help'], { cwd: tmp });
    assert.match(help.stdout, /enroll[\s\S]*run-once[\s\S]*status/);
  });
});
