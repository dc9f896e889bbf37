// Issue 3: `aptgate outdated` from files, as an administrator or a script runs it; bad input gets a
// coded error and exit status 1.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeLists } from './helpers/compare.js';
import { exec } from './helpers/exec.js';
import { fixturesDir, projectRoot } from './helpers/paths.js';

const cli = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const archive = path.join(fixturesDir, 'debian-archive');

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await exec(process.execPath, [cli, ...args], { timeoutMs: 120_000 });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('issue 3: aptgate outdated (files in, table or JSON out)', () => {
  let dir: string;
  let lists: string;
  const status = path.join(archive, 'dpkg-status.bookworm-node');

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-cli3-'));
    lists = path.join(dir, 'lists');
    await mkdir(lists);
    await writeLists(lists, [
      {
        distsDir: path.join(archive, 'debian', 'dists', 'bookworm'),
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm',
      },
      {
        distsDir: path.join(archive, 'debian', 'dists', 'bookworm-updates'),
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm-updates',
      },
      {
        distsDir: path.join(archive, 'debian-security', 'dists', 'bookworm-security'),
        uri: 'http://deb.debian.org/debian-security',
        suite: 'bookworm-security',
      },
    ]);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--json: the documented shape, the same counts as the table', async () => {
    const r = await run(['outdated', '--status', status, '--lists', lists, '--arch', 'amd64', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      format: number;
      counts: Record<string, number>;
      packages: Array<Record<string, unknown>>;
    };
    assert.equal(j.format, 1);
    assert.equal(j.counts['outdated'], j.packages.length);
    assert.equal(j.counts['installed'], 778);
    const ssl = j.packages.find((p) => p['package'] === 'libssl3')!;
    assert.deepEqual(
      Object.keys(ssl).sort(),
      [
        'action',
        'architecture',
        'candidateArchitecture',
        'candidateVersion',
        'held',
        'installedArchitecture',
        'installedVersion',
        'instance',
        'origins',
        'package',
        'priority',
        'security',
        'source',
        'sourceVersion',
      ].sort(),
    );
    assert.equal(ssl['security'], true);
    assert.deepEqual(
      [ssl['installedArchitecture'], ssl['candidateArchitecture'], ssl['architecture']],
      ['amd64', 'amd64', 'amd64'],
    );
    const t = await run(['outdated', '--status', status, '--lists', lists, '--arch', 'amd64']);
    assert.equal(t.code, 0, t.stderr);
    // apt list --upgradable's line, aptgate's notes after it
    assert.match(
      t.stdout,
      /^libssl3\/oldstable-security 3\.0\.22-1~deb12u2 amd64 \[upgradable from: 3\.0\.\S+\] {2}\[security\]$/m,
    );
    assert.equal(t.stdout.trimEnd().split('\n').length, j.counts['outdated']! + 1);
    assert.match(
      t.stdout,
      new RegExp(
        `^${j.counts['outdated']} of 778 installed packages upgradable \\(${j.counts['security']} security\\)`,
        'm',
      ),
    );
  });

  it('--packages: bare Packages files (no Release: no origin, priority 500)', async () => {
    const pk = path.join(
      archive,
      'debian-security',
      'dists',
      'bookworm-security',
      'main',
      'binary-amd64',
      'Packages.xz',
    );
    const r = await run(['outdated', '--status', status, '--packages', pk, '--arch', 'amd64', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { packages: Array<{ package: string; security: boolean }> };
    assert.ok(j.packages.some((p) => p.package === 'libssl3'));
    assert.ok(
      j.packages.every((p) => !p.security),
      'without a Release nothing is known to be a security suite',
    );
  });

  it('bad input: a coded error, exit status 1, nothing written', async () => {
    const badStatus = path.join(dir, 'bad-status');
    await writeFile(badStatus, 'Package: x\nStatus: install ok flying\nVersion: 1\nArchitecture: amd64\n');
    const badPrefs = path.join(dir, 'bad-prefs');
    await writeFile(badPrefs, 'Package: curl\nPin: release a=stable\nPin-Priority: never\n');
    const badVersion = path.join(dir, 'bad-version');
    await writeFile(badVersion, 'Package: x\nStatus: install ok installed\nVersion: 1.0 1\nArchitecture: amd64\n');
    const cases: Array<[string[], string]> = [
      [['outdated', '--status', status], 'USAGE'],
      [['outdated', '--status', status, '--lists', lists, '--packages', status], 'USAGE'],
      [['outdated', '--status', status, '--lists', lists, '--arch', 'amd64;reboot'], 'USAGE'],
      [['outdated', '--status', status, '--lists', lists, '--machine-id', '../../etc/passwd'], 'USAGE'],
      [['outdated', '--status', path.join(dir, 'missing'), '--lists', lists], 'STATUS_INVALID'],
      [['outdated', '--status', badStatus, '--lists', lists], 'STATUS_INVALID'],
      [['outdated', '--status', badVersion, '--lists', lists], 'STATUS_INVALID'],
      [['outdated', '--status', status, '--lists', lists, '--preferences', badPrefs], 'PREFERENCES_INVALID'],
      [['outdated', '--status', status, '--lists', path.join(dir, 'nowhere')], 'LISTS_INVALID'],
      [['outdated', '--status', status, '--lists', dir, '--arch', 'sparc64'], 'LISTS_INVALID'],
      [
        ['outdated', '--status', status, '--lists', lists, '--sources', path.join(dir, 'missing.sources')],
        'LISTS_INVALID',
      ],
      [['outdated', '--status', status, '--packages', status, '--sources', lists], 'USAGE'],
    ];
    for (const [args, code] of cases) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^aptgate: ${code}: `), args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.equal((await readFile(badStatus, 'utf8')).includes('flying'), true);
  });
});
