// Issue 17: the CVEs and bug closures a pending update brings, read from the candidate's own
// changelog.Debian.gz. The real libssl3 and libc6 .debs of bookworm (their entries checked by hand
// with `dpkg-deb --fsys-tarfile | tar x` and zcat), packages built with crafted changelogs
// (epochs, `~`, binNMUs, symlinked doc directories) and hostile ones (not a deb, truncated, a
// gzip bomb, huge lines, a text over every cap).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isAptgateError, type ErrorCode } from '../src/errors.js';
import {
  ChangelogParser,
  MAX_CHANGELOG_CHARS,
  MAX_CHANGELOG_ENTRIES,
  changelogDate,
  parseChangelog,
  referencesBetween,
} from '../src/index/changelog.js';
import { debChangelogs, parseChangelogSliced, readDebChangelogs } from '../src/sys/deb-changelog.js';
import { TarReader, type TarEntry } from '../src/sys/tar-reader.js';
import { TEST_MAINTAINER, buildDeb } from './helpers/debs.js';
import { exec } from './helpers/exec.js';
import { fixturesDir } from './helpers/paths.js';

const LIBSSL3 = path.join(fixturesDir, 'debs', 'libssl3_3.0.22-1~deb12u2_amd64.deb');
const LIBC6 = path.join(fixturesDir, 'debs', 'libc6_2.36-9+deb12u14_amd64.deb');

const code = (c: ErrorCode) => (e: unknown) => isAptgateError(e, c);

/** One changelog entry in policy form. */
function entry(source: string, version: string, lines: string[], extra = ''): string {
  return (
    `${source} (${version}) unstable; urgency=medium${extra}\n\n` +
    lines.map((l) => `  * ${l}\n`).join('') +
    `\n -- ${TEST_MAINTAINER}  Mon, 07 Dec 2026 12:00:00 +0100\n\n`
  );
}

describe('the real bookworm packages', () => {
  it('libssl3 3.0.22-1~deb12u2: the CVEs of every security upload since 3.0.17-1~deb12u2', async () => {
    const { logs, docLink } = await debChangelogs(LIBSSL3, 'libssl3', { arch: 'amd64' });
    assert.equal(docLink, null);
    assert.equal(logs.length, 1, 'no binNMU changelog in this package');
    const log = logs[0]!;
    assert.equal(log.entries.length, 55);
    // dh_installchangelogs cut the older entries and said so
    assert.equal(log.end, 'trimmed');
    const top = log.entries[0]!;
    assert.deepEqual(
      [top.source, top.version, top.distributions, top.urgency, top.date],
      ['openssl', '3.0.22-1~deb12u2', ['bookworm-security'], 'high', '2026-10-21T09:54:24.000Z'],
    );
    assert.equal(log.entries.at(-1)!.version, '1.1.1d-1');

    const since = referencesBetween(logs, '3.0.17-1~deb12u2', '3.0.22-1~deb12u2');
    assert.deepEqual(since.versions, [
      '3.0.22-1~deb12u2',
      '3.0.22-1~deb12u1',
      '3.0.20-1~deb12u2',
      '3.0.20-1~deb12u1',
      '3.0.19-1~deb12u2',
      '3.0.19-1~deb12u1',
      '3.0.18-1~deb12u2',
      '3.0.18-1~deb12u1',
      '3.0.17-1~deb12u3',
    ]);
    assert.equal(since.cves.length, 6 + 6 + 9 + 6 + 8 + 2);
    for (const cve of ['CVE-2026-84782', 'CVE-2026-77696', 'CVE-2026-45447', 'CVE-2025-15467', 'CVE-2025-9232']) {
      assert.ok(since.cves.includes(cve), cve);
    }
    assert.ok(!since.cves.includes('CVE-2024-13176'), '3.0.16-1~deb12u1 is older than the installed version');
    assert.deepEqual(since.closes, [], '3.0.17-1~deb12u2 (installed) closed #1110254, nothing after it closed a bug');
    assert.deepEqual([since.candidateFound, since.complete], [true, true]);

    // one step back: 3.0.17-1~deb12u2's own closure joins
    assert.deepEqual(referencesBetween(logs, '3.0.17-1~deb12u1', '3.0.22-1~deb12u2').closes, [1110254]);
    // the last security upload alone
    assert.deepEqual(referencesBetween(logs, '3.0.22-1~deb12u1', '3.0.22-1~deb12u2').cves, [
      'CVE-2026-84782',
      'CVE-2026-35189',
      'CVE-2026-54872',
      'CVE-2026-75805',
      'CVE-2026-75806',
      'CVE-2026-77696',
    ]);
    // up to date: nothing
    const none = referencesBetween(logs, '3.0.22-1~deb12u2', '3.0.22-1~deb12u2');
    assert.deepEqual([none.versions, none.cves], [[], []]);
    // installed older than the trimmed changelog reaches: said, not hidden
    const old = referencesBetween(logs, '1.1.0l-1~deb9u1', '3.0.22-1~deb12u2');
    assert.equal(old.complete, false);
    assert.equal(old.versions.length, 55);
  });

  it('libc6 2.36-9+deb12u14: CVEs and closures since deb12u10, a Closes: wrapped onto the next line included', async () => {
    const { logs } = await debChangelogs(LIBC6, 'libc6', { arch: 'amd64' });
    assert.equal(logs.length, 1);
    const log = logs[0]!;
    assert.deepEqual([log.entries.length, log.entries[0]!.source, log.end], [107, 'glibc', 'trimmed']);
    const r = referencesBetween(logs, '2.36-9+deb12u10', '2.36-9+deb12u14');
    assert.deepEqual(r.versions, ['2.36-9+deb12u14', '2.36-9+deb12u13', '2.36-9+deb12u12', '2.36-9+deb12u11']);
    assert.deepEqual(r.cves, [
      'CVE-2026-0861',
      'CVE-2026-0915',
      'CVE-2025-15281',
      'CVE-2026-4437',
      'CVE-2026-4438',
      'CVE-2026-4046',
      'CVE-2025-8058',
      'CVE-2025-4802',
    ]);
    // "(CVE-2026-0915).  Closes:\n      #1125748." and "Closes:\n      #1132499." wrap: dpkg reads them, so do we
    assert.deepEqual(r.closes, [1109803, 1125678, 1125748, 1126266, 1131435, 1131887, 1132499]);
    assert.ok(!r.closes.includes(1122107), '"(see #1122107)" is no closure');
    // a binNMU of the candidate whose own changelog is missing: the source entries count, the flag says so
    const binnmu = referencesBetween(logs, '2.36-9+deb12u13', '2.36-9+deb12u14+b1');
    assert.deepEqual([binnmu.versions, binnmu.candidateFound], [['2.36-9+deb12u14'], false]);
    // installed null: everything up to the candidate, incomplete because the changelog was trimmed
    const all = referencesBetween(logs, null, '2.36-9+deb12u14');
    assert.deepEqual([all.versions.length, all.complete], [107, false]);
  });

  it('another package name in the same .deb: no changelog, not an error', async () => {
    assert.deepEqual(await readDebChangelogs(LIBSSL3, 'openssl', { arch: 'amd64' }), {
      changelog: null,
      binnmu: null,
      docLink: null,
    });
  });

  it('the libc6 changelog is parsed in slices: no step holds the loop near 50 ms', async () => {
    const text = (await readDebChangelogs(LIBC6, 'libc6')).changelog!;
    assert.ok(text.length > 100_000);
    const p = new ChangelogParser(text);
    // the work is cut into steps the caller gives the event loop between (how long a step takes
    // is measured in bench/, not asserted here)
    let steps = 0;
    for (let done = false; !done; steps++) done = p.step(200);
    assert.ok(steps >= 5, `${steps} steps for ${text.length} characters`);
    assert.deepEqual(await parseChangelogSliced(text), p.result());
  });
});

describe('built packages with crafted changelogs', () => {
  let dir = '';
  const debs: Record<string, string> = {};
  const binnmuLog =
    'cl-binnmu (1.2-3+b1) unstable; urgency=low, binary-only=yes\n\n' +
    '  * Binary-only non-maintainer upload for amd64; no source changes.\n' +
    '  * Rebuild against libfoo2 (LP: #9).\n\n' +
    ` -- amd64 Build Daemon <buildd@example.invalid>  Tue, 08 Dec 2026 08:00:00 +0000\n`;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i17-'));
    const out = path.join(dir, 'debs');
    debs.epoch = await buildDeb(
      {
        name: 'cl-epoch',
        version: '1:2.0-1',
        changelog:
          entry('cl-epoch', '1:2.0-1', ['Fix CVE-2024-0001 and cve-2024-0001 again (Closes: #100).']) +
          entry('cl-epoch', '1:2.0~rc1-1', ['New release candidate (LP: #200, #201).', 'CVE-2024-10001']) +
          entry('cl-epoch', '1:1.5-1', ['Bring the epoch back: 1.5 < 1.9. Closes: bug#300, 301']) +
          entry('cl-epoch', '1.9-1', ['Before the epoch (CVE-2023-0001).']),
      },
      out,
    );
    debs.binnmu = await buildDeb(
      {
        name: 'cl-binnmu',
        version: '1.2-3+b1',
        changelog:
          entry('cl-binnmu', '1.2-3', ['Security: CVE-2025-1111.  Closes:\n    #4242.']) +
          entry('cl-binnmu', '1.2-2', ['CVE-2025-0001']),
        binnmuChangelog: binnmuLog,
      },
      out,
    );
    debs.dev = await buildDeb({ name: 'cl-binnmu-dev', version: '1.2-3+b1', docLink: 'cl-binnmu' }, out);
    debs.absolute = await buildDeb({ name: 'cl-abs', version: '1', docLink: '/usr/share/doc/cl-binnmu' }, out);
    debs.outside = await buildDeb({ name: 'cl-out', version: '1', docLink: '../../../etc' }, out);
    // 20 MiB of one byte: about 20 KiB of gzip
    debs.bomb = await buildDeb(
      { name: 'cl-bomb', version: '1', changelog: gzipSync(Buffer.alloc(20 << 20, 0x61)) },
      out,
    );
    debs.badgz = await buildDeb({ name: 'cl-badgz', version: '1', changelog: Buffer.from('not gzip at all') }, out);
    debs.hugeline = await buildDeb(
      {
        name: 'cl-hugeline',
        version: '2-1',
        changelog:
          entry('cl-hugeline', '2-1', ['CVE-2025-2222', `${'x'.repeat(200_000)}`]) +
          entry('cl-hugeline', '1-1', ['CVE-2025-0001']),
      },
      out,
    );
    await writeFile(path.join(dir, 'text.deb'), 'this is not a Debian package\n');
    const real = await readFile(LIBC6);
    await writeFile(path.join(dir, 'truncated.deb'), real.subarray(0, real.length >> 1));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('epochs and ~: the entries between the versions in dpkg order', async () => {
    const { logs } = await debChangelogs(debs.epoch!, 'cl-epoch', { arch: 'amd64' });
    const e = logs[0]!.entries;
    assert.deepEqual(
      e.map((x) => x.version),
      ['1:2.0-1', '1:2.0~rc1-1', '1:1.5-1', '1.9-1'],
    );
    assert.deepEqual([e[0]!.cves, e[0]!.closes, e[0]!.date], [['CVE-2024-0001'], [100], '2026-12-07T11:00:00.000Z']);
    const r = referencesBetween(logs, '1.9-1', '1:2.0-1');
    assert.deepEqual(r.versions, ['1:2.0-1', '1:2.0~rc1-1', '1:1.5-1']);
    assert.deepEqual(r.cves, ['CVE-2024-0001', 'CVE-2024-10001']);
    assert.deepEqual([r.closes, r.launchpad, r.complete], [[100, 300, 301], [200, 201], true]);
    // the release candidate sorts before the release
    assert.deepEqual(referencesBetween(logs, '1:2.0~rc1-1', '1:2.0-1').versions, ['1:2.0-1']);
    // without the epoch 2.0-1 is older than every 1:… entry
    assert.deepEqual(referencesBetween(logs, '2.0-1', '1:2.0-1').versions.length, 3);
    // installed newer than the candidate: nothing
    const none = referencesBetween(logs, '1:2.1-1', '1:2.0-1');
    assert.deepEqual([none.versions, none.cves, none.closes, none.launchpad], [[], [], [], []]);
  });

  it('a binNMU: its entry comes from changelog.Debian.<arch>.gz, the source entries from changelog.Debian.gz', async () => {
    const texts = await readDebChangelogs(debs.binnmu!, 'cl-binnmu', { arch: 'amd64' });
    assert.equal(texts.binnmu, binnmuLog);
    const { logs } = await debChangelogs(debs.binnmu!, 'cl-binnmu', { arch: 'amd64' });
    assert.equal(logs.length, 2);
    const nmu = logs[1]!.entries[0]!;
    assert.deepEqual([nmu.binaryOnly, nmu.urgency, nmu.launchpad], [true, 'low', [9]]);
    const rebuild = referencesBetween(logs, '1.2-3', '1.2-3+b1');
    assert.deepEqual([rebuild.versions, rebuild.cves, rebuild.launchpad], [['1.2-3+b1'], [], [9]]);
    const r = referencesBetween(logs, '1.2-2', '1.2-3+b1');
    assert.deepEqual(
      [r.versions, r.cves, r.closes, r.candidateFound],
      [['1.2-3+b1', '1.2-3'], ['CVE-2025-1111'], [4242], true],
    );
    // the previous binNMU installed: the next source upload's entries are new
    assert.deepEqual(referencesBetween(logs, '1.2-2+b2', '1.2-3+b1').versions, ['1.2-3+b1', '1.2-3']);
    // another architecture's binNMU changelog is not this package's
    assert.equal((await readDebChangelogs(debs.binnmu!, 'cl-binnmu', { arch: 'arm64' })).binnmu, null);
    assert.equal((await readDebChangelogs(debs.binnmu!, 'cl-binnmu')).binnmu, null);
  });

  it('a symlinked doc directory names the package whose changelog to read instead', async () => {
    const dev = await readDebChangelogs(debs.dev!, 'cl-binnmu-dev', { arch: 'amd64' });
    assert.deepEqual(dev, { changelog: null, binnmu: null, docLink: 'cl-binnmu' });
    assert.equal((await readDebChangelogs(debs.absolute!, 'cl-abs')).docLink, 'cl-binnmu');
    // a target outside /usr/share/doc is handed back as it is, never followed
    assert.equal((await readDebChangelogs(debs.outside!, 'cl-out')).docLink, '../../../etc');
  });

  it('hostile packages: clear errors, never a crash', async () => {
    await assert.rejects(readDebChangelogs(path.join(dir, 'text.deb'), 'x'), code('PARSE_FAILED'));
    await assert.rejects(readDebChangelogs(path.join(dir, 'truncated.deb'), 'libc6'), code('PARSE_FAILED'));
    await assert.rejects(readDebChangelogs(path.join(dir, 'missing.deb'), 'x'), code('PARSE_FAILED'));
    await assert.rejects(readDebChangelogs(debs.bomb!, 'cl-bomb'), code('DECOMPRESS_FAILED'));
    // under a larger cap the same file unpacks (the cap is what refused it)
    const big = await readDebChangelogs(debs.bomb!, 'cl-bomb', { maxBytes: 32 << 20 });
    assert.equal(big.changelog!.length, 20 << 20);
    await assert.rejects(readDebChangelogs(debs.badgz!, 'cl-badgz'), code('DECOMPRESS_FAILED'));
    await assert.rejects(readDebChangelogs(debs.epoch!, '../etc'), code('USAGE'));
    await assert.rejects(readDebChangelogs(debs.epoch!, 'cl-epoch', { arch: 'amd64/../x' }), code('USAGE'));
    // the child's time limit (a package the .deb does not hold: the whole archive is read)
    await assert.rejects(readDebChangelogs(LIBC6, 'no-such-package', { timeoutMs: 1 }), code('EXEC_FAILED'));
  });

  it('a line of 200,000 characters ends the parse there, with the reason', async () => {
    const { logs } = await debChangelogs(debs.hugeline!, 'cl-hugeline');
    const log = logs[0]!;
    assert.equal(log.end, 'garbage');
    assert.match(log.stop!.reason, /line longer than/);
    assert.deepEqual(
      log.entries.map((e) => [e.version, e.cves]),
      [['2-1', ['CVE-2025-2222']]],
    );
    // what was read before the stop still counts; the older entry is unknown, and that is said
    const r = referencesBetween(logs, '1-1', '2-1');
    assert.deepEqual([r.cves, r.complete], [['CVE-2025-2222'], false]);
  });
});

describe('the parser on odd and hostile text', () => {
  it('reads the references dpkg reads, upper-cased and unique', () => {
    const log = parseChangelog(
      entry('p', '1.0-2', [
        'Closes: #1, #2',
        'closes: bug#3, 4; Closes:#5 and closes: Bug#6',
        'cve-2024-12345, CVE-2024-12345 and CVE-2024-33601-33602 (one id)',
        'LP: #123, #456 and lp:#7 (not Launchpad: dpkg wants a blank)',
        'Closes: #99999999999999 (no int32 bug number)',
      ]),
    );
    const e = log.entries[0]!;
    assert.deepEqual(e.closes, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(e.cves, ['CVE-2024-12345', 'CVE-2024-33601']);
    assert.deepEqual(e.launchpad, [123, 456]);
    assert.equal(log.end, 'complete');
  });

  it('tolerates comments, CRLF, a missing trailer, a bad date, editor variables and old-format tails', () => {
    const text =
      '# a comment before the first entry\r\n' +
      entry('p', '3-1', ['CVE-2025-0003']).replace(/\n/g, '\r\n') +
      'p (2-1) unstable; urgency=HIGH\n\n  * no trailer (CVE-2025-0002)\n\n' +
      'p (1-1) unstable; urgency=low\n\n  * bad date\n\n -- A <a@b.c>  yesterday\n\n' +
      'Local variables:\nmode: debian-changelog\nEnd:\n';
    const log = parseChangelog(text);
    assert.deepEqual(
      log.entries.map((e) => [e.version, e.urgency, e.date === null, e.cves]),
      [
        ['3-1', 'medium', false, ['CVE-2025-0003']],
        ['2-1', 'high', true, ['CVE-2025-0002']],
        ['1-1', 'low', true, []],
      ],
    );
    assert.equal(log.end, 'footer');
    const old = parseChangelog(
      entry('p', '2-1', ['x']) +
        'Old Changelog:\n\nThu Jan  1 00:00:00 1998  Someone <a@b.c>\n  * foo (CVE-1998-0001)\n',
    );
    assert.deepEqual([old.entries.length, old.end], [1, 'old-format']);
  });

  it('stops cleanly on garbage and on a version that is not one', () => {
    const garbage = parseChangelog(
      entry('p', '2-1', ['CVE-2025-0002']) + 'this is not a changelog line\n' + entry('p', '1-1', []),
    );
    assert.deepEqual([garbage.entries.length, garbage.end, garbage.stop?.line], [1, 'garbage', 7]);
    const bad = parseChangelog(entry('p', '2-1', []) + entry('p', '1:', []));
    assert.deepEqual([bad.entries.length, bad.end], [1, 'garbage']);
    assert.deepEqual(parseChangelog('\x00\x01\x02 binary junk'), {
      entries: [],
      end: 'garbage',
      stop: { line: 1, reason: 'unexpected line: "\\u0000\\u0001\\u0002 binary junk"' },
    });
    assert.deepEqual(parseChangelog(''), { entries: [], end: 'complete' });
  });

  it('caps the text, the entries and each step: hostile texts end with `limit` in bounded steps', () => {
    const many = Array.from(
      { length: MAX_CHANGELOG_ENTRIES + 5 },
      (_, i) => `p (${i + 1}) u; urgency=low\n -- a <b>  x\n`,
    )
      .reverse()
      .join('');
    const m = parseChangelog(many);
    assert.deepEqual([m.entries.length, m.end], [MAX_CHANGELOG_ENTRIES, 'limit']);

    const hostile = [
      // one entry of many short change lines full of references
      'p (1) u; urgency=low\n' + '  CVE-2024-1234 closes: #1, #2, #3 LP: #4, #5\n'.repeat(120_000),
      // almost-references: long runs the regexes must not backtrack over
      'p (1) u; urgency=low\n' + `  closes:${' '.repeat(16_000)}x\n`.repeat(300),
      // almost-headers and almost-trailers
      `p (1) ${'a '.repeat(8000)}\n`,
      `p (1) u; urgency=low\n -- ${' <'.repeat(8000)}\n`,
      // many entries of long lines full of references, several of which would close in one step of 200 lines
      Array.from(
        { length: 30 },
        (_, i) =>
          `p (${100 - i}) u; urgency=low\n${`  ${'CVE-2024-1234 closes: #1, #2 '.repeat(520)}\n`.repeat(15)} -- a <b>  x\n`,
      ).join(''),
      // lines the old-format patterns would backtrack over
      `${'a-'.repeat(8000)}\n`,
      `Thu Jan  1 00:00:00 1998 ${' <'.repeat(8000)}\n`,
    ];
    for (const text of hostile) {
      const p = new ChangelogParser(text);
      let steps = 0;
      for (let done = false; !done; steps++) done = p.step(200);
      assert.ok(steps < 10_000, `${steps} steps`);
      assert.ok(p.result().entries.length <= 30);
    }
    const long = new ChangelogParser(hostile[0]!).result();
    assert.equal(long.end, 'limit', 'an entry over 256 KiB of changes');
    const huge = parseChangelog(
      `${entry('p', '1', [])}p (0) u; urgency=low\n${'  * x\n'.repeat(MAX_CHANGELOG_CHARS / 6 + 10)}`,
    );
    assert.equal(huge.end, 'limit');
  });

  it('dates: RFC 2822 with offsets, nothing invented', () => {
    assert.equal(changelogDate('Wed, 21 Oct 2026 16:54:24 +0700'), '2026-10-21T09:54:24.000Z');
    assert.equal(changelogDate('21 Oct 2026 16:54 -0130'), '2026-10-21T18:24:00.000Z');
    assert.equal(changelogDate('Mon, 31 Feb 2026 10:00:00 +0000'), null);
    assert.equal(changelogDate('Mon, 1 Foo 2026 10:00:00 +0000'), null);
    assert.equal(changelogDate(''), null);
  });

  it('the versions asked for come from the caller: an invalid one is VERSION_INVALID', () => {
    const log = parseChangelog(entry('p', '1-1', []));
    assert.throws(() => referencesBetween(log, 'not a version', '1-1'), code('VERSION_INVALID'));
    assert.throws(() => referencesBetween(log, null, ''), code('VERSION_INVALID'));
    // no changelog at all: nothing found, and not complete either
    const none = referencesBetween([], null, '1-1');
    assert.deepEqual([none.versions, none.complete, none.candidateFound], [[], false, false]);
    assert.equal(referencesBetween(log, null, '1-1').complete, true);
  });
});

describe('the tar reader on what GNU tar writes', () => {
  let dir = '';
  // 150 characters fit ustar's prefix and name; 300 need GNU 'L' records or a pax path
  const mid = `d/${'m'.repeat(140)}/f.txt`;
  const long = `d/${'l'.repeat(120)}/${'n'.repeat(120)}/${'o'.repeat(40)}.txt`;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i17-tar-'));
    for (const [p, body] of [
      [mid, 'middle\n'],
      [long, 'long one\n'],
    ] as const) {
      await mkdir(path.join(dir, 'tree', path.dirname(p)), { recursive: true });
      await writeFile(path.join(dir, 'tree', p), body);
    }
    await symlink('../'.repeat(3) + 'x'.repeat(150), path.join(dir, 'tree', 'd', 'link'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`${format}: paths, link targets and bodies, fed in odd chunk sizes`, async () => {
      // ustar cannot hold the 300-character path nor the 159-character link target
      const args = ['--format', format, '-C', path.join(dir, 'tree'), '-cf', '-', `./${mid}`];
      if (format !== 'ustar') args.push(`./${long}`, './d/link');
      const r = await exec('tar', args);
      assert.equal(r.code, 0, r.stderr.toString());
      const entries: TarEntry[] = [];
      const bodies = new Map<string, string>();
      const reader = new TarReader(
        (e) => {
          entries.push(e);
          return 'keep';
        },
        (e, body) => {
          bodies.set(e.path, body.toString());
          return 'skip';
        },
      );
      // chunks of 1 to 1500 bytes: headers and bodies split at every kind of place
      for (let pos = 0, k = 1; pos < r.stdout.length; k = (k * 7 + 3) % 1499) {
        reader.push(r.stdout.subarray(pos, pos + k + 1));
        pos += k + 1;
      }
      reader.end();
      assert.equal(bodies.get(mid), 'middle\n');
      // every path as stored, without './'; the archive's only file at 148 characters is whole
      assert.deepEqual(
        entries.filter((e) => e.type === '0').map((e) => e.path),
        format === 'ustar' ? [mid] : [mid, long],
      );
      if (format !== 'ustar') {
        assert.equal(bodies.get(long), 'long one\n');
        const link = entries.find((e) => e.path === 'd/link')!;
        assert.deepEqual([link.type, link.linkPath], ['2', '../../../' + 'x'.repeat(150)]);
      }
    });
  }

  it('refuses what is not tar, and an archive that ends early', () => {
    const junk = new TarReader(() => 'skip');
    assert.throws(() => junk.push(Buffer.alloc(512, 0x41)), code('PARSE_FAILED'));
    const empty = new TarReader(() => 'skip');
    empty.push(Buffer.alloc(100));
    assert.throws(() => empty.end(), code('PARSE_FAILED'));
  });
});
