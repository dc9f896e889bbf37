// A small real fleet on a running server for the API tests of issue 16: machines enrol through
// the real Fleet with real tokens, report installed sets and apt's facts through Fleet.report,
// and bookworm-security is in the package index (real stores); the command line runs in-process
// here (--db) or against the server (--server, APTGATE_TOKEN).
import { gzipSync } from 'node:zlib';
import type { CollectedExtras } from '../../src/agent/types.js';
import type { Services } from '../../src/assembly/services.js';
import { buildProgram } from '../../src/cli/program.js';
import type { MachineFacts } from '../../src/fleet/enrolment.js';
import { parseParagraphs } from '../../src/index/deb822.js';
import { toPackageEntry } from '../../src/index/packages.js';
import { packagesText } from '../../src/index/profile-record.js';
import { parseStatus } from '../../src/index/status.js';
import { SnapshotStore } from '../../src/state/snapshots.js';

export interface TestMachine {
  id: number;
  machineId: string;
  hostname: string;
}

let seq = 0;

/** Enrols `hostname` with a fresh token (approved at once unless `autoApprove` is false). */
export function enrolMachine(s: Services, hostname: string, autoApprove = true): TestMachine {
  const facts: MachineFacts = {
    hostname,
    machineId: (++seq).toString(16).padStart(32, 'c'),
    architecture: 'amd64',
    foreignArchitectures: [],
    distribution: 'Debian',
    codename: 'bookworm',
    kernel: '6.1.0-28-amd64',
    agentVersion: `0.${seq}.0`,
  };
  const id = s.fleet.enrol(s.fleet.enrolment.createToken({ autoApprove }).token, facts).machine;
  return { id, machineId: facts.machineId, hostname };
}

const sources = (uri: string, suite: string) => `Types: deb\nURIs: ${uri}\nSuites: ${suite}\nComponents: main\n`;

/** A report: openssl at `version` and bash; sources through this server unless `foreign`. */
export async function reportMachine(
  s: Services,
  m: TestMachine,
  version: string,
  o: { foreign?: boolean; reboot?: boolean } = {},
): Promise<void> {
  const status = (name: string, v: string) =>
    `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${v}\n\n`;
  const p = packagesText(parseStatus(status('openssl', version) + status('bash', '5.2.15-2+b7')));
  const extras: CollectedExtras = {
    holds: [],
    preferences: [],
    dpkg: { audit: '', interrupted: false },
    sources: [
      {
        path: '/etc/apt/sources.list.d/debian.sources',
        content: o.foreign
          ? sources('http://apt.example.org/vendor', 'stable')
          : sources('http://deb.debian.org/debian-security', 'bookworm-security'),
      },
    ],
    aptUpgradable: [
      { package: 'openssl', architecture: 'amd64', installed: version, candidate: '3.0.17-1~deb12u2', security: true },
    ],
    reboot: { required: o.reboot === true, packages: o.reboot ? ['linux-image-6.1.0-29-amd64'] : [] },
  };
  await s.fleet.report(m.id, {
    machineId: m.machineId,
    state: `state-${m.id}-${version}`,
    packages: { hash: p.hash, full: gzipSync(p.text) },
    extras,
  });
}

/** bookworm-security with openssl 3.0.17-1~deb12u2 in the package index; the snapshot's id. */
export function indexSecuritySuite(s: Services): number {
  const snap = new SnapshotStore(s.db).record({
    backend: 'debian-security',
    suite: 'bookworm-security',
    kind: 'inrelease',
    sha256: 'a'.repeat(64),
    date: Date.now(),
    validUntil: null,
    origin: 'Debian',
    label: 'Debian-Security',
    suiteField: 'oldstable-security',
    codename: 'bookworm-security',
    version: '12',
    notAutomatic: false,
    butAutomaticUpgrades: false,
    fetchedAt: Date.now(),
    mirror: null,
    upstreamLastModified: null,
    upstreamEtag: null,
  });
  const entries = parseParagraphs(
    'Package: openssl\nVersion: 3.0.17-1~deb12u2\nArchitecture: amd64\nFilename: pool/updates/main/o/openssl/openssl_3.0.17-1~deb12u2_amd64.deb\n' +
      `Size: 1000\nSHA256: ${'b'.repeat(64)}\n`,
  ).map((p) => toPackageEntry(p)!);
  const idx = s.state.packageIndex;
  const file = idx.beginFile('debian-security', 'test-key');
  idx.insertBatch(file, 'debian-security', entries);
  const id = idx.finishFile(file, 'debian-security', 'c'.repeat(64), entries.length);
  idx.link(snap.id, 'main', 'amd64', id);
  return snap.id;
}

/** Runs `aptgate ARGS` in-process; what it printed (a failure rejects with the AptgateError). */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  let text = '';
  try {
    const program = buildProgram((x) => {
      text += x;
    });
    program.exitOverride();
    await program.parseAsync(['node', 'aptgate', ...args]);
    return text;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
