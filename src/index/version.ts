// Debian version comparison exactly as dpkg does it (lib/dpkg/version.c, parsehelp.c):
// epoch before the first ':', revision after the last '-', verrevcmp on upstream and revision.
import { AptgateError } from '../errors.js';

export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

const INT_MAX = 2147483647;

function invalid(version: string, reason: string): never {
  throw new AptgateError('VERSION_INVALID', `invalid version "${version.slice(0, 200)}": ${reason}`, {
    version: version.slice(0, 200),
    reason,
  });
}

/**
 * Parses a version as dpkg's parseversion() does. Hard errors (empty, embedded blanks, a bad
 * epoch, an empty revision, nothing after the colon) throw VERSION_INVALID; what dpkg only warns
 * about (an upstream part not starting with a digit, unusual characters) is accepted, as dpkg
 * accepts it when comparing.
 */
export function parseVersion(version: string): DebianVersion {
  const s = version.trim();
  if (s === '') invalid(version, 'version string is empty');
  if (/\s/.test(s)) invalid(version, 'version string has embedded spaces');
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon !== -1) {
    const e = s.slice(0, colon);
    if (e === '') invalid(version, 'epoch in version is empty');
    if (!/^[0-9]+$/.test(e)) invalid(version, 'epoch in version is not number');
    const n = Number(e);
    if (n > INT_MAX) invalid(version, 'epoch in version is too big');
    epoch = n;
    rest = s.slice(colon + 1);
    if (rest === '') invalid(version, 'nothing after colon in version number');
  }
  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen !== -1) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') invalid(version, 'revision number is empty');
  }
  if (upstream === '') invalid(version, 'version number is empty');
  return { epoch, upstream, revision };
}

const VALID_UPSTREAM = /^[0-9][A-Za-z0-9.+~:-]*$/;
const VALID_REVISION = /^[A-Za-z0-9.+~]+$/;

/**
 * Strict Debian Policy syntax (5.6.12), for versions that come from outside (agents, command
 * lines) and may be handed to apt: no characters dpkg would only warn about.
 */
export function isStrictVersion(version: string): boolean {
  if (version.length > 256) return false;
  let v: DebianVersion;
  try {
    v = parseVersion(version);
  } catch {
    return false;
  }
  if (version !== version.trim()) return false;
  if (!VALID_UPSTREAM.test(v.upstream)) return false;
  if (version.indexOf(':') === -1 && v.upstream.includes(':')) return false;
  return v.revision === '' || VALID_REVISION.test(v.revision);
}

// dpkg's order(): '~' before everything (even the end), then the end / a digit, then letters,
// then every other character.
function order(c: number): number {
  if (c >= 48 && c <= 57) return 0;
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return c;
  if (c === 126) return -1;
  if (c) return c + 256;
  return 0;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** dpkg's verrevcmp(): alternating non-digit and digit runs. */
export function verrevcmp(a: string, b: string): number {
  return verrevcmpRange(a, 0, a.length, b, 0, b.length);
}

/** verrevcmp over a[i, la) and b[j, lb), without slicing. */
function verrevcmpRange(a: string, i: number, la: number, b: string, j: number, lb: number): number {
  while (i < la || j < lb) {
    let firstDiff = 0;
    while ((i < la && !isDigit(a.charCodeAt(i))) || (j < lb && !isDigit(b.charCodeAt(j)))) {
      const ac = i < la ? order(a.charCodeAt(i)) : 0;
      const bc = j < lb ? order(b.charCodeAt(j)) : 0;
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (i < la && a.charCodeAt(i) === 48) i++;
    while (j < lb && b.charCodeAt(j) === 48) j++;
    while (i < la && isDigit(a.charCodeAt(i)) && j < lb && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < la && isDigit(a.charCodeAt(i))) return 1;
    if (j < lb && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

// Parsed versions are memoised: the same few thousand strings are compared over and over.
const memo = new Map<string, DebianVersion>();
const MEMO_MAX = 200_000;

function parsed(v: string): DebianVersion {
  let p = memo.get(v);
  if (p === undefined) {
    p = parseVersion(v);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(v, p);
  }
  return p;
}

function epochAt(s: string, colon: number): number {
  let e = 0;
  for (let i = 0; i < colon; i++) e = e * 10 + (s.charCodeAt(i) - 48);
  return e;
}

/**
 * The same order as compareVersions for versions already known to be valid (index and status
 * entries are checked when parsed), without allocating: the hot path of candidate selection and
 * dependency checks.
 */
export function compareValid(a: string, b: string): number {
  if (a === b) return 0;
  const ca = a.indexOf(':');
  const cb = b.indexOf(':');
  const ea = ca === -1 ? 0 : epochAt(a, ca);
  const eb = cb === -1 ? 0 : epochAt(b, cb);
  if (ea !== eb) return ea > eb ? 1 : -1;
  const ua = ca + 1;
  const ub = cb + 1;
  let ha = a.lastIndexOf('-');
  let hb = b.lastIndexOf('-');
  if (ha < ua) ha = -1;
  if (hb < ub) hb = -1;
  const r = verrevcmpRange(a, ua, ha === -1 ? a.length : ha, b, ub, hb === -1 ? b.length : hb);
  if (r) return r > 0 ? 1 : -1;
  const s = verrevcmpRange(a, ha === -1 ? a.length : ha + 1, a.length, b, hb === -1 ? b.length : hb + 1, b.length);
  return s > 0 ? 1 : s < 0 ? -1 : 0;
}

/** <0, 0, >0 as dpkg orders the two versions; throws VERSION_INVALID for an unparsable one. */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const x = parsed(a);
  const y = parsed(b);
  if (x.epoch !== y.epoch) return x.epoch > y.epoch ? 1 : -1;
  const r = verrevcmp(x.upstream, y.upstream);
  if (r) return r > 0 ? 1 : -1;
  const s = verrevcmp(x.revision, y.revision);
  return s > 0 ? 1 : s < 0 ? -1 : 0;
}

export type VersionOp =
  | 'lt'
  | 'le'
  | 'eq'
  | 'ne'
  | 'ge'
  | 'gt'
  | '<<'
  | '<='
  | '='
  | '>='
  | '>>'
  | '<'
  | '>'
  | 'lt-nl'
  | 'le-nl'
  | 'ge-nl'
  | 'gt-nl';

const OPS = new Set<string>([
  'lt',
  'le',
  'eq',
  'ne',
  'ge',
  'gt',
  '<<',
  '<=',
  '=',
  '>=',
  '>>',
  '<',
  '>',
  'lt-nl',
  'le-nl',
  'ge-nl',
  'gt-nl',
]);

export function isVersionOp(op: string): op is VersionOp {
  return OPS.has(op);
}

/**
 * `dpkg --compare-versions a op b`. An empty version is smaller than every version for the plain
 * operators and greater for the `-nl` ones; `<` and `>` mean `<=` and `>=` (obsolete, as dpkg).
 */
export function satisfiesOp(a: string, op: VersionOp, b: string): boolean {
  let r: number;
  const ea = a.trim() === '';
  const eb = b.trim() === '';
  if (ea || eb) {
    const nl = op.endsWith('-nl');
    r = ea && eb ? 0 : ea ? (nl ? 1 : -1) : nl ? -1 : 1;
  } else {
    r = compareVersions(a, b);
  }
  switch (op) {
    case 'lt':
    case 'lt-nl':
    case '<<':
      return r < 0;
    case 'le':
    case 'le-nl':
    case '<=':
    case '<':
      return r <= 0;
    case 'eq':
    case '=':
      return r === 0;
    case 'ne':
      return r !== 0;
    case 'ge':
    case 'ge-nl':
    case '>=':
    case '>':
      return r >= 0;
    case 'gt':
    case 'gt-nl':
    case '>>':
      return r > 0;
  }
}
