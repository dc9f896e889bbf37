// bench:proxy's mirror as a signed suite: aptgate stores a pool file only once a signed, parsed
// Packages gives its size and SHA256 (else it is passed through uncached), so the generated files
// are listed in the Packages of suite `bench` under an InRelease signed with the test archive key.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clearsign, type TestKey } from '../test/helpers/gpg.js';
import { formatReleaseDate } from '../test/helpers/repo.js';
import { MIRROR_ROOT } from './proxy-common.js';
import type { FileEntry } from './proxy-files.js';

export const SUITE = 'bench';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The paths apt update would ask for (below the backend): InRelease and each Packages.gz. */
export interface Suite {
  indexPaths: string[];
}

function paragraph(e: FileEntry): string {
  // pool/<component>/<initial>/<name>/<name>_<version>_<arch>.deb
  const m = /^pool\/[^/]+\/[^/]+\/([^/]+)\/[^_]+_([^_]+)_([a-z0-9]+)\.deb$/.exec(e.rel);
  if (!m) throw new Error(`not a pool path: ${e.rel}`);
  return [
    `Package: ${m[1]}`,
    `Version: ${m[2]}`,
    `Architecture: ${m[3]}`,
    'Maintainer: bench <bench@localhost>',
    `Filename: ${e.rel}`,
    `Size: ${e.size}`,
    `SHA256: ${e.sha256}`,
    `Description: bench:proxy file`,
    '',
  ].join('\n');
}

export async function writeSuite(entries: FileEntry[], key: TestKey): Promise<Suite> {
  const dir = join(MIRROR_ROOT, 'dists', SUITE);
  const listed: Array<[string, Buffer]> = [];
  const components = [...new Set(entries.map((e) => e.rel.split('/')[1]!))].sort();
  for (const component of components) {
    const text = Buffer.from(
      entries
        .filter((e) => e.rel.split('/')[1] === component)
        .map(paragraph)
        .join('\n'),
    );
    const rel = `${component}/binary-amd64/Packages`;
    mkdirSync(join(dir, component, 'binary-amd64'), { recursive: true });
    const gz = gzipSync(text);
    writeFileSync(join(dir, `${rel}.gz`), gz);
    listed.push([rel, text], [`${rel}.gz`, gz]);
  }
  const release = Buffer.from(
    [
      'Origin: bench',
      'Label: bench',
      `Suite: ${SUITE}`,
      `Codename: ${SUITE}`,
      // in the past: apt (and aptgate) refuse a Date in the future
      `Date: ${formatReleaseDate(new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000))}`,
      'Architectures: amd64',
      `Components: ${components.join(' ')}`,
      'Description: bench:proxy mirror',
      'SHA256:',
      ...listed.map(([rel, data]) => ` ${sha256(data)} ${String(data.length).padStart(16)} ${rel}`),
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'Release'), release);
  writeFileSync(join(dir, 'InRelease'), await clearsign(key, release));
  return {
    indexPaths: [`dists/${SUITE}/InRelease`, ...components.map((c) => `dists/${SUITE}/${c}/binary-amd64/Packages.gz`)],
  };
}
