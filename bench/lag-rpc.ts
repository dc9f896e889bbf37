// The /RPC2 bodies of bench:lag: enrolments, reports signed as the agent signs them
// (src/protocol/signing.ts through fleet-client.ts), and the attack bodies of issue 13 (written as
// text: a serializer would itself choke on 100,000 levels).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { CollectedExtras } from '../src/agent/types.js';
import { packagesText, packagesTextOfLines, recordLine } from '../src/index/profile-record.js';
import { parseStatus, type InstalledPackage } from '../src/index/status.js';
import { encodeCall } from '../src/protocol/codec.js';
import { SERVER_HOST, type SimMachine } from './fleet-data.js';
import { ARCHIVE } from './lag-archive.js';

export interface Packages {
  hash: string;
  gz: Buffer;
  count: number;
  textBytes: number;
}

function packed(text: string, hash: string, count: number): Packages {
  return { hash, gz: gzipSync(text), count, textBytes: Buffer.byteLength(text) };
}

/** The real dpkg status of a bookworm machine (the fixture), as the agent sends it. */
export function realPackages(): Packages {
  const installed = parseStatus(readFileSync(join(ARCHIVE, 'dpkg-status.bookworm-node')));
  const t = packagesText(installed);
  return packed(t.text, t.hash, installed.length);
}

/** `count` valid package records (the report: 480,000 lines, 62 MiB unpacked). */
export function bigPackages(count: number): Packages {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `lag${i}`;
    const p: InstalledPackage = {
      package: name,
      architecture: 'amd64',
      version: '1.0-1',
      want: 'install',
      ok: true,
      state: 'installed',
      multiArch: undefined,
      source: name,
      sourceVersion: '1.0-1',
      essential: false,
      depends: 'libc6 (>= 2.34)',
      preDepends: undefined,
      recommends: undefined,
      breaks: undefined,
      conflicts: undefined,
      provides: undefined,
      aptHash: 1000 + (i % 1000),
    };
    lines.push(recordLine(p));
  }
  const t = packagesTextOfLines(lines);
  return packed(t.text, t.hash, count);
}

export function machine(i: number, sources: string, preferences: string): SimMachine {
  const extras: CollectedExtras = {
    holds: [],
    sources: [{ path: '/etc/apt/sources.list', content: sources }],
    preferences: preferences ? [{ path: '/etc/apt/preferences.d/lag', content: preferences }] : [],
    aptUpgradable: [],
    reboot: { required: false, packages: [] },
    dpkg: { audit: '', interrupted: false },
  };
  return {
    index: i,
    machineId: createHash('sha256').update(`bench-lag-machine-${i}`).digest('hex').slice(0, 32),
    hostname: `lag-${String(i).padStart(5, '0')}.bench.example.org`,
    profile: undefined as never,
    extras,
    state: '',
    id: 0,
    secret: '',
    lastTs: 0,
  };
}

/** What a machine's apt reads through this server: bookworm main (remap mode), and the small suite. */
export const BOOKWORM_SOURCES = `deb http://${SERVER_HOST}/debian bookworm main\n`;
export const HITS_SOURCES = `deb http://${SERVER_HOST}/hits stable main\n`;

export function enrolBody(token: string, m: SimMachine, foreignArchitectures: string[] = []): string {
  return encodeCall('agent.enroll', [
    {
      token,
      facts: {
        hostname: m.hostname,
        machineId: m.machineId,
        architecture: 'amd64',
        foreignArchitectures,
        distribution: 'Debian GNU/Linux 12 (bookworm)',
        codename: 'bookworm',
        kernel: '6.1.0-28-amd64',
        agentVersion: 'aptgate-agent 0.1.0',
      },
    },
  ]);
}

export function reportBody(m: SimMachine, p: Packages): string {
  const state = createHash('sha256')
    .update(`${p.hash}\n${JSON.stringify(m.extras)}`)
    .digest('hex');
  return encodeCall('agent.report', [
    { machineId: m.machineId, state, packages: { hash: p.hash, full: p.gz }, ...m.extras },
  ]);
}

const CALL_HEAD = '<?xml version="1.0"?><methodCall><methodName>';

/** agent.hello whose struct carries `values` string values in arrays of ten, nested in an array. */
export function helloNestedArrays(values: number): string {
  const inner = `<value><array><data>${'<value>1</value>'.repeat(10)}</data></array></value>`;
  return (
    `${CALL_HEAD}agent.hello</methodName><params><param><value><struct><member><name>protocol</name><value><int>1</int></value></member>` +
    `<member><name>x</name><value><array><data>${inner.repeat(Math.ceil(values / 10))}</data></array></value></member></struct></value></param></params></methodCall>`
  );
}

/** agent.hello with `depth` structs, each the only member of the one around it. */
export function helloNestedStructs(depth: number): string {
  return (
    `${CALL_HEAD}agent.hello</methodName><params><param>${'<value><struct><member><name>a</name>'.repeat(depth)}<value>1</value>` +
    `${'</member></struct></value>'.repeat(depth)}</param></params></methodCall>`
  );
}

/** system.multicall of `calls` calls of agent.hello without parameters (each answered by a fault). */
export function multicall(calls: number): string {
  const one = '<value><struct><member><name>methodName</name><value>agent.hello</value></member></struct></value>';
  return `${CALL_HEAD}system.multicall</methodName><params><param><value><array><data>${one.repeat(calls)}</data></array></value></param></params></methodCall>`;
}
