// One entry of a Packages index, typed; the fields the package index keeps.
import { aptVersionHashOf } from './apthash.js';
import type { Paragraph } from './deb822.js';
import { parseVersion } from './version.js';

export interface PackageEntry {
  package: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
  filename: string;
  size: number;
  sha256: string;
  multiArch: string | undefined;
  depends: string | undefined;
  preDepends: string | undefined;
  recommends: string | undefined;
  breaks: string | undefined;
  conflicts: string | undefined;
  provides: string | undefined;
  phasedUpdatePercentage: number | undefined;
  /** apt's identity of this version among entries with the same version string */
  aptHash: number;
}

/** Fields worth reading from a Packages paragraph; the rest is skipped while parsing. */
export const PACKAGES_FIELDS: ReadonlySet<string> = new Set([
  'package',
  'version',
  'architecture',
  'source',
  'filename',
  'size',
  'sha256',
  'multi-arch',
  'installed-size',
  'replaces',
  'depends',
  'pre-depends',
  'recommends',
  'breaks',
  'conflicts',
  'provides',
  'phased-update-percentage',
]);

const SOURCE_RE = /^(\S+)(?:\s*\(\s*([^)\s]+)\s*\))?$/;

/**
 * Source package and version of a Packages or status paragraph: `Source:` is absent when equal
 * to the binary's, `src` when only the name differs, `src (version)` for binNMUs.
 */
export function sourceOf(p: Paragraph, name: string, version: string): { source: string; sourceVersion: string } {
  const m = p['source'] ? SOURCE_RE.exec(p['source'].trim()) : null;
  return m ? { source: m[1]!, sourceVersion: m[2] ?? version } : { source: name, sourceVersion: version };
}

/** Typed entry, or undefined when the paragraph lacks what an installable package needs. */
export function toPackageEntry(p: Paragraph): PackageEntry | undefined {
  const name = p['package'];
  const version = p['version'];
  const architecture = p['architecture'];
  const filename = p['filename'];
  const sha256 = p['sha256'];
  const size = Number(p['size']);
  if (!name || !version || !architecture || !filename || !sha256 || !Number.isSafeInteger(size)) return undefined;
  // an entry apt could not parse either is skipped (later comparisons rely on valid versions)
  try {
    parseVersion(version);
  } catch {
    return undefined;
  }
  const { source, sourceVersion } = sourceOf(p, name, version);
  const phased = p['phased-update-percentage'];
  return {
    package: name,
    version,
    architecture,
    source,
    sourceVersion,
    filename,
    size,
    sha256: sha256.toLowerCase(),
    multiArch: p['multi-arch']?.toLowerCase(),
    depends: p['depends'],
    preDepends: p['pre-depends'],
    recommends: p['recommends'],
    breaks: p['breaks'],
    conflicts: p['conflicts'],
    provides: p['provides'],
    phasedUpdatePercentage: phased === undefined ? undefined : Number(phased),
    aptHash: aptVersionHashOf(p),
  };
}
