import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deb822Parser, parseParagraphs } from '../src/index/deb822.js';
import { parseRelease, packagesTarget, byHashRel, clearsignedText } from '../src/index/release.js';
import { toPackageEntry, PACKAGES_FIELDS } from '../src/index/packages.js';

test('paragraphs: folded fields, whitespace-only separators, CRLF, case-insensitive names', () => {
  const text =
    'Package: a\r\nVersion: 1.0\r\nDescription: short\r\n long line\r\n .\r\n\r\nPackage: b\nversion: 2\n \t \nPACKAGE: c\nVersion: 3\n';
  const ps = parseParagraphs(text);
  assert.equal(ps.length, 3);
  assert.equal(ps[0]!['description'], 'short\nlong line\n.');
  assert.equal(ps[1]!['version'], '2');
  assert.equal(ps[2]!['package'], 'c');
});

test('a UTF-8 character split across chunks stays whole', () => {
  const para = 'Package: naïve\nMaintainer: Jörg Größe <j@example.org>\nDescription: 日本語\n\n';
  const bytes = Buffer.from(para.repeat(50));
  for (const size of [1, 2, 3, 7, 4093]) {
    const out: Array<Record<string, string>> = [];
    const p = new Deb822Parser((x) => out.push(x));
    for (let i = 0; i < bytes.length; i += size) p.write(bytes.subarray(i, i + size));
    p.end();
    assert.equal(out.length, 50);
    for (const x of out) {
      assert.equal(x['package'], 'naïve');
      assert.equal(x['maintainer'], 'Jörg Größe <j@example.org>');
      assert.equal(x['description'], '日本語');
    }
  }
});

test('Packages entries: Source with version, field filter, required fields', () => {
  const [p] = parseParagraphs(
    'Package: bash\nVersion: 5.2.15-2+b8\nArchitecture: amd64\nSource: bash (5.2.15-2)\nFilename: pool/main/b/bash/bash_5.2.15-2+b8_amd64.deb\nSize: 1500\nSHA256: ABCDEF\nDescription: x\n y\n',
    { fields: PACKAGES_FIELDS },
  );
  assert.equal(p!['description'], undefined);
  const e = toPackageEntry(p!)!;
  assert.equal(e.source, 'bash');
  assert.equal(e.sourceVersion, '5.2.15-2');
  assert.equal(e.sha256, 'abcdef');
  assert.equal(toPackageEntry({ package: 'x', version: '1' }), undefined);
});

test('Release: dates, flags, SHA256 list, by-hash paths, Packages targets', () => {
  const r = parseRelease(`Origin: Debian
Label: Debian-Security
Codename: bookworm-security
Date: Fri, 20 Nov 2026 00:12:41 UTC
Valid-Until: Fri, 27 Nov 2026 00:12:41 UTC
Acquire-By-Hash: yes
NotAutomatic: yes
SHA256:
 ${'a'.repeat(64)}   100 main/binary-amd64/Packages
 ${'b'.repeat(64)}    40 main/binary-amd64/Packages.xz
`);
  assert.equal(r.date.toISOString(), '2026-11-20T00:12:41.000Z');
  assert.equal(r.validUntil!.toISOString(), '2026-11-27T00:12:41.000Z');
  assert.equal(r.acquireByHash, true);
  assert.equal(r.notAutomatic, true);
  assert.equal(r.files.get('main/binary-amd64/Packages.xz')!.size, 40);
  assert.equal(r.byHash.get('a'.repeat(64))![0]!.path, 'main/binary-amd64/Packages');
  assert.equal(
    byHashRel('main/binary-amd64/Packages.xz', 'b'.repeat(64)),
    `main/binary-amd64/by-hash/SHA256/${'b'.repeat(64)}`,
  );
  assert.deepEqual(packagesTarget('main/debian-installer/binary-i386/Packages.gz'), {
    component: 'main/debian-installer',
    architecture: 'i386',
    compression: 'gz',
  });
  assert.equal(packagesTarget('main/i18n/Translation-en.xz'), undefined);
  assert.throws(() => parseRelease('Origin: x\nDate: nonsense\nSHA256:\n'), { code: 'RELEASE_INVALID' });
  assert.throws(
    () => parseRelease(`Date: Fri, 20 Nov 2026 00:12:41 UTC\nSHA256:\n ${'a'.repeat(64)} 1 ../../etc/passwd\n`),
    { code: 'RELEASE_INVALID' },
  );
  assert.equal(
    clearsignedText(
      '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: x\n- -dash\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n',
    ),
    'Origin: x\n-dash',
  );
});
