// Release / InRelease content (after signature verification): the fields apt reads and the
// SHA256 list of the files the suite publishes.
import { AptgateError, fail } from '../errors.js';
import { splitClearsigned } from './clearsigned.js';
import { parseParagraphs } from './deb822.js';

export interface ReleaseFile {
  /** path relative to dists/<suite>/ */
  path: string;
  size: number;
  sha256: string;
}

export interface Release {
  origin: string | undefined;
  label: string | undefined;
  suite: string | undefined;
  codename: string | undefined;
  version: string | undefined;
  date: Date;
  validUntil: Date | undefined;
  acquireByHash: boolean;
  notAutomatic: boolean;
  butAutomaticUpgrades: boolean;
  architectures: string[];
  components: string[];
  files: Map<string, ReleaseFile>;
  /** sha256 → the files with that content */
  byHash: Map<string, ReleaseFile[]>;
}

function parseDate(value: string | undefined, field: string, required: boolean): Date | undefined {
  if (value === undefined || value === '') {
    if (required) fail('RELEASE_INVALID', `Release has no ${field} field`, { field });
    return undefined;
  }
  const d = new Date(value.replace(/\s+UTC$/i, ' GMT'));
  if (Number.isNaN(d.getTime())) fail('RELEASE_INVALID', `Release field ${field} is not a date: "${value}"`, { field });
  return d;
}

/** A Release yes/no field (NotAutomatic, ButAutomaticUpgrades, Acquire-By-Hash). */
export function isYes(v: string | undefined): boolean {
  return v !== undefined && /^yes$/i.test(v.trim());
}

export function parseRelease(text: string | Buffer): Release {
  const paragraphs = parseParagraphs(typeof text === 'string' ? text : text.toString('utf8'));
  const p = paragraphs[0];
  if (!p) throw new AptgateError('RELEASE_INVALID', 'Release is empty');
  const files = new Map<string, ReleaseFile>();
  const byHash = new Map<string, ReleaseFile[]>();
  const list = p['sha256'];
  if (list === undefined) fail('RELEASE_INVALID', 'Release has no SHA256 list');
  for (const line of list.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const m = /^([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)$/.exec(t);
    if (!m) fail('RELEASE_INVALID', `malformed SHA256 line in Release: "${t.slice(0, 120)}"`);
    const f: ReleaseFile = { sha256: m[1]!.toLowerCase(), size: Number(m[2]), path: m[3]! };
    if (f.path.split('/').some((s) => s === '..' || s === '.' || s === ''))
      fail('RELEASE_INVALID', `Release names an unsafe path "${f.path}"`);
    files.set(f.path, f);
    const same = byHash.get(f.sha256);
    if (same) same.push(f);
    else byHash.set(f.sha256, [f]);
  }
  return {
    origin: p['origin'],
    label: p['label'],
    suite: p['suite'],
    codename: p['codename'],
    version: p['version'],
    date: parseDate(p['date'], 'Date', true)!,
    validUntil: parseDate(p['valid-until'], 'Valid-Until', false),
    acquireByHash: isYes(p['acquire-by-hash']),
    notAutomatic: isYes(p['notautomatic']),
    butAutomaticUpgrades: isYes(p['butautomaticupgrades']),
    architectures: (p['architectures'] ?? '').split(/\s+/).filter(Boolean),
    components: (p['components'] ?? '').split(/\s+/).filter(Boolean),
    files,
    byHash,
  };
}

export interface PackagesTarget {
  component: string;
  architecture: string;
  compression: 'xz' | 'gz' | 'none' | 'other';
}

/** Recognises `<component>/binary-<arch>/Packages[.ext]` (relative to dists/<suite>/). */
export function packagesTarget(rel: string): PackagesTarget | undefined {
  const m = /^(.+)\/binary-([^/]+)\/Packages(?:\.(xz|gz|bz2|lzma|lz4|zst))?$/.exec(rel);
  if (!m) return undefined;
  const ext = m[3];
  return {
    component: m[1]!,
    architecture: m[2]!,
    compression: ext === undefined ? 'none' : ext === 'xz' || ext === 'gz' ? ext : 'other',
  };
}

/** The by-hash location of a file listed in a Release: dists/<suite>/<dir>/by-hash/SHA256/<hex>. */
export function byHashRel(rel: string, sha256: string): string {
  const slash = rel.lastIndexOf('/');
  return `${slash === -1 ? '' : rel.slice(0, slash + 1)}by-hash/SHA256/${sha256}`;
}

/**
 * The text of a clearsigned document that was verified when it was stored (the proxy never
 * stores one gpgv did not accept), split exactly as apt splits it (./clearsigned.ts).
 */
export function clearsignedText(doc: Buffer | string): string {
  return splitClearsigned(typeof doc === 'string' ? Buffer.from(doc, 'utf8') : doc).text.toString('utf8');
}
