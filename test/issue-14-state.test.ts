// Issue 14 (a newcomer's first hour): state lands in one place, never in the wrong one.
// Administrative commands never create a database; serve checks what it can before creating
// anything, and never puts a secret in a git work tree that would publish it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { locateConfig } from '../src/cli/locate.js';
import { isAptgateError } from '../src/errors.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

/** Runs the real CLI in `cwd` without APTGATE_* settings of the test run; serve is stopped once it listens. */
function cli(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let stopped = false;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    if (!stopped && /Server listening/.test(stdout)) stopped = child.kill('SIGTERM');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function withDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `aptgate-i14-${prefix}-`));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('an administrative command finds no state: it says where it looked and creates nothing', async () => {
  await withDir('nostate', async (dir) => {
    const checkout = path.join(dir, 'checkout');
    await mkdir(checkout);
    try {
      locateConfig('admin', { overrides: {}, env: {}, checkout, packaged: path.join(dir, 'etc-aptgate.conf') });
      assert.fail('expected STATE_NOT_FOUND');
    } catch (err) {
      assert.ok(isAptgateError(err, 'STATE_NOT_FOUND'), String(err));
      for (const place of [
        '--config',
        'APTGATE_CONFIG',
        path.join(checkout, 'state', 'aptgate.db'),
        path.join(dir, 'etc-aptgate.conf'),
      ]) {
        assert.ok(err.message.includes(place), `names ${place}: ${err.message}`);
      }
      assert.match(err.message, /start the server first/);
    }
    assert.deepEqual(await readdir(checkout), [], 'no state directory made');

    // the real CLI, run from some other directory, with a state directory that was never served
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(elsewhere);
    for (const args of [
      ['machines', 'list', '--state-dir', path.join(dir, 'never')],
      ['machines', 'list', '--db', path.join(dir, 'never.db')],
      ['cache', 'stats', '--db', path.join(dir, 'never.db')],
    ]) {
      const r = await cli(elsewhere, args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /STATE_NOT_FOUND: the database .*never.* does not exist: the server has not run with this configuration yet/,
      );
    }
    const conf = path.join(dir, 'aptgate.conf');
    await writeFile(conf, `[server]\ndb = ${path.join(dir, 'from-file.db')}\n`);
    const r = await cli(elsewhere, ['token', 'list', '--config', conf]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /STATE_NOT_FOUND: .*from-file\.db \(from --config .*aptgate\.conf\)/);
    assert.deepEqual((await readdir(dir)).sort(), ['aptgate.conf', 'checkout', 'elsewhere']);
    assert.deepEqual(await readdir(elsewhere), [], 'no ./aptgate.db in the working directory');
  });
});

test('a checkout keeps all its state under its own state/, which its .gitignore covers', async () => {
  await withDir('checkout', async (dir) => {
    const c = locateConfig('serve', { overrides: {}, env: {}, checkout: dir, packaged: path.join(dir, 'none') });
    assert.equal(c.db, path.join(dir, 'state', 'aptgate.db'));
    assert.equal(c.cacheDir, path.join(dir, 'state', 'cache'));
  });
  // the repository's own ignore rules cover the database, the cache and the signing key
  for (const p of [
    'state/aptgate.db',
    'state/aptgate.db-wal',
    'state/cache/debian/pool/main/x.deb',
    'state/aptgate-gnupg/private-keys-v1.d/k.key',
  ]) {
    const r = await exec('git', ['-C', projectRoot, 'check-ignore', '-q', '--no-index', '--', p]);
    assert.equal(r.code, 0, `${p} is ignored by git`);
  }
});

test('serve checks before it creates: a missing parent, a port in use, a secret in a git work tree', async () => {
  await withDir('serve', async (dir) => {
    // a database whose parent does not exist: named, nothing created
    let r = await cli(dir, [
      'serve',
      '--listen',
      '127.0.0.1',
      '--port',
      '0',
      '--db',
      path.join(dir, 'a', 'b', 'aptgate.db'),
      '--cache-dir',
      path.join(dir, 'cache'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /CONFIG_INVALID: server\.db: .*\/a\/b does not exist: create it, or choose another path/);
    r = await cli(dir, [
      'serve',
      '--listen',
      '127.0.0.1',
      '--port',
      '0',
      '--db',
      path.join(dir, 'aptgate.db'),
      '--cache-dir',
      path.join(dir, 'x', 'y', 'cache'),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /CONFIG_INVALID: server\.cache_dir: .*\/x\/y does not exist/);
    assert.deepEqual(await readdir(dir), []);

    // a port in use: reported before the database, the cache or the key exist
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      r = await cli(dir, [
        'serve',
        '--listen',
        '127.0.0.1',
        '--port',
        String(port),
        '--state-dir',
        path.join(dir, 'state'),
      ]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`CONFIG_INVALID: server\\.port: port ${port} on 127\\.0\\.0\\.1 is in use by another program`),
    );
    assert.deepEqual(await readdir(dir), [], 'no state directory made');

    // a git work tree that does not ignore the state: the database and the key would be one `git add .` away
    const repo = path.join(dir, 'repo');
    await mkdir(repo);
    assert.equal((await exec('git', ['init', '-q', repo])).code, 0);
    r = await cli(repo, ['serve', '--listen', '127.0.0.1', '--port', '0', '--state-dir', path.join(repo, 'state')]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /STATE_EXPOSED: refusing to create the state database at .*repo\/state\/aptgate\.db: it is inside the git work tree .*repo \(not ignored\)/,
    );
    assert.deepEqual((await readdir(repo)).sort(), ['.git']);
    // ignored: serve creates state/ (one level), the database and the cache in it, and listens
    await writeFile(path.join(repo, '.gitignore'), '/state/\n');
    r = await cli(repo, ['serve', '--listen', '127.0.0.1', '--port', '0', '--state-dir', path.join(repo, 'state')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(path.join(repo, 'state', 'aptgate.db')));
    assert.ok(existsSync(path.join(repo, 'state', 'cache')));
    const status = await exec('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=all']);
    assert.equal(status.stdout.toString(), '?? .gitignore\n', 'git status shows no state');
  });
});
