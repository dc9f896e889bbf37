// Issue 14 (a newcomer's first hour): `npm test` sets up what the tests need by itself
// (scripts/test-setup.mjs: the Debian packages of scripts/debian-packages.txt, then the minbase
// .debs), says plainly what it cannot fetch, and `npx aptgate` runs the checkout's CLI. Nothing
// here reaches the internet: the mirror is a closed port on 127.0.0.1, npm's registry too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

const SETUP = path.join(projectRoot, 'scripts', 'test-setup.mjs');
const PACKAGES = path.join(projectRoot, 'scripts', 'debian-packages.mjs');
const ARCHS = ['amd64', 'i386'];

/** A port on 127.0.0.1 nothing listens on (bound, then closed): connections are refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The environment of a set-up run against `mirror`, with its cache and temporary files in `dir`. */
function setupEnv(dir: string, mirror: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    APTGATE_TEST_MINBASE_DIR: path.join(dir, 'cache'),
    APTGATE_TEST_MINBASE_MIRROR: mirror,
    TMPDIR: path.join(dir, 'tmp'),
  };
  for (const k of ['APTGATE_TEST_MINBASE', 'http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY']) delete env[k];
  return env;
}

/** A minbase cache as test/fetch-minbase.sh leaves it: one .deb, its Packages stanza, SHA256SUMS. */
async function fakeCache(dir: string, arch: string): Promise<string> {
  const deb = `fake_1.0_${arch}.deb`;
  await mkdir(path.join(dir, 'debs'), { recursive: true });
  const files: [string, string][] = [
    [`debs/${deb}`, `not really a .deb for ${arch}\n`],
    [
      'Packages',
      `Package: fake\nVersion: 1.0\nArchitecture: ${arch}\nPriority: required\nFilename: pool/main/f/fake/${deb}\n\n`,
    ],
  ];
  let sums = '';
  for (const [name, text] of files) {
    await writeFile(path.join(dir, name), text);
    sums += `${createHash('sha256').update(text).digest('hex')}  ${name}\n`;
  }
  await writeFile(path.join(dir, 'SHA256SUMS'), sums);
  return path.join(dir, 'debs', deb);
}

describe('npm test set-up: the minbase .debs', () => {
  it('without a reachable mirror: fails saying what, from where, where it is kept and how to fix it; leaves nothing behind', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-setup-'));
    try {
      await mkdir(path.join(dir, 'tmp'));
      const mirror = `http://127.0.0.1:${await closedPort()}/debian`;
      const r = await exec(process.execPath, [SETUP], { env: setupEnv(dir, mirror), timeoutMs: 120_000 });
      const err = r.stderr.toString();
      assert.equal(r.code, 1, err);
      assert.match(
        err,
        new RegExp(
          `cannot download the minbase \\.debs of Debian bookworm \\(amd64 i386\\) from ${mirror.replace(/\./g, '\\.')}`,
        ),
      );
      assert.match(err, /Connection refused/, "the reason, in wget's words");
      for (const a of ARCHS)
        assert.ok(err.includes(path.join(dir, 'cache', `minbase-bookworm-${a}`)), `names the cache of ${a}`);
      assert.match(err, /APTGATE_TEST_MINBASE_MIRROR/, 'says how to use another mirror');
      assert.match(err, /npm test set-up: the minbase \.debs are not there and could not be fetched/);
      assert.doesNotMatch(err, /failed at line/, 'no shell trace');
      assert.deepEqual(await readdir(path.join(dir, 'tmp')), [], 'no temporary files left');
      assert.equal(existsSync(path.join(dir, 'cache')), false, 'no cache directory made');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a cache that verifies is used as it is (no download); one that does not is fetched again, and kept as it was when that fails', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-setup-'));
    try {
      await mkdir(path.join(dir, 'tmp'));
      const debs = [];
      for (const a of ARCHS) debs.push(await fakeCache(path.join(dir, 'cache', `minbase-bookworm-${a}`), a));
      const env = setupEnv(dir, `http://127.0.0.1:${await closedPort()}/debian`);

      const ok = await exec(process.execPath, [SETUP], { env, timeoutMs: 120_000 });
      assert.equal(ok.code, 0, ok.stderr.toString());
      for (const a of ARCHS)
        assert.ok(
          ok.stdout.toString().includes(`present: ${path.join(dir, 'cache', `minbase-bookworm-${a}`)} (1 debs)`),
          ok.stdout.toString(),
        );
      assert.match(ok.stdout.toString(), /npm test set-up: Debian packages and minbase \.debs present \(\d+\.\d s\)/);

      await writeFile(debs[0]!, 'changed since\n');
      const bad = await exec(process.execPath, [SETUP], { env, timeoutMs: 120_000 });
      assert.equal(bad.code, 1);
      assert.match(
        bad.stderr.toString(),
        /cannot download the minbase \.debs of Debian bookworm \(amd64\) from /,
        'only the one that does not verify is wanted',
      );
      assert.equal(await readFile(debs[0]!, 'utf8'), 'changed since\n', 'the cache is left as it was');
      assert.deepEqual(
        (await readdir(path.join(dir, 'cache'))).sort(),
        ARCHS.map((a) => `minbase-bookworm-${a}`),
      );
      assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the Debian packages: one list, scripts/debian-packages.txt', () => {
  it('names the exact apt-get command for what is missing (--check installs nothing)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-pkgs-'));
    try {
      const list = path.join(dir, 'list');
      await writeFile(list, '# a comment\ntest: dpkg aptgate-test-no-such-package\ntest: apt\n');
      const r = await exec(process.execPath, [PACKAGES, '--check', '--file', list, 'test']);
      assert.equal(r.code, 1);
      assert.match(r.stderr.toString(), /needs Debian packages that are not installed: aptgate-test-no-such-package\n/);
      assert.match(
        r.stderr.toString(),
        /\n {2}apt-get update && apt-get install -y --no-install-recommends aptgate-test-no-such-package\n/,
        'only the missing one',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a line that is not package names, running nothing it says', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-pkgs-'));
    try {
      const list = path.join(dir, 'list');
      const touched = path.join(dir, 'touched');
      await writeFile(list, `build: make\ntest: dpkg $(touch ${touched})\n`);
      const r = await exec(process.execPath, [PACKAGES, '--check', '--file', list, 'test']);
      assert.equal(r.code, 1);
      assert.match(r.stderr.toString(), new RegExp(`${list}:2: not a Debian package name: "\\$\\(touch"`));
      assert.equal(existsSync(touched), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is what npm test installs (present once its set-up ran) and what .ci/run installs, every group of it', async () => {
    const r = await exec(process.execPath, [PACKAGES, '--check', 'build', 'run', 'test']);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.match(r.stdout.toString(), /^all present: .*\bdebootstrap\b.*\n$/);
    const ci = await readFile(path.join(projectRoot, '.ci', 'run'), 'utf8');
    assert.match(ci, /^node scripts\/debian-packages\.mjs --all$/m);
    assert.doesNotMatch(ci, /apt-get (-\S+ )*install/, '.ci/run keeps no list of its own');
    assert.doesNotMatch(ci, /fetch-minbase/, 'npm test fetches the minbase .debs');
    assert.match(ci, /^npm test$/m);
    const pkg = JSON.parse(await readFile(path.join(projectRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.match(pkg.scripts['pretest']!, /^node scripts\/test-setup\.mjs && /);
  });
});

describe('npx aptgate in a checkout', () => {
  it("runs the checkout's aptgate and aptgate-agent (offline, npm's cache in a temporary directory)", async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-npx-'));
    try {
      const { version } = JSON.parse(await readFile(path.join(projectRoot, 'package.json'), 'utf8')) as {
        version: string;
      };
      const env = {
        ...process.env,
        npm_config_cache: cache,
        npm_config_offline: 'true',
        npm_config_registry: `http://127.0.0.1:${await closedPort()}/`,
        npm_config_update_notifier: 'false',
      };
      for (const bin of ['aptgate', 'aptgate-agent']) {
        const r = await exec('npx', [bin, '--version'], { cwd: projectRoot, env, timeoutMs: 120_000 });
        assert.equal(r.code, 0, r.stderr.toString());
        assert.equal(r.stdout.toString(), `${version}\n`, bin);
      }
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  it('the bin files are programs of their own (executable, #!/usr/bin/env node) and say when dist/ is not built', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-bin-'));
    try {
      for (const [bin, built] of [
        ['aptgate', 'dist/src/cli/main.js'],
        ['aptgate-agent', 'dist/src/agent/main.js'],
      ] as const) {
        const file = path.join(projectRoot, 'bin', `${bin}.mjs`);
        assert.equal((await stat(file)).mode & 0o111, 0o111, `${file} is executable`);
        assert.ok((await readFile(file, 'utf8')).startsWith('#!/usr/bin/env node\n'));
        // a checkout without dist/
        await mkdir(path.join(dir, 'bin'), { recursive: true });
        await copyFile(file, path.join(dir, 'bin', `${bin}.mjs`));
        const r = await exec(process.execPath, [path.join(dir, 'bin', `${bin}.mjs`), '--help']);
        assert.equal(r.code, 1);
        assert.equal(
          r.stderr.toString(),
          `${bin}: ${path.join(dir, built)} is not built: run \`npm install\` in ${dir}/ (it compiles dist/)\n`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
