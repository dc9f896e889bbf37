// The security tracker's advisory lists (data/DSA/list, data/DLA/list): an entry is a header line
//   [23 Nov 2024] DSA-5800-1 openssl - security update
// followed by tab-indented lines: the issues it fixes ({CVE-... CVE-...}), one line per release
// ([bookworm] - openssl 3.0.15-1~deb12u1, or a <not-affected> / <unfixed> ... annotation
// instead of a version), and notes (NOTE: ..., ignored). One record per release line and issue
// (or one with no issue when the entry names none: regression updates).
import { fail } from '../../errors.js';
import {
  type AdvisoryParseResult,
  type AdvisoryRecord,
  type AdvisoryStatus,
  CVES_MAX,
  isCveId,
  isReleaseName,
  isSourceName,
  isVersion,
  RELEASES_MAX,
  skip,
  type SkipCounts,
  summaryOf,
} from './types.js';

export type AdvisoryListKind = 'dsa' | 'dla';

/** Longest line read; longer ones are skipped (the real lists stay under 4 KiB). */
export const LINE_MAX = 64 * 1024;

const HEADER = /^\[(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})\] (D[SL]A-\d{1,6}(?:-\d{1,3})?) (\S+)(?: - (.*))?$/;
const RELEASE_LINE = /^\s+\[([^\]\s]+)\] - (\S+)(?:\s+(.*))?$/;
const ISSUES_LINE = /^\s+\{([^}]*)\}\s*$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Annotations that say the release still has the flaw (no fixed version yet). */
const OPEN_NOTES = new Set(['unfixed', 'postponed', 'ignored', 'no-dsa']);

interface Entry {
  advisory: string;
  published: string | null;
  summary: string | null;
  cves: string[];
  releases: Array<{ release: string; source: string; status: AdvisoryStatus; fixedVersion: string | null }>;
  broken: boolean;
}

/** The records of a DSA or DLA list, one by one. */
export function* listRecords(text: string, kind: AdvisoryListKind, skipped: SkipCounts): Generator<AdvisoryRecord> {
  if (text.includes('\0')) fail('PARSE_FAILED', `the ${kind.toUpperCase()} list is not text (it holds NUL bytes)`);
  const prefix = `${kind.toUpperCase()}-`;
  let entry: Entry | undefined;
  // the lines of an entry whose header was skipped go with it
  let inSkipped = false;
  let headers = 0;
  let lines = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    lines++;
    if (line.length > LINE_MAX) {
      skip(skipped, 'too-long');
      continue;
    }
    if (!/^\s/.test(line)) {
      if (entry) yield* entryRecords(entry, kind, skipped);
      entry = header(line, prefix, skipped);
      if (entry) headers++;
      inSkipped = !entry;
      continue;
    }
    if (!entry) {
      if (!inSkipped) skip(skipped, 'orphan-line');
      continue;
    }
    annotation(line, entry, skipped);
  }
  if (entry) yield* entryRecords(entry, kind, skipped);
  if (headers === 0 && lines > 0)
    fail(
      'PARSE_FAILED',
      `no advisory in the ${kind.toUpperCase()} list (expected lines like "[23 Nov 2024] ${prefix}5800-1 openssl - security update")`,
    );
}

/** All records at once (small inputs, tests). */
export function parseAdvisoryList(text: string, kind: AdvisoryListKind): AdvisoryParseResult {
  const skipped: SkipCounts = {};
  return { records: [...listRecords(text, kind, skipped)], skipped };
}

function header(line: string, prefix: string, skipped: SkipCounts): Entry | undefined {
  const m = HEADER.exec(line);
  if (!m) return void skip(skipped, 'bad-header');
  const [, day, month, year, advisory, , desc] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (!advisory.startsWith(prefix)) return void skip(skipped, 'wrong-list');
  const mi = MONTHS.indexOf(month);
  const at = new Date(Date.UTC(Number(year), mi, Number(day)));
  const dateOk = mi >= 0 && at.getUTCDate() === Number(day) && at.getUTCMonth() === mi;
  if (!dateOk) skip(skipped, 'bad-date');
  return {
    advisory,
    published: dateOk ? at.toISOString() : null,
    summary: summaryOf(desc),
    cves: [],
    releases: [],
    broken: false,
  };
}

function annotation(line: string, entry: Entry, skipped: SkipCounts): void {
  const issues = ISSUES_LINE.exec(line);
  if (issues) {
    const ids = issues[1]!.split(/\s+/).filter((s) => s !== '');
    for (const id of ids) {
      if (!isCveId(id)) skip(skipped, 'bad-cve');
      else if (!entry.cves.includes(id)) entry.cves.push(id);
    }
    if (entry.cves.length > CVES_MAX) entry.broken = true;
    return;
  }
  const rel = RELEASE_LINE.exec(line);
  if (!rel) return; // NOTE:, TODO: and the like: for people
  const [, release, source, rest = ''] = rel as unknown as [string, string, string, string?];
  if (!isReleaseName(release)) return skip(skipped, 'bad-release');
  if (!isSourceName(source)) return skip(skipped, 'bad-source');
  const note = /^<([a-z-]+)>/.exec(rest.trim());
  if (note) {
    if (note[1] === 'not-affected')
      entry.releases.push({ release, source, status: 'not-affected', fixedVersion: null });
    else if (OPEN_NOTES.has(note[1]!)) entry.releases.push({ release, source, status: 'open', fixedVersion: null });
    else skip(skipped, 'bad-status');
    return;
  }
  const [version, ...more] = rest.trim().split(/\s+/);
  if (more.length > 0 || !isVersion(version)) return skip(skipped, 'bad-version');
  entry.releases.push({ release, source, status: 'fixed', fixedVersion: version });
  if (entry.releases.length > RELEASES_MAX) entry.broken = true;
}

function* entryRecords(entry: Entry, kind: AdvisoryListKind, skipped: SkipCounts): Generator<AdvisoryRecord> {
  const cves = entry.cves.length > 0 ? entry.cves : [null];
  if (entry.broken) return skip(skipped, 'too-many', entry.releases.length * cves.length);
  if (entry.releases.length === 0) return skip(skipped, 'no-release');
  for (const r of entry.releases)
    for (const cve of cves)
      yield {
        origin: kind,
        advisory: entry.advisory,
        cve,
        source: r.source,
        release: r.release,
        pro: false,
        fixedVersion: r.fixedVersion,
        status: r.status,
        urgency: 'unknown',
        published: entry.published,
        summary: entry.summary,
      };
}
