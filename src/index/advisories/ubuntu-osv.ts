// Ubuntu's security notices as OSV records (canonical/ubuntu-security-notices, osv/usn/USN-*.json):
// { id, summary, published, upstream: ["UBUNTU-CVE-2024-45490", ...], related, severity,
//   affected: [{ package: { ecosystem: "Ubuntu:22.04:LTS" | "Ubuntu:Pro:16.04:LTS", name: source },
//   ranges: [{ type: "ECOSYSTEM", events: [{ introduced }, { fixed }] }], database_specific:
//   { cves_map: { cves: [{ id, severity: [{ type: "Ubuntu", score: "medium" }] }] } } }] }.
// One record per affected source package, release and CVE. Other streams than the release and
// its Pro updates (FIPS, Real-time kernels ...) are skipped: their fixes are not the release's.
import {
  type AdvisoryRecord,
  type AdvisoryUrgency,
  CVES_MAX,
  isCveId,
  isObject,
  isSourceName,
  isVersion,
  RELEASES_MAX,
  skip,
  type SkipCounts,
  summaryOf,
  urgencyOf,
} from './types.js';

/** Ubuntu's version numbers → codenames; a number not listed stays the release's name. */
export const UBUNTU_CODENAMES: Readonly<Record<string, string>> = {
  '12.04': 'precise',
  '14.04': 'trusty',
  '16.04': 'xenial',
  '16.10': 'yakkety',
  '17.04': 'zesty',
  '17.10': 'artful',
  '18.04': 'bionic',
  '18.10': 'cosmic',
  '19.04': 'disco',
  '19.10': 'eoan',
  '20.04': 'focal',
  '20.10': 'groovy',
  '21.04': 'hirsute',
  '21.10': 'impish',
  '22.04': 'jammy',
  '22.10': 'kinetic',
  '23.04': 'lunar',
  '23.10': 'mantic',
  '24.04': 'noble',
  '24.10': 'oracular',
  '25.04': 'plucky',
  '25.10': 'questing',
};

const NOTICE_ID = /^USN-\d{1,6}-\d{1,3}$/;
const UBUNTU_VERSION = /^\d{2}\.\d{2}$/;

/** The release (codename) and whether it is the Pro stream, or why the ecosystem is not one we read. */
export function ubuntuRelease(ecosystem: string): { release: string; pro: boolean } | string {
  const parts = ecosystem.split(':');
  if (parts[0] !== 'Ubuntu' || parts.length > 6) return 'bad-ecosystem';
  const pro = parts[1] === 'Pro';
  const rest = parts.slice(pro ? 2 : 1);
  const version = rest[0] ?? '';
  // Ubuntu:Pro:FIPS-updates:22.04:LTS and the like: a stream of its own
  if (!UBUNTU_VERSION.test(version)) return /^\d/.test(version) || version === '' ? 'bad-ecosystem' : 'other-stream';
  if (rest.length > 2 || (rest.length === 2 && rest[1] !== 'LTS')) return 'bad-ecosystem';
  return { release: UBUNTU_CODENAMES[version] ?? version, pro };
}

/** The records of one OSV notice; a notice that is not one is skipped whole (counted), never thrown. */
export function usnRecords(osv: unknown, skipped: SkipCounts): AdvisoryRecord[] {
  if (!isObject(osv)) return (skip(skipped, 'bad-type'), []);
  const id = osv.id;
  if (typeof id !== 'string' || !NOTICE_ID.test(id)) return (skip(skipped, 'bad-advisory'), []);
  if (!Array.isArray(osv.affected) || osv.affected.length > RELEASES_MAX * 50) return (skip(skipped, 'bad-type'), []);
  const cves = noticeCves(osv, skipped);
  if (!cves) return (skip(skipped, 'too-many'), []);
  const published = isoDate(osv.published);
  const summary = summaryOf(osv.summary);
  const fallback =
    ubuntuSeverity(osv.severity) ??
    ubuntuSeverity(isObject(osv.database_specific) ? osv.database_specific.priority : undefined);
  const out: AdvisoryRecord[] = [];
  for (const a of osv.affected) {
    if (!isObject(a) || !isObject(a.package)) {
      skip(skipped, 'bad-type');
      continue;
    }
    const { ecosystem, name } = a.package;
    if (typeof ecosystem !== 'string' || ecosystem.length > 100) {
      skip(skipped, 'bad-ecosystem');
      continue;
    }
    const rel = ubuntuRelease(ecosystem);
    if (typeof rel === 'string') {
      skip(skipped, rel);
      continue;
    }
    if (!isSourceName(name)) {
      skip(skipped, 'bad-source');
      continue;
    }
    const fixed = fixedOf(a.ranges);
    if (fixed === undefined) {
      skip(skipped, 'bad-version');
      continue;
    }
    const perCve = cveSeverities(a.database_specific);
    for (const cve of cves.length > 0 ? cves : [null])
      out.push({
        origin: 'usn',
        advisory: id,
        cve,
        source: name,
        release: rel.release,
        pro: rel.pro,
        fixedVersion: fixed,
        status: fixed === null ? 'open' : 'fixed',
        urgency: (cve === null ? undefined : perCve.get(cve)) ?? fallback ?? 'unknown',
        published,
        summary,
      });
  }
  return out;
}

/** The CVEs a notice fixes (upstream, then related; "UBUNTU-CVE-..." is the CVE), or undefined past CVES_MAX. */
function noticeCves(osv: Record<string, unknown>, skipped: SkipCounts): string[] | undefined {
  const out: string[] = [];
  for (const field of ['upstream', 'related', 'aliases']) {
    const list = osv[field];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length > CVES_MAX) return undefined;
    for (const v of list) {
      const id = typeof v === 'string' && v.startsWith('UBUNTU-') ? v.slice(7) : v;
      if (isCveId(id) && id.startsWith('CVE-')) {
        if (!out.includes(id)) out.push(id);
      } else if (field === 'upstream') skip(skipped, 'bad-cve');
    }
  }
  return out;
}

/**
 * The first fixed version of the ECOSYSTEM ranges: a version, null when no range says fixed, or
 * undefined when what is there is not a version.
 */
function fixedOf(ranges: unknown): string | null | undefined {
  if (!Array.isArray(ranges) || ranges.length > 100) return undefined;
  for (const r of ranges) {
    if (!isObject(r) || r.type !== 'ECOSYSTEM' || !Array.isArray(r.events)) continue;
    for (const e of r.events.slice(0, 100)) {
      if (!isObject(e) || e.fixed === undefined) continue;
      return isVersion(e.fixed) ? e.fixed : undefined;
    }
  }
  return null;
}

/** [{ type: "Ubuntu", score: "medium" }, ...] (or a bare priority string) → the Ubuntu priority. */
function ubuntuSeverity(v: unknown): AdvisoryUrgency | undefined {
  if (typeof v === 'string') return v.length <= 40 ? urgencyOf(v) : undefined;
  if (!Array.isArray(v)) return undefined;
  for (const s of v.slice(0, 20))
    if (isObject(s) && s.type === 'Ubuntu' && typeof s.score === 'string' && s.score.length <= 40)
      return urgencyOf(s.score);
  return undefined;
}

/** database_specific.cves_map.cves[] → CVE → its Ubuntu priority. */
function cveSeverities(ds: unknown): Map<string, AdvisoryUrgency> {
  const out = new Map<string, AdvisoryUrgency>();
  const list = isObject(ds) && isObject(ds.cves_map) ? ds.cves_map.cves : undefined;
  if (!Array.isArray(list)) return out;
  for (const c of list.slice(0, CVES_MAX)) {
    if (!isObject(c) || !isCveId(c.id)) continue;
    const u = ubuntuSeverity(c.severity);
    if (u) out.set(c.id, u);
  }
  return out;
}

function isoDate(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 40) return null;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}
