// Large agent reports for the issue 13 tests and bench:reports: valid installed sets of any
// size (canonical packages text, as the agent makes it), a machine enrolled over /RPC2, and
// signed agent.report calls sent over real HTTP.
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { decodeResponse, encodeCall } from '../../src/protocol/codec.js';
import { signRequest } from '../../src/protocol/signing.js';
import { packagesText, type PackagesText } from '../../src/index/profile-record.js';
import type { InstalledPackage } from '../../src/index/status.js';

/**
 * `n` valid package instances of about 135 bytes each (the 480,000-line attack report was
 * 62 MiB); `tag` makes a different set with different records.
 */
export function bigInstalled(n: number, tag = 'a'): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (let i = 0; i < n; i++) {
    const name = `lib${tag}${i.toString(36)}`;
    const version = `${1 + (i % 3)}.${i % 4}-1`;
    out.push({
      package: name,
      architecture: 'amd64',
      version,
      want: 'install',
      ok: true,
      state: 'installed',
      multiArch: undefined,
      source: name,
      sourceVersion: version,
      essential: false,
      depends: 'libc6 (>= 2.36), libz',
      preDepends: undefined,
      recommends: undefined,
      breaks: undefined,
      conflicts: undefined,
      provides: undefined,
      aptHash: i % 1000,
    });
  }
  return out;
}

export function bigPackages(n: number, tag = 'a'): PackagesText {
  return packagesText(bigInstalled(n, tag));
}

export interface Enrolled {
  machine: number;
  secret: string;
  machineId: string;
  /** the last signed timestamp (each call must be newer) */
  lastTs: number;
}

export const faultOf = (xml: string): number | undefined => {
  const m = /<name>faultCode<\/name>\s*<value>\s*<int>(-?\d+)<\/int>/.exec(xml);
  return m ? Number(m[1]) : undefined;
};

export async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await fetch(`${url}/RPC2`, { method: 'POST', body, headers: { 'content-type': 'text/xml', ...headers } });
  return r.text();
}

/** A machine enrolled through agent.enroll with an auto-approving token. */
export async function enrolOverHttp(url: string, token: string, hostname = 'reporter'): Promise<Enrolled> {
  const machineId = randomBytes(16).toString('hex');
  const xml = await post(
    url,
    encodeCall('agent.enroll', [
      {
        token,
        facts: {
          hostname,
          machineId,
          architecture: 'amd64',
          foreignArchitectures: [],
          distribution: 'debian',
          codename: 'bookworm',
          kernel: '6.1.0',
          agentVersion: 'test',
        },
      },
    ]),
  );
  const r = (await decodeResponse(xml)) as { machine: number; secret: string };
  return { machine: r.machine, secret: r.secret, machineId, lastTs: 0 };
}

const EXTRAS = {
  holds: [],
  sources: [],
  preferences: [],
  aptUpgradable: [],
  reboot: { required: false, packages: [] },
  dpkg: { audit: '', interrupted: false },
};

/** The body of an agent.report with the packages in full (gzip), or only by hash. */
export function reportBody(
  m: Enrolled,
  packages: { hash: string; full?: Buffer; base?: string; upsert?: Buffer; remove?: string[] },
): string {
  return encodeCall('agent.report', [
    { machineId: m.machineId, state: randomBytes(32).toString('hex'), packages, ...EXTRAS, agentVersion: 'test' },
  ]);
}

export function fullReportBody(m: Enrolled, p: PackagesText): string {
  return reportBody(m, { hash: p.hash, full: gzipSync(p.text) });
}

/** POSTs a body signed by the machine (a timestamp newer than its last). */
export function postSigned(url: string, m: Enrolled, body: string): Promise<string> {
  m.lastTs = Math.max(Date.now(), m.lastTs + 1);
  return post(url, body, signRequest(m.secret, String(m.machine), m.lastTs, body));
}
