// The upstream of bench:lag, on disk: the real bookworm main amd64 Packages (../shared/data when
// present, else test/fixtures) under a Release signed with the test archive key (a second
// generation with some versions moved on makes a new snapshot), and a small repository with
// one real 53 KB .deb for the cached hits.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clearsignedText, parseRelease } from '../src/index/release.js';
import { clearsign, type TestKey } from '../test/helpers/gpg.js';
import { helloDeb } from '../test/helpers/paths.js';
import { FixtureRepo, formatReleaseDate } from '../test/helpers/repo.js';
import { REPO } from './common.js';

const SHARED = resolve(REPO, '..', 'shared', 'data', 'debian-archive');
export const ARCHIVE = existsSync(join(SHARED, 'debian', 'dists', 'bookworm', 'InRelease'))
  ? SHARED
  : join(REPO, 'test', 'fixtures', 'debian-archive');
export const ARCHIVE_NAME = ARCHIVE === SHARED ? '../shared/data/debian-archive' : 'test/fixtures/debian-archive';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const BOOKWORM = join(ARCHIVE, 'debian', 'dists', 'bookworm');
const PACKAGES_DIR = 'main/binary-amd64';

export interface Generation {
  /** the Packages file apt asks for, relative to the suite (Packages.xz, Packages.gz) */
  packagesRel: string;
  entries: number;
  bytes: number;
}

export interface HitFile {
  /** path below the server's root: /hits/pool/... */
  path: string;
  size: number;
}

/** Writes <up>/debian/dists/bookworm (generation 1: the Packages.xz as published). */
export async function writeBookworm(up: string, key: TestKey, generation: 1 | 2): Promise<Generation> {
  const dir = join(up, 'debian', 'dists', 'bookworm');
  mkdirSync(join(dir, PACKAGES_DIR), { recursive: true });
  const xz = readFileSync(join(BOOKWORM, PACKAGES_DIR, 'Packages.xz'));
  const plain = execFileSync('xz', ['-dc'], { input: xz, maxBuffer: 512 << 20 });
  let files: Array<[string, Buffer]>;
  let text = plain;
  if (generation === 1) {
    files = [['Packages.xz', xz]];
  } else {
    // one package in a hundred gets a new upload: a new version, file name and hash
    let n = 0;
    text = Buffer.from(
      plain
        .toString('utf8')
        .split('\n\n')
        .map((para) => {
          if (!para.startsWith('Package: ') || ++n % 100 !== 0) return para;
          const name = /^Package: (\S+)$/m.exec(para)![1]!;
          return para
            .replace(/^Version: (\S+)$/m, (_m, v: string) => `Version: ${v}+lag1`)
            .replace(/^Filename: (\S+)\.deb$/m, (_m, f: string) => `Filename: ${f}+lag1.deb`)
            .replace(/^SHA256: (\S+)$/m, () => `SHA256: ${sha256(`${name}/lag1`)}`);
        })
        .join('\n\n'),
    );
    files = [['Packages.gz', gzipSync(text, { level: 6 })]];
  }
  for (const [name, data] of files) writeFileSync(join(dir, PACKAGES_DIR, name), data);
  const real = parseRelease(clearsignedText(readFileSync(join(BOOKWORM, 'InRelease'))));
  // dates in the past (apt refuses a Date in the future), the second generation newer
  const date = new Date(Math.floor(Date.now() / 1000) * 1000 - (generation === 1 ? 7200_000 : 3600_000));
  const listed: Array<[string, Buffer]> = [
    [`${PACKAGES_DIR}/Packages`, text],
    ...files.map(([n, d]) => [`${PACKAGES_DIR}/${n}`, d] as [string, Buffer]),
  ];
  const release = Buffer.from(
    [
      `Origin: ${real.origin ?? 'Debian'}`,
      `Label: ${real.label ?? 'Debian'}`,
      `Suite: ${real.suite ?? 'stable'}`,
      ...(real.version ? [`Version: ${real.version}`] : []),
      `Codename: ${real.codename ?? 'bookworm'}`,
      `Date: ${formatReleaseDate(date)}`,
      'Architectures: amd64',
      'Components: main',
      'Description: bench:lag copy of Debian 12 main amd64',
      'SHA256:',
      ...listed.map(([rel, data]) => ` ${sha256(data)} ${String(data.length).padStart(16)} ${rel}`),
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'Release'), release);
  writeFileSync(join(dir, 'InRelease'), await clearsign(key, release));
  const entries = (text.toString('utf8').match(/^Package: /gm) ?? []).length;
  return { packagesRel: `${PACKAGES_DIR}/${files[0]![0]}`, entries, bytes: files[0]![1].length };
}

/** Writes <up>/hits (suite stable: the hello .deb, 53 KB) and names its pool file. */
export async function writeHits(up: string, key: TestKey): Promise<HitFile> {
  const repo = await FixtureRepo.create(join(up, 'hits'), key);
  const p = await repo.publish('stable', [], { extraDebs: [helloDeb] });
  const deb = p.debs[0]!;
  return { path: `/hits/${deb.filename}`, size: deb.size };
}
