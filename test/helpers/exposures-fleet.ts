// The fleet of issue 17's exposure tests (issue-17-exposures, issue-17-console): bookworm-security
// indexed straight into the server's store, machines whose reports carry chosen installed sets
// (Fleet.report, through a stage or not), and advisory fixtures imported by the real parsers.
import { gzipSync } from 'node:zlib';
import type { CollectedExtras } from '../../src/agent/types.js';
import type { Services } from '../../src/assembly/services.js';
import { parseParagraphs } from '../../src/index/deb822.js';
import { toPackageEntry } from '../../src/index/packages.js';
import { packagesText } from '../../src/index/profile-record.js';
import { parseStatus } from '../../src/index/status.js';
import { AdvisoryStore } from '../../src/state/advisories.js';
import { SnapshotStore } from '../../src/state/snapshots.js';
import { parseAdvisoryFile, type AdvisoryFileKind } from '../../src/sys/advisory-parse.js';
import type { TestMachine } from './fleet-api.js';

export const HOST = 'aptgate.test:3142';
export const OLD_SSL = '3.0.11-1~deb12u2';
export const NEW_SSL = '3.0.15-1~deb12u1';

/** bookworm-security with openssl at `ssl`, curl fixed, libfoo 2.0 needing a new package, libxml2 as installed. */
export function indexSnapshot(s: Services, n: number, ssl: string, date: number): number {
  const snap = new SnapshotStore(s.db).record({
    backend: 'debian-security',
    suite: 'bookworm-security',
    kind: 'inrelease',
    sha256: String(n).repeat(64),
    date,
    validUntil: null,
    origin: 'Debian',
    label: 'Debian-Security',
    suiteField: 'oldstable-security',
    codename: 'bookworm-security',
    version: '12',
    notAutomatic: false,
    butAutomaticUpgrades: false,
    fetchedAt: date,
    mirror: null,
    upstreamLastModified: null,
    upstreamEtag: null,
  });
  const pkg = (name: string, version: string, source: string, extra = '') =>
    `Package: ${name}\nSource: ${source}\nVersion: ${version}\nArchitecture: amd64\n${extra}` +
    `Filename: pool/updates/main/${name[0]}/${name}/${name}_${version}_amd64.deb\nSize: 1000\nSHA256: ${String(n).repeat(63)}${name.length % 10}\n\n`;
  const text =
    pkg('openssl', ssl, 'openssl') +
    pkg('libssl3', ssl, 'openssl') +
    pkg('curl', '7.88.1-10+deb12u8', 'curl') +
    pkg('libcurl4', '7.88.1-10+deb12u8', 'curl') +
    pkg('libfoo', '2.0-1', 'foo', 'Depends: libnew\n') +
    pkg('libnew', '1.0-1', 'foo') +
    pkg('libxml2', '2.9.14+dfsg-1.3~deb12u1', 'libxml2');
  const entries = parseParagraphs(text).map((p) => toPackageEntry(p)!);
  const idx = s.state.packageIndex;
  const file = idx.beginFile('debian-security', `key-${n}`);
  idx.insertBatch(file, 'debian-security', entries);
  idx.link(snap.id, 'main', 'amd64', idx.finishFile(file, 'debian-security', String(n + 1).repeat(64), entries.length));
  return snap.id;
}

export interface Installed {
  name: string;
  version: string;
  source?: string;
  hold?: boolean;
}

/** A report of these installed packages; apt reads bookworm-security directly, through a stage, or elsewhere. */
export async function report(
  s: Services,
  m: TestMachine,
  pkgs: Installed[],
  via: 'direct' | 'test' | 'production' | 'foreign',
) {
  const status = pkgs
    .map(
      (p) =>
        `Package: ${p.name}\nStatus: ${p.hold ? 'hold' : 'install'} ok installed\nArchitecture: amd64\n` +
        `${p.source ? `Source: ${p.source}\n` : ''}Version: ${p.version}\n\n`,
    )
    .join('');
  const p = packagesText(parseStatus(status));
  const uri = {
    direct: 'http://deb.debian.org/debian-security',
    test: `http://${HOST}/stage/test/debian-security`,
    production: `http://${HOST}/stage/production/debian-security`,
    foreign: 'http://apt.example.org/vendor',
  }[via];
  const extras: CollectedExtras = {
    holds: pkgs.filter((x) => x.hold).map((x) => x.name),
    preferences: [],
    dpkg: { audit: '', interrupted: false },
    sources: [
      {
        path: '/etc/apt/sources.list.d/debian.sources',
        content: `Types: deb\nURIs: ${uri}\nSuites: bookworm-security\nComponents: main\n`,
      },
    ],
    aptUpgradable: [],
    reboot: { required: false, packages: [] },
  };
  await s.fleet.report(m.id, {
    machineId: m.machineId,
    state: `state-${m.id}-${p.hash.slice(0, 8)}`,
    packages: { hash: p.hash, full: gzipSync(p.text) },
    extras,
    serverHost: HOST,
  });
}

export async function importFixture(s: Services, feed: string, kind: AdvisoryFileKind, file: string): Promise<number> {
  const store = new AdvisoryStore(s.db);
  store.setFeed(feed, `file://${file}`);
  const r = await store.replace(feed, (write) => parseAdvisoryFile(kind, file, write));
  return r.records;
}

export const ssl = (v: string): Installed[] => [
  { name: 'openssl', version: v },
  { name: 'libssl3', version: v, source: 'openssl' },
];

/** libxml2 as bookworm-security has it (installed, up to date). */
export const XML: Installed = { name: 'libxml2', version: '2.9.14+dfsg-1.3~deb12u1' };

/** up-1: old openssl, curl held at an old version, libxml2, zlib, libfoo whose update needs a new package. */
export const UP_PACKAGES: Installed[] = [
  ...ssl(OLD_SSL),
  { name: 'curl', version: '7.88.1-10+deb12u5', hold: true },
  { name: 'libcurl4', version: '7.88.1-10+deb12u5', source: 'curl', hold: true },
  XML,
  { name: 'zlib1g', version: '1:1.2.13.dfsg-1', source: 'zlib' },
  { name: 'libfoo', version: '1.0-1', source: 'foo' },
];

/** prod-1: old openssl and curl. */
export const PROD_PACKAGES: Installed[] = [...ssl(OLD_SSL), { name: 'curl', version: '7.88.1-10+deb12u5' }];
