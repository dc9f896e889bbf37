// Issue 14 (a newcomer's first hour): the CLI in a pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

test('aptgate outdated --json | head -c: a reader that stops ends the command quietly (no EPIPE trace, exit 0)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-pipe-'));
  try {
    // 5,000 installed packages, each with a newer candidate: megabytes of JSON
    const names = Array.from({ length: 5000 }, (_, i) => `pkg${i}`);
    await writeFile(path.join(dir, 'status'), names.map((n) => `Package: ${n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n`).join('\n'));
    await writeFile(path.join(dir, 'Packages'), names.map((n) => `Package: ${n}\nArchitecture: amd64\nVersion: 2.0-1\nFilename: pool/main/p/${n}_2.0-1_amd64.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`).join('\n'));
    const child = spawn(process.execPath, [CLI, 'outdated', '--status', path.join(dir, 'status'), '--packages', path.join(dir, 'Packages'), '--arch', 'amd64', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    // like `head -c 100`: read the first chunk, then close the pipe
    const first = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
    assert.ok(first.length > 0);
    child.stdout.destroy();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
    assert.equal(stderr, '', 'nothing on stderr');
    assert.deepEqual([code, signal], [0, null]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
