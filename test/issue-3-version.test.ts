// Issue 3: Debian version comparison checked against dpkg itself: the reference vectors, and
// 5,000 random pairs of real bookworm versions plus synthetic ones, each confirmed by
// `dpkg --compare-versions`.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isAptgateError } from '../src/errors.js';
import {
  compareValid,
  compareVersions,
  isStrictVersion,
  parseVersion,
  satisfiesOp,
  type VersionOp,
} from '../src/index/version.js';
import { exec } from './helpers/exec.js';
import { fixturesDir } from './helpers/paths.js';
import { prng, readPackagesXz } from './helpers/statusgen.js';

async function dpkgSays(a: string, op: string, b: string): Promise<boolean | 'error'> {
  const r = await exec('dpkg', ['--compare-versions', a, op, b]);
  if (r.code === 0) return true;
  if (r.code === 1) return false;
  return 'error';
}

async function pool<T>(items: readonly T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Distinct Version values of the real indexes (only the strings are kept: a small heap forks faster). */
async function realVersions(): Promise<string[]> {
  const out = new Set<string>();
  for (const rel of [
    'debian/dists/bookworm/main/binary-amd64',
    'debian/dists/bookworm-updates/main/binary-amd64',
    'debian-security/dists/bookworm-security/main/binary-amd64',
  ]) {
    for (const p of await readPackagesXz(path.join(fixturesDir, 'debian-archive', rel, 'Packages.xz')))
      out.add(`${p['version']}`.slice(0));
  }
  return [...out].map((v) => Buffer.from(v).toString()).sort();
}

describe('issue 3: version comparison exactly as dpkg', () => {
  it('every vector of the reference table (dpkg 1.21 results)', async () => {
    const rows = (await readFile(path.join(fixturesDir, 'dpkg-version-vectors.tsv'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1);
    assert.equal(rows.length, 149);
    for (const row of rows) {
      const [a, op, b, expected] = row.split('\t') as [string, string, string, string];
      if (expected === 'error') {
        assert.throws(
          () => satisfiesOp(a, op as VersionOp, b),
          (e: unknown) => isAptgateError(e, 'VERSION_INVALID'),
          row,
        );
      } else {
        assert.equal(satisfiesOp(a, op as VersionOp, b), expected === 'true', row);
      }
    }
  });

  it('5,000 pairs of real bookworm versions, 1,000 prefix variants and 1,000 synthetic ones agree with dpkg --compare-versions', async () => {
    const versions = await realVersions();
    assert.ok(versions.length > 15_000, `${versions.length} distinct versions`);
    const rand = prng(20261122);
    const pick = () => versions[Math.floor(rand() * versions.length)]!;
    const pairs: Array<[string, string]> = [];
    // 5,000 pairs of real versions as they are
    for (let i = 0; i < 5000; i++) pairs.push([pick(), pick()]);
    // 1,000 where one shares a prefix with the other, so the comparison is decided late
    for (let i = 0; i < 1000; i++) {
      const a = pick();
      pairs.push([a, `${a.slice(0, Math.max(1, Math.floor(a.length * rand())))}${pick().slice(-3)}`]);
    }
    const alphabet = '0123456789abzAZ.+~';
    const piece = (n: number) =>
      Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
    for (let i = 0; i < 1000; i++) {
      const mk = () =>
        `${rand() < 0.2 ? `${Math.floor(rand() * 3)}:` : ''}${Math.floor(rand() * 10)}${piece(1 + Math.floor(rand() * 6))}${rand() < 0.6 ? `-${piece(1 + Math.floor(rand() * 3)).replace(/^~*/, '1')}` : ''}`;
      pairs.push([mk(), mk()]);
    }
    const disagreements: string[] = [];
    const claims: Array<[string, string, string]> = [];
    const rejected: Array<[string, string]> = [];
    for (const [a, b] of pairs) {
      let mine: number;
      try {
        mine = compareVersions(a, b);
      } catch {
        rejected.push([a, b]);
        continue;
      }
      claims.push([a, mine < 0 ? 'lt' : mine > 0 ? 'gt' : 'eq', b]);
      // the allocation-free comparator used on the hot path gives the same order
      if (Math.sign(compareValid(a, b)) !== Math.sign(mine)) disagreements.push(`${a} vs ${b}: compareValid disagrees`);
    }
    assert.ok(claims.length > 6500);
    // one dpkg --compare-versions per claim, run by xargs (no shell): exit 0 means dpkg agreed
    // with every one; otherwise each is asked again to name the disagreements
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-versions-'));
    try {
      const list = path.join(dir, 'claims');
      await writeFile(list, claims.map((c) => c.join(' ')).join('\n') + '\n');
      const all = await exec('xargs', ['-L', '1', '-a', list, 'dpkg', '--compare-versions'], { timeoutMs: 300_000 });
      if (all.code !== 0) {
        await pool(claims, 8, async ([a, op, b]) => {
          const said = await dpkgSays(a, op, b);
          if (said !== true) disagreements.push(`${a} ${op} ${b}: dpkg says ${said}`);
        });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // what aptgate rejects, dpkg must reject too
    await pool(rejected, 8, async ([a, b]) => {
      if ((await dpkgSays(a, 'lt', b)) !== 'error') disagreements.push(`${a} ? ${b}: aptgate rejects, dpkg accepts`);
    });
    assert.deepEqual(disagreements, []);
  });

  it('parses epoch, upstream and revision as dpkg; rejects what dpkg rejects with VERSION_INVALID', () => {
    assert.deepEqual(parseVersion('1:2.0-1-3'), { epoch: 1, upstream: '2.0-1', revision: '3' });
    assert.deepEqual(parseVersion('2.0'), { epoch: 0, upstream: '2.0', revision: '' });
    for (const bad of ['', ' ', '1.0 1', 'a:1', '1:', '1.0-', '99999999999:1', '-1']) {
      assert.throws(
        () => parseVersion(bad),
        (e: unknown) => isAptgateError(e, 'VERSION_INVALID'),
        JSON.stringify(bad),
      );
    }
    // strict syntax for versions coming from outside (handed to apt later)
    assert.equal(isStrictVersion('1:2.0+dfsg~rc1-1+b1'), true);
    for (const bad of ['a1.0', '1.0_1', '1.0;rm -rf /', '1.0-1:2', '$(id)', '1.0 '])
      assert.equal(isStrictVersion(bad), false, bad);
  });
});
