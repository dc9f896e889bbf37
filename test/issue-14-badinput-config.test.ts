// Issue 14: a configuration file with mistakes: every error of the file is reported at once,
// each as file:line with what is wrong and what was probably meant (the nearest setting or
// section, the section a setting belongs to); environment variables likewise. The server
// refuses to start and creates nothing (no database, no cache directory).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { AptgateError } from '../src/errors.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BAD = `# a configuration with one slip of each kind
[server]
prot = 3143
listen = 127.0.0.1
mirror_retry = 1m

[proxy]
release_tll = 30s
connect_timeout = soon

[sever]
port = 1

[backend debian]
mirror = http://deb.example.org/debian
port = 1
`;

/**
 * Runs `aptgate serve` (or another command) in a scratch directory of its own; the database and cache would land there.
 */
async function aptgate(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  conf?: string,
): Promise<{ code: number | null; stdout: string; stderr: string; left: string[]; file: string }> {
  const sub = path.join(dir, name);
  await rm(sub, { recursive: true, force: true });
  await mkdir(sub);
  const file = path.join(sub, 'aptgate.conf');
  if (conf !== undefined) await writeFile(file, conf);
  const r = await exec(
    process.execPath,
    [
      CLI,
      ...args,
      ...(conf !== undefined ? ['-c', file] : []),
      '--db',
      path.join(sub, 'aptgate.db'),
      '--cache-dir',
      path.join(sub, 'cache'),
    ],
    {
      cwd: sub,
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_'))), ...env },
      timeoutMs: 60_000,
    },
  );
  return {
    code: r.code,
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
    left: (await readdir(sub)).sort(),
    file,
  };
}

test('serve with a file full of mistakes: one error listing each as file:line with a suggestion; nothing created', async () => {
  const r = await aptgate('serve', ['serve', '--listen', '127.0.0.1', '--port', '0'], {}, BAD);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines[0], `aptgate: CONFIG_INVALID: ${r.file}: 7 errors:`);
  assert.deepEqual(lines.slice(1), [
    `  ${r.file}:3: unknown setting "prot" in [server]: did you mean "port"?`,
    `  ${r.file}:5: unknown setting "mirror_retry" in [server]: "mirror_retry" is a setting of [proxy], not of [server]: move it there`,
    `  ${r.file}:8: unknown setting "release_tll" in [proxy]: did you mean "release_ttl"?`,
    `  ${r.file}:9: proxy.connect_timeout: expected a duration such as 30s, 10m, 6h or 7d, got "soon"`,
    `  ${r.file}:11: unknown section [sever]: did you mean [server]?`,
    `  ${r.file}:15: unknown setting "mirror" in [backend debian]: did you mean "mirrors"?`,
    `  ${r.file}:16: unknown setting "port" in [backend debian]: "port" is a setting of [server], not of [backend NAME]: move it there`,
  ]);
  assert.deepEqual(r.left, ['aptgate.conf'], 'no database, cache directory or key was made');
});

test('one mistake: a single line naming file:line; section mistakes get the same care as settings', async () => {
  const one = await aptgate(
    'one',
    ['serve', '--listen', '127.0.0.1', '--port', '0'],
    {},
    '[server]\nport = 3142\nlsiten = ::1\n',
  );
  assert.equal(one.code, 1);
  assert.equal(
    one.stderr,
    `aptgate: CONFIG_INVALID: ${one.file}:3: unknown setting "lsiten" in [server]: did you mean "listen"?\n`,
  );
  assert.deepEqual(one.left, ['aptgate.conf']);
  const sections = await aptgate(
    'sections',
    ['config'],
    {},
    '[backends ubuntu]\nmirrors = http://x.example/ubuntu\n[server main]\nport = 1\n[Proxy]\nport: 3142\nport = 1\n',
  );
  assert.equal(sections.code, 1);
  assert.match(sections.stderr, /:1: unknown section \[backends ubuntu\]: did you mean \[backend ubuntu\]\?\n/);
  assert.match(sections.stderr, /:3: \[server\] takes no name: write \[server\]\n/);
  assert.match(sections.stderr, /:5: unknown section \[Proxy\]: did you mean \[proxy\]\?\n/);
  // a malformed line is reported even inside a refused section; the settings there are not judged again
  assert.match(sections.stderr, /:6: expected "key = value", not "key: value": write "port = 3142"\n/);
  assert.doesNotMatch(sections.stderr, /:(2|4|7): /);
  assert.equal(sections.stdout, '');
});

test('environment variables: a slip names the variable meant; every wrong variable is listed; nothing created', async () => {
  const r = await aptgate('env', ['serve', '--listen', '127.0.0.1', '--port', '0'], {
    APTGATE_SERVER_PROT: '3143',
    APTGATE_BACKEND_DEBIAN_MIRROR: 'http://deb.example.org/debian',
    APTGATE_PROXY_RELEASE_TTL: 'soon',
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^aptgate: CONFIG_INVALID: the environment: 3 errors:\n/);
  assert.match(r.stderr, /\n {2}APTGATE_SERVER_PROT: unknown setting: did you mean APTGATE_SERVER_PORT\?/);
  assert.match(
    r.stderr,
    /\n {2}APTGATE_BACKEND_DEBIAN_MIRROR: unknown setting: did you mean APTGATE_BACKEND_DEBIAN_MIRRORS\?/,
  );
  assert.match(
    r.stderr,
    /\n {2}proxy\.release_ttl: expected a duration such as 30s, 10m, 6h or 7d, got "soon" \(set by APTGATE_PROXY_RELEASE_TTL\)/,
  );
  assert.deepEqual(r.left, []);
});

test('the error carries every problem for programs too (code CONFIG_INVALID, details.errors with where and key)', async () => {
  const file = path.join(dir, 'details.conf');
  await writeFile(file, BAD);
  let caught: unknown;
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof AptgateError);
  assert.equal(caught.code, 'CONFIG_INVALID');
  const errors = caught.details?.['errors'] as Array<{ where: string; key: string | undefined }>;
  assert.deepEqual(
    errors.map((e) => [e.where.slice(file.length), e.key]),
    [
      [':3', 'server.prot'],
      [':5', 'server.mirror_retry'],
      [':8', 'proxy.release_tll'],
      [':9', 'proxy.connect_timeout'],
      [':11', 'sever'],
      [':15', 'backend.debian.mirror'],
      [':16', 'backend.debian.port'],
    ],
  );
  assert.equal(caught.details?.['key'], 'server.prot');
});

test("the agent's configuration file: every mistake at once, file:line, the setting probably meant", async () => {
  const file = path.join(dir, 'agent.conf');
  await writeFile(
    file,
    '# agent\nsever = http://aptgate.example:3142\ntimeout = soon\nchrot = /srv/ltsp/amd64\nstate_dir = /var/lib/aptgate-agent\n',
  );
  const AGENT = path.join(projectRoot, 'dist', 'src', 'agent', 'main.js');
  const r = await exec(process.execPath, [AGENT, '-c', file, 'status'], {
    env: { ...process.env, APTGATE_AGENT_CONFIG: '' },
  });
  assert.equal(r.code, 2, "the agent's status for a configuration it cannot use");
  const err = r.stderr.toString();
  assert.match(err, /CONFIG_INVALID: 3 problems:/);
  assert.match(err, new RegExp(`${file}:2: unknown setting "sever" \\(did you mean "server"\\?\\)`));
  assert.match(err, new RegExp(`${file}:3: timeout is seconds`));
  assert.match(err, new RegExp(`${file}:4: unknown setting "chrot" \\(did you mean "chroot"\\?\\)`));
});
