// The canonical text of an installed set, shared by the agent (which hashes and sends it) and
// the server (which stores profiles by it): one JSON array per package instance, lines sorted,
// each ending in "\n". The packages hash is the SHA-256 of that text, so both sides name the
// same set with the same hash and a report whose hash is known needs no parsing at all.
import { createHash } from 'node:crypto';
import { AptgateError } from '../errors.js';
import type { DpkgState, InstalledPackage, Want } from './status.js';
import { parseVersion } from './version.js';

// fixed order: the same package always gives the same line
const FIELDS: ReadonlyArray<keyof InstalledPackage> = [
  'package',
  'architecture',
  'version',
  'want',
  'ok',
  'state',
  'multiArch',
  'source',
  'sourceVersion',
  'essential',
  'depends',
  'preDepends',
  'recommends',
  'breaks',
  'conflicts',
  'provides',
  'aptHash',
];
const WANTS = new Set(['unknown', 'install', 'hold', 'deinstall', 'purge']);
const STATES = new Set([
  'not-installed',
  'config-files',
  'half-installed',
  'unpacked',
  'half-configured',
  'triggers-awaited',
  'triggers-pending',
  'installed',
]);
const NAME_RE = /^[a-z0-9][a-z0-9+.-]*$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;
const MAX_RELATION = 65_536;

export function recordLine(p: InstalledPackage): string {
  return JSON.stringify(FIELDS.map((f) => p[f] ?? null));
}

/** The instance key a delta names: package:architecture. */
export function recordKey(p: Pick<InstalledPackage, 'package' | 'architecture'>): string {
  return `${p.package}:${p.architecture}`;
}

function bad(msg: string): never {
  throw new AptgateError('STATUS_INVALID', `package record: ${msg}`);
}

/** Reads a line back, checking every field: lines come from the network. */
export function parseRecordLine(line: string): InstalledPackage {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    bad('not JSON');
  }
  if (!Array.isArray(v) || v.length !== FIELDS.length) bad(`not an array of ${FIELDS.length} fields`);
  const [pkg, arch, version, want, ok, state, multiArch, source, sourceVersion, essential, ...rest] = v as unknown[];
  const aptHash = rest.pop();
  if (typeof pkg !== 'string' || !NAME_RE.test(pkg) || pkg.length > 200) bad('invalid package name');
  if (typeof arch !== 'string' || !ARCH_RE.test(arch) || arch.length > 40) bad(`${pkg}: invalid architecture`);
  if (typeof version !== 'string') bad(`${pkg}: invalid version`);
  try {
    parseVersion(version);
  } catch {
    bad(`${pkg}: invalid version`);
  }
  if (typeof want !== 'string' || !WANTS.has(want)) bad(`${pkg}: invalid selection`);
  if (typeof state !== 'string' || !STATES.has(state)) bad(`${pkg}: invalid state`);
  if (typeof ok !== 'boolean' || typeof essential !== 'boolean') bad(`${pkg}: invalid flags`);
  if (multiArch !== null && (typeof multiArch !== 'string' || !/^[a-z-]{1,20}$/.test(multiArch)))
    bad(`${pkg}: invalid Multi-Arch`);
  if (typeof source !== 'string' || !NAME_RE.test(source)) bad(`${pkg}: invalid source`);
  if (typeof sourceVersion !== 'string') bad(`${pkg}: invalid source version`);
  try {
    parseVersion(sourceVersion);
  } catch {
    bad(`${pkg}: invalid source version`);
  }
  for (const r of rest)
    if (r !== null && (typeof r !== 'string' || r.length > MAX_RELATION)) bad(`${pkg}: invalid relation field`);
  if (typeof aptHash !== 'number' || !Number.isInteger(aptHash) || aptHash < 0 || aptHash > 0xffffffff)
    bad(`${pkg}: invalid version hash`);
  const [depends, preDepends, recommends, breaks, conflicts, provides] = rest as Array<string | null>;
  return {
    package: pkg,
    architecture: arch,
    version,
    want: want as Want,
    ok,
    state: state as DpkgState,
    multiArch: multiArch ?? undefined,
    source,
    sourceVersion,
    essential,
    depends: depends ?? undefined,
    preDepends: preDepends ?? undefined,
    recommends: recommends ?? undefined,
    breaks: breaks ?? undefined,
    conflicts: conflicts ?? undefined,
    provides: provides ?? undefined,
    aptHash,
  };
}

export interface PackagesText {
  /** sorted unique lines, each followed by "\n" */
  text: string;
  /** SHA-256 (hex) of text */
  hash: string;
}

export function packagesTextOfLines(lines: Iterable<string>): PackagesText {
  const sorted = [...new Set(lines)].sort();
  const text = sorted.length ? sorted.join('\n') + '\n' : '';
  return { text, hash: createHash('sha256').update(text).digest('hex') };
}

export function packagesText(installed: readonly InstalledPackage[]): PackagesText {
  return packagesTextOfLines(installed.map(recordLine));
}

/** Lines of a packages text (without the newlines). */
export function linesOf(text: string): string[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new AptgateError('STATUS_INVALID', 'packages text does not end with a newline');
  return text.slice(0, -1).split('\n');
}
