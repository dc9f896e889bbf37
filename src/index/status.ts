// dpkg's status database (/var/lib/dpkg/status): which package instances apt counts as
// installed, their selections (holds) and what they declare.
import { AptgateError } from '../errors.js';
import { aptVersionHashOf } from './apthash.js';
import { Deb822Parser, type Paragraph } from './deb822.js';
import { sourceOf } from './packages.js';
import { parseVersion } from './version.js';

export type Want = 'unknown' | 'install' | 'hold' | 'deinstall' | 'purge';
export type DpkgState =
  | 'not-installed'
  | 'config-files'
  | 'half-installed'
  | 'unpacked'
  | 'half-configured'
  | 'triggers-awaited'
  | 'triggers-pending'
  | 'installed';

const WANTS = new Set<string>(['unknown', 'install', 'hold', 'deinstall', 'purge']);
const STATES = new Set<string>([
  'not-installed',
  'config-files',
  'half-installed',
  'unpacked',
  'half-configured',
  'triggers-awaited',
  'triggers-pending',
  'installed',
]);

/** One package instance (name + architecture) as a machine has it. */
export interface InstalledPackage {
  package: string;
  /** as dpkg records it: amd64, all, i386, ... */
  architecture: string;
  version: string;
  want: Want;
  /** dpkg's error flag: ok, or reinstreq */
  ok: boolean;
  state: DpkgState;
  multiArch: string | undefined;
  source: string;
  sourceVersion: string;
  essential: boolean;
  depends: string | undefined;
  preDepends: string | undefined;
  recommends: string | undefined;
  breaks: string | undefined;
  conflicts: string | undefined;
  provides: string | undefined;
  /** apt's identity of this version among entries with the same version string */
  aptHash: number;
}

/** apt gives an instance a current version unless dpkg says not-installed or config-files. */
export function isInstalledState(state: DpkgState): boolean {
  return state !== 'not-installed' && state !== 'config-files';
}

export const STATUS_FIELDS: ReadonlySet<string> = new Set([
  'package',
  'architecture',
  'version',
  'status',
  'multi-arch',
  'source',
  'essential',
  'installed-size',
  'replaces',
  'depends',
  'pre-depends',
  'recommends',
  'breaks',
  'conflicts',
  'provides',
]);

const NAME_RE = /^[a-z0-9][a-z0-9+.-]*$/;

function bad(msg: string, pkg: string | undefined): never {
  throw new AptgateError('STATUS_INVALID', pkg ? `status entry ${pkg}: ${msg}` : msg, { package: pkg });
}

/** A typed status entry; throws STATUS_INVALID for an entry dpkg itself would not have written. */
export function toInstalled(p: Paragraph): InstalledPackage | undefined {
  const name = p['package'];
  if (!name) bad('an entry has no Package field', undefined);
  if (!NAME_RE.test(name)) bad(`invalid package name "${name.slice(0, 100)}"`, undefined);
  // Packages indexes have no Status: the likeliest file given in a status file's place
  if (p['status'] === undefined)
    bad('has no Status field (every entry of a dpkg status has one; a Packages index has none)', name);
  const status = p['status'].trim().split(/\s+/);
  if (
    status.length !== 3 ||
    !WANTS.has(status[0]!) ||
    !STATES.has(status[2]!) ||
    (status[1] !== 'ok' && status[1] !== 'reinstreq')
  ) {
    bad(`invalid Status "${(p['status'] ?? '').slice(0, 100)}"`, name);
  }
  const state = status[2] as DpkgState;
  const version = p['version'];
  // not-installed entries (only a selection) carry no version: nothing to compare
  if (!version) {
    if (isInstalledState(state) || state === 'config-files') bad('has no Version', name);
    return undefined;
  }
  try {
    parseVersion(version);
  } catch (err) {
    bad((err as Error).message, name);
  }
  const architecture = p['architecture'];
  if (!architecture) bad('has no Architecture', name);
  const { source, sourceVersion } = sourceOf(p, name, version);
  return {
    package: name,
    architecture,
    version,
    want: status[0] as Want,
    ok: status[1] === 'ok',
    state,
    multiArch: p['multi-arch']?.toLowerCase(),
    source,
    sourceVersion,
    essential: /^yes$/i.test(p['essential'] ?? ''),
    depends: p['depends'],
    preDepends: p['pre-depends'],
    recommends: p['recommends'],
    breaks: p['breaks'],
    conflicts: p['conflicts'],
    provides: p['provides'],
    aptHash: aptVersionHashOf(p),
  };
}

/** Every entry of a status file's text (all states; callers filter with isInstalledState). */
export function parseStatus(text: string | Buffer): InstalledPackage[] {
  return readStatus(text).entries;
}

/** The entries, and how many paragraphs the text had (entries of packages only selected carry no version). */
export function readStatus(text: string | Buffer): { entries: InstalledPackage[]; paragraphs: number } {
  const entries: InstalledPackage[] = [];
  let paragraphs = 0;
  const parser = new Deb822Parser(
    (p) => {
      paragraphs++;
      const e = toInstalled(p);
      if (e) entries.push(e);
    },
    { fields: STATUS_FIELDS },
  );
  parser.write(text);
  parser.end();
  return { entries, paragraphs };
}
