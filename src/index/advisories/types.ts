// The one shape every advisory feed is read into (the Debian security tracker's JSON, the DSA and
// DLA lists, Ubuntu's notices as OSV records), and the checks the parsers share. Feeds are hostile
// input like any upstream file: a record that fails a check is skipped and counted by reason, so
// that one bad entry never costs the rest of the feed.
import { isStrictVersion } from '../version.js';

export type AdvisoryOrigin = 'debian-tracker' | 'dsa' | 'dla' | 'usn';
export type AdvisoryStatus = 'fixed' | 'open' | 'not-affected' | 'undetermined';
export type AdvisoryUrgency = 'unimportant' | 'low' | 'medium' | 'high' | 'critical' | 'unknown';

export interface AdvisoryRecord {
  origin: AdvisoryOrigin;
  /** DSA-5800-1, DLA-3990-1, USN-7000-1; null for the tracker's per-CVE entries */
  advisory: string | null;
  /** CVE-2024-1234 or the tracker's TEMP-0000000-ABCDEF; null for an advisory that names none */
  cve: string | null;
  /** the source package */
  source: string;
  /** the release's codename (bookworm, jammy); an Ubuntu version without a known codename stays a number */
  release: string;
  /** Ubuntu Pro (ESM) only: the fix is published for Pro subscribers alone */
  pro: boolean;
  /** the first fixed version; null when there is none (yet) */
  fixedVersion: string | null;
  status: AdvisoryStatus;
  urgency: AdvisoryUrgency;
  /** ISO 8601 (UTC) */
  published: string | null;
  summary: string | null;
}

/** Why records were skipped: reason → how many. */
export type SkipCounts = Record<string, number>;

export interface AdvisoryParseResult {
  records: AdvisoryRecord[];
  skipped: SkipCounts;
}

export const URGENCIES: readonly AdvisoryUrgency[] = ['unimportant', 'low', 'medium', 'high', 'critical', 'unknown'];
export const STATUSES: readonly AdvisoryStatus[] = ['fixed', 'open', 'not-affected', 'undetermined'];

/** Longest summary kept; longer ones are cut (a summary is for people, not for matching). */
export const SUMMARY_MAX = 2000;
/** CVEs one advisory may name (the largest real DSAs name a few hundred). */
export const CVES_MAX = 5000;
/** Releases one entry may name. */
export const RELEASES_MAX = 200;

const SOURCE = /^[a-z0-9][a-z0-9+.-]{0,99}$/;
const CVE = /^(CVE-\d{4}-\d{4,8}|TEMP-\d{7}-[0-9A-F]{6})$/;
const RELEASE = /^[a-z0-9][a-z0-9.-]{0,39}$/;

export function skip(counts: SkipCounts, reason: string, n = 1): void {
  counts[reason] = (counts[reason] ?? 0) + n;
}

export const isSourceName = (s: unknown): s is string => typeof s === 'string' && SOURCE.test(s);
export const isCveId = (s: unknown): s is string => typeof s === 'string' && CVE.test(s);
export const isReleaseName = (s: unknown): s is string => typeof s === 'string' && RELEASE.test(s);
export const isVersion = (s: unknown): s is string => typeof s === 'string' && isStrictVersion(s);

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A summary as stored: trimmed, cut to SUMMARY_MAX, null when empty or not text. */
export function summaryOf(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = (v.length > SUMMARY_MAX * 2 ? v.slice(0, SUMMARY_MAX * 2) : v).trim();
  if (s === '') return null;
  return s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s;
}

/** Debian's urgencies and Ubuntu's priorities, one scale ("medium**": urgency set without a tracker bug). */
export function urgencyOf(v: string): AdvisoryUrgency {
  const u = v.replace(/\*+$/, '').trim().toLowerCase();
  switch (u) {
    case 'unimportant':
    case 'negligible':
      return 'unimportant';
    case 'low':
    case 'medium':
    case 'high':
    case 'critical':
      return u;
    default:
      return 'unknown';
  }
}
