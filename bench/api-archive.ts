// The upstream of bench:api, on disk: the suites bench:fleet's machines read (bookworm,
// bookworm-updates, bookworm-security; main, contrib, non-free-firmware; amd64), made of the
// same package specs as the machines' profiles (bench/fleet-data.ts), under Releases signed
// with the test archive key. bookworm has every package at its older version; -updates and
// -security carry the current version of a few, so a machine is outdated when it still has the
// older version of one of those, and security-outdated when it is one of -security's: some
// machines are up to date, most are outdated, about half have security updates pending.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { clearsign, type TestKey } from '../test/helpers/gpg.js';
import { formatReleaseDate } from '../test/helpers/repo.js';
import { prng } from '../test/helpers/statusgen.js';
import { record, type PkgSpec } from './fleet-data.js';

const COMPONENTS = ['main', 'contrib', 'non-free-firmware'] as const;
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface ArchiveShape {
  /** share of the packages with a newer version in bookworm-updates */
  updates: number;
  /** share with a newer version in bookworm-security (none is in both) */
  security: number;
}

export const DEFAULT_ARCHIVE: ArchiveShape = { updates: 0.025, security: 0.015 };

export interface Archive {
  /** entries per suite (all components) */
  entries: Record<string, number>;
  /** a package of -security that machines have at the older version (the package-first query asks for it) */
  securityPackage: { name: string; older: string; fixed: string };
  /** a package every machine has (the core's first) */
  corePackage: string;
  /** the suites as the bench fetches them through the server, like apt: [backend, suite] */
  suites: Array<[string, string]>;
}

function paragraph(s: PkgSpec, v: 0 | 1): string {
  const r = record(s, v);
  const fileVersion = r.version.replace(/^\d+:/, '');
  const sourceField =
    r.source !== r.package || r.sourceVersion !== r.version
      ? `${r.source}${r.sourceVersion !== r.version ? ` (${r.sourceVersion})` : ''}`
      : undefined;
  const prefix = r.source.startsWith('lib') ? r.source.slice(0, 4) : r.source[0]!;
  const fields: Array<[string, string | undefined]> = [
    ['Package', r.package],
    ['Source', sourceField],
    ['Version', r.version],
    ['Architecture', r.architecture],
    ['Essential', r.essential ? 'yes' : undefined],
    ['Multi-Arch', r.multiArch],
    ['Pre-Depends', r.preDepends],
    ['Depends', r.depends],
    ['Recommends', r.recommends],
    ['Breaks', r.breaks],
    ['Conflicts', r.conflicts],
    ['Provides', r.provides],
    ['Filename', `pool/main/${prefix}/${r.source}/${r.package}_${fileVersion}_${r.architecture}.deb`],
    ['Size', String(20_000 + (s.aptHash[v] % 2_000_000))],
    ['SHA256', sha256(`${r.package}/${r.version}/${r.architecture}`)],
    ['Description', `bench:api package ${r.package}`],
  ];
  return fields
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([k, val]) => `${k}: ${val}`)
    .join('\n');
}

/** A firmware-like package no machine has: contrib and non-free-firmware are not empty. */
function filler(component: string, suite: string, i: number): string {
  const name = `${component === 'contrib' ? 'contrib' : 'firmware'}-bench${i}`;
  return [
    `Package: ${name}`,
    `Version: 1.${i}-1`,
    'Architecture: all',
    `Filename: pool/${component}/${name[0]}/${name}/${name}_1.${i}-1_all.deb`,
    'Size: 1000',
    `SHA256: ${sha256(`${suite}/${name}`)}`,
    'Description: bench:api filler',
  ].join('\n');
}

async function writeSuite(
  root: string,
  key: TestKey,
  suite: string,
  label: string,
  main: string[],
  date: Date,
): Promise<number> {
  const dir = join(root, 'dists', suite);
  const listed: Array<[string, Buffer]> = [];
  for (const c of COMPONENTS) {
    const paras = c === 'main' ? main : [filler(c, suite, 1), filler(c, suite, 2)];
    const text = Buffer.from(`${paras.join('\n\n')}\n`);
    const gz = gzipSync(text, { level: 6 });
    mkdirSync(join(dir, c, 'binary-amd64'), { recursive: true });
    writeFileSync(join(dir, c, 'binary-amd64', 'Packages.gz'), gz);
    listed.push([`${c}/binary-amd64/Packages`, text], [`${c}/binary-amd64/Packages.gz`, gz]);
  }
  const release = Buffer.from(
    [
      'Origin: Debian',
      `Label: ${label}`,
      `Suite: ${suite.replace('bookworm', 'stable')}`,
      'Version: 12.8',
      `Codename: ${suite}`,
      `Date: ${formatReleaseDate(date)}`,
      'Architectures: amd64',
      `Components: ${COMPONENTS.join(' ')}`,
      `Description: bench:api copy of ${suite}`,
      'SHA256:',
      ...listed.map(([rel, data]) => ` ${sha256(data)} ${String(data.length).padStart(16)} ${rel}`),
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'Release'), release);
  writeFileSync(join(dir, 'InRelease'), await clearsign(key, release));
  return main.length + 2 * (COMPONENTS.length - 1);
}

/** Writes <up>/debian and <up>/debian-security. */
export async function writeArchive(
  up: string,
  key: TestKey,
  pkgs: { core: PkgSpec[]; optional: PkgSpec[] },
  shape: ArchiveShape = DEFAULT_ARCHIVE,
  seed = 16,
): Promise<Archive> {
  const r = prng(seed);
  const all = [...pkgs.core, ...pkgs.optional];
  const updates: PkgSpec[] = [];
  const security: PkgSpec[] = [];
  for (const s of all) {
    const x = r();
    if (x < shape.security) security.push(s);
    else if (x < shape.security + shape.updates) updates.push(s);
  }
  // dates in the past: apt refuses a Release from the future
  const date = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
  const entries: Record<string, number> = {};
  const debian = join(up, 'debian');
  entries['bookworm'] = await writeSuite(
    debian,
    key,
    'bookworm',
    'Debian',
    all.map((s) => paragraph(s, 1)),
    date,
  );
  entries['bookworm-updates'] = await writeSuite(
    debian,
    key,
    'bookworm-updates',
    'Debian',
    updates.map((s) => paragraph(s, 0)),
    date,
  );
  entries['bookworm-security'] = await writeSuite(
    join(up, 'debian-security'),
    key,
    'bookworm-security',
    'Debian-Security',
    security.map((s) => paragraph(s, 0)),
    date,
  );
  // the -security package of the core most profiles have at the older version is the one asked for
  const sec = security.find((s) => pkgs.core.includes(s)) ?? security[0]!;
  return {
    entries,
    securityPackage: { name: sec.name, older: record(sec, 1).version, fixed: record(sec, 0).version },
    corePackage: pkgs.core[0]!.name,
    suites: [
      ['debian', 'bookworm'],
      ['debian', 'bookworm-updates'],
      ['debian-security', 'bookworm-security'],
    ],
  };
}

/** What apt fetches of a suite: InRelease, then each component's Packages. */
export function suitePaths(backend: string, suite: string): string[] {
  return [
    `/${backend}/dists/${suite}/InRelease`,
    ...COMPONENTS.map((c) => `/${backend}/dists/${suite}/${c}/binary-amd64/Packages.gz`),
  ];
}
