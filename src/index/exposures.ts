// Exposures, the pure part: which advisories an installed set is exposed to (source versions
// against the first fixed version, dpkg order), and where each fix stands for a machine, read from
// the server's outdated answers (its view, and behind the gate the same view read from upstream).
import type { AdvisoryRecord, AdvisoryUrgency } from './advisories/types.js';
import type { OutdatedEntry } from './outdated.js';
import { isInstalledState, type InstalledPackage } from './status.js';
import { compareVersions } from './version.js';

export type FixStatus =
  | 'upgradable'
  | 'kept-back'
  | 'held'
  | 'waiting-at-gate'
  | 'not-fixed'
  | 'not-available'
  /** the server cannot tell (no source of the machine goes through it, or its view is not indexed yet) */
  | 'unknown';

export const FIX_STATUSES: readonly FixStatus[] = [
  'upgradable',
  'kept-back',
  'held',
  'waiting-at-gate',
  'not-fixed',
  'not-available',
  'unknown',
];

/** Most urgent first (sorting and merging feeds that disagree). */
export const URGENCY_ORDER: readonly AdvisoryUrgency[] = [
  'critical',
  'high',
  'medium',
  'low',
  'unimportant',
  'unknown',
];
const RANKS = new Map<string, number>(URGENCY_ORDER.map((u, i) => [u, i]));
/** The rank in URGENCY_ORDER (-1: none); a lookup, as sorting a profile's exposures asks it some 40,000 times. */
export const urgencyRank = (u: AdvisoryUrgency): number => RANKS.get(u) ?? -1;

/** One issue of a source in a release, every feed's records merged. */
export interface Issue {
  cve: string;
  source: string;
  /** the first fixed version (the highest any feed names); null: open in the tracker */
  fixed: string | null;
  urgency: AdvisoryUrgency;
  /** DSA-…, DLA-…, USN-… naming it */
  advisories: string[];
}

/**
 * The issues of a source's records: per CVE, fixed when a feed names a fixed version (the highest
 * wins: a later advisory may fix what an earlier one did not), else open (open and undetermined
 * alike); not-affected records and records without a CVE say nothing about exposure.
 */
export function issuesOf(records: readonly AdvisoryRecord[]): Issue[] {
  const by = new Map<string, Issue>();
  for (const r of records) {
    if (r.cve === null || r.status === 'not-affected') continue;
    if (r.status === 'fixed' && r.fixedVersion === null) continue;
    let i = by.get(r.cve);
    if (!i) {
      i = { cve: r.cve, source: r.source, fixed: null, urgency: 'unknown', advisories: [] };
      by.set(r.cve, i);
    }
    if (r.fixedVersion !== null && (i.fixed === null || compareVersions(r.fixedVersion, i.fixed) > 0))
      i.fixed = r.fixedVersion;
    if (r.urgency !== 'unknown' && (i.urgency === 'unknown' || urgencyRank(r.urgency) < urgencyRank(i.urgency)))
      i.urgency = r.urgency;
    if (r.advisory !== null && !i.advisories.includes(r.advisory)) i.advisories.push(r.advisory);
  }
  for (const i of by.values()) i.advisories.sort();
  return [...by.values()];
}

/** A source as installed: its lowest installed source version and the binaries built from it (sorted). */
export interface InstalledSource {
  source: string;
  version: string;
  packages: string[];
}

export function installedSources(installed: readonly InstalledPackage[]): Map<string, InstalledSource> {
  const out = new Map<string, InstalledSource>();
  for (const p of installed) {
    if (!isInstalledState(p.state)) continue;
    const s = out.get(p.source);
    if (!s) out.set(p.source, { source: p.source, version: p.sourceVersion, packages: [p.package] });
    else {
      if (compareVersions(p.sourceVersion, s.version) < 0) s.version = p.sourceVersion;
      if (!s.packages.includes(p.package)) s.packages.push(p.package);
    }
  }
  for (const s of out.values()) s.packages.sort();
  return out;
}

/** Exposed: the issue is open, or the installed source version comes before the fixed one. */
export const isExposed = (issue: Issue, installedVersion: string): boolean =>
  issue.fixed === null || compareVersions(installedVersion, issue.fixed) < 0;

/** A machine's outdated entries by the source of their candidate. */
export type EntriesBySource = ReadonlyMap<string, readonly OutdatedEntry[]>;

export function bySource(entries: readonly OutdatedEntry[]): EntriesBySource {
  const out = new Map<string, OutdatedEntry[]>();
  for (const e of entries) {
    const l = out.get(e.source);
    if (l) l.push(e);
    else out.set(e.source, [e]);
  }
  return out;
}

/** What a machine's outdated answers say of a fixed issue's source. */
export interface FixAnswers {
  /** the machine's outdated entries (its own view: its stage behind the gate); null: unknown */
  entries: EntriesBySource | null;
  /** behind the gate, the same view read from upstream; undefined when not behind the gate, null when unknown */
  upstream?: EntriesBySource | null;
}

/** The entries of a source whose candidate reaches `fixed`. */
const reaching = (entries: EntriesBySource, source: string, fixed: string) =>
  (entries.get(source) ?? []).filter((e) => compareVersions(e.sourceVersion, fixed) >= 0);

/**
 * Where a fix stands for a machine: open in the tracker; offered by its view (upgradable, or what
 * apt-get upgrade does instead: held, kept back; every binary of the source counts, the worst wins);
 * only upstream of its stage (waiting at the gate); nowhere it reads (not available).
 */
export function fixStatus(issue: Issue, a: FixAnswers): { status: FixStatus; candidate: string | null } {
  if (issue.fixed === null) return { status: 'not-fixed', candidate: null };
  if (a.entries === null) return { status: 'unknown', candidate: null };
  const mine = reaching(a.entries, issue.source, issue.fixed);
  if (mine.length) {
    const candidate = mine[0]!.sourceVersion;
    if (mine.some((e) => e.action === 'held')) return { status: 'held', candidate };
    if (mine.some((e) => e.action === 'kept-back')) return { status: 'kept-back', candidate };
    return { status: 'upgradable', candidate };
  }
  if (a.upstream === null) return { status: 'unknown', candidate: null };
  if (a.upstream) {
    const up = reaching(a.upstream, issue.source, issue.fixed);
    if (up.length) return { status: 'waiting-at-gate', candidate: up[0]!.sourceVersion };
  }
  return { status: 'not-available', candidate: null };
}

/** Most urgent first, then by CVE and source. */
export function byUrgency<T extends { urgency: AdvisoryUrgency; cve: string; source: string }>(a: T, b: T): number {
  return (
    urgencyRank(a.urgency) - urgencyRank(b.urgency) ||
    (a.cve < b.cve ? -1 : a.cve > b.cve ? 1 : 0) ||
    (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)
  );
}
