// Issue 14: `aptgate outdated` given files that are not what it asks for (a binary, a
// compressed or empty file, a Packages index in the status's place and the other way round, a
// directory that is no apt lists directory) refuses them, naming the file and what it expected,
// with a non-zero exit and nothing on stdout; no file is created or changed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

let dir: string;
let status: string;
let packages: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-outdated-'));
  status = path.join(dir, 'status');
  packages = path.join(dir, 'Packages');
  await writeFile(
    status,
    'Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10-2\n\nPackage: old-selection\nStatus: purge ok not-installed\nArchitecture: amd64\n',
  );
  await writeFile(
    packages,
    `Package: hello\nArchitecture: amd64\nVersion: 2.10-3\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`,
  );
  await writeFile(path.join(dir, 'status.gz'), gzipSync(await readFile(status)));
  await writeFile(path.join(dir, 'empty'), '');
  await writeFile(path.join(dir, 'blank'), '\n\n   \n');
  await writeFile(path.join(dir, 'hostname'), 'web-1\n');
  await writeFile(
    path.join(dir, 'nul'),
    Buffer.concat([
      Buffer.from('Package: hello\nStatus: install ok installed\n'),
      Buffer.from([0]),
      Buffer.from('Version: 1\n'),
    ]),
  );
  await mkdir(path.join(dir, 'not-lists'));
  await writeFile(path.join(dir, 'not-lists', 'README'), 'nothing here\n');
  await mkdir(path.join(dir, 'lists-arm64'));
  await writeFile(
    path.join(dir, 'lists-arm64', 'deb.debian.org_debian_dists_bookworm_main_binary-arm64_Packages'),
    await readFile(packages),
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file under the scratch directory with its hash: what a refused command must leave as it was. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath ?? e.path, e.name);
    out[path.relative(dir, p)] = e.isFile()
      ? createHash('sha256')
          .update(await readFile(p))
          .digest('hex')
      : 'dir';
  }
  return out;
}

async function outdated(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await exec(process.execPath, [CLI, 'outdated', '--arch', 'amd64', ...args], { cwd: dir });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/**
 * Runs a command that must be refused: exit 1, nothing on stdout, the code and the patterns on stderr, no file touched.
 */
async function refused(args: string[], code: string, ...patterns: RegExp[]): Promise<string> {
  const before = await snapshot();
  const r = await outdated(args);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, '', 'no answer such as "0 of 0 installed packages upgradable"');
  assert.match(r.stderr, new RegExp(`^aptgate: ${code}: `));
  for (const p of patterns) assert.match(r.stderr, p);
  assert.deepEqual(await snapshot(), before, 'nothing created or changed');
  return r.stderr;
}

const EXPECTED_STATUS = /expected a dpkg status file \(\/var\/lib\/dpkg\/status of the machine, or a copy of it\)/;
const EXPECTED_PACKAGES = /expected a Packages index/;

test('a real status and Packages file still give the answer', async () => {
  const r = await outdated(['--status', status, '--packages', packages]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^hello\/unknown 2\.10-3 amd64 \[upgradable from: 2\.10-2\]$/m);
  assert.match(r.stdout, /1 of 1 installed packages upgradable/);
});

test('--status of a binary file (the node executable): refused as binary data, naming the file', async () => {
  await refused(
    ['--status', process.execPath, '--packages', packages],
    'STATUS_INVALID',
    new RegExp(
      `${process.execPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a dpkg status file: it holds binary data \\(a NUL byte at offset \\d+\\)`,
    ),
    EXPECTED_STATUS,
  );
  // text with one NUL byte in it is not a status either
  await refused(
    ['--status', path.join(dir, 'nul'), '--packages', packages],
    'STATUS_INVALID',
    /nul is not a dpkg status file: it holds binary data \(a NUL byte at offset 44\)/,
  );
});

test('--status of a compressed status: says so and to decompress it', async () => {
  await refused(
    ['--status', path.join(dir, 'status.gz'), '--packages', packages],
    'STATUS_INVALID',
    /status\.gz is not a dpkg status file: it holds gzip-compressed data \(decompress it first\)/,
    EXPECTED_STATUS,
  );
});

test('--status of a Packages index: its entries have no Status field', async () => {
  await refused(
    ['--status', packages, '--packages', packages],
    'STATUS_INVALID',
    /Packages is not a dpkg status file: status entry hello: has no Status field \(every entry of a dpkg status has one; a Packages index has none\)/,
    EXPECTED_STATUS,
  );
});

test('--status of an empty file, a blank one, /dev/null, or text without paragraphs: refused, not "0 of 0 upgradable"', async () => {
  for (const f of [path.join(dir, 'empty'), path.join(dir, 'blank'), '/dev/null']) {
    await refused(
      ['--status', f, '--packages', packages],
      'STATUS_INVALID',
      /is not a dpkg status file: it is empty \(a machine that runs apt has at least dpkg, apt and libc6 installed\)/,
      EXPECTED_STATUS,
    );
  }
  await refused(
    ['--status', path.join(dir, 'hostname'), '--packages', packages],
    'STATUS_INVALID',
    /hostname is not a dpkg status file: it holds no "Field: value" paragraphs/,
    EXPECTED_STATUS,
  );
});

test('--packages of a dpkg status, a binary or a text that is no index: refused, naming the file', async () => {
  await refused(
    ['--status', status, '--packages', status],
    'LISTS_INVALID',
    /status is not a Packages index: its entries carry Status fields, as a dpkg status does \(give that file as --status\)/,
    EXPECTED_PACKAGES,
  );
  await refused(
    ['--status', status, '--packages', process.execPath],
    'LISTS_INVALID',
    /is not a Packages index: it holds binary data/,
    EXPECTED_PACKAGES,
  );
  await refused(
    ['--status', status, '--packages', path.join(dir, 'hostname')],
    'LISTS_INVALID',
    /hostname is not a Packages index: it holds no "Field: value" paragraphs/,
  );
  // an empty Packages index is one (an empty component), and /dev/null reads as one
  const empty = await outdated(['--status', status, '--packages', path.join(dir, 'empty')]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /0 of 1 installed packages upgradable/);
});

test('--lists of a directory without indexes, or with indexes of other architectures only: says what was expected', async () => {
  await refused(
    ['--status', status, '--lists', path.join(dir, 'not-lists')],
    'LISTS_INVALID',
    /not-lists holds no Packages index \(no file named like \.\.\._dists_SUITE_COMPONENT_binary-ARCH_Packages\): expected apt's lists directory \(\/var\/lib\/apt\/lists of the machine, after apt update\)/,
  );
  await refused(
    ['--status', status, '--lists', path.join(dir, 'lists-arm64')],
    'LISTS_INVALID',
    /lists-arm64 has Packages indexes for arm64 only, none for the architectures asked for: give --arch/,
  );
});
