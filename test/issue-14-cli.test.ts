// Issue 14 (a newcomer's first hour): the CLI in a pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

test('aptgate outdated --json | head -c: a reader that stops ends the command quietly (no EPIPE trace, exit 0)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-pipe-'));
  try {
    // 5,000 installed packages, each with a newer candidate: megabytes of JSON
    const names = Array.from({ length: 5000 }, (_, i) => `pkg${i}`);
    await writeFile(
      path.join(dir, 'status'),
      names.map((n) => `Package: ${n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n`).join('\n'),
    );
    await writeFile(
      path.join(dir, 'Packages'),
      names
        .map(
          (n) =>
            `Package: ${n}\nArchitecture: amd64\nVersion: 2.0-1\nFilename: pool/main/p/${n}_2.0-1_amd64.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`,
        )
        .join('\n'),
    );
    const child = spawn(
      process.execPath,
      [
        CLI,
        'outdated',
        '--status',
        path.join(dir, 'status'),
        '--packages',
        path.join(dir, 'Packages'),
        '--arch',
        'amd64',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // like `head -c 100`: read the first chunk, then close the pipe
    const first = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
    assert.ok(first.length > 0);
    child.stdout.destroy();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (c, s) => resolve([c, s])),
    );
    assert.equal(stderr, '', 'nothing on stderr');
    assert.deepEqual([code, signal], [0, null]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('serve with a keyring that cannot be read refuses to start, naming the file and the setting, and creates nothing', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-keyring-'));
  try {
    const missing = path.join(dir, 'missing.gpg');
    const child = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        '--listen',
        '127.0.0.1',
        '--port',
        '0',
        '--db',
        path.join(dir, 'aptgate.db'),
        '--cache-dir',
        path.join(dir, 'cache'),
        '--keyring',
        `debian=${missing}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const [code] = await new Promise<[number | null]>((resolve) => child.once('close', (c) => resolve([c])));
    assert.equal(code, 1);
    assert.match(stderr, /CONFIG_INVALID: backend\.debian\.keyring: .*missing\.gpg cannot be read \(ENOENT\)/);
    assert.deepEqual(await readdir(dir), [], 'no database, cache or key was made');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
