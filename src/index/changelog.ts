// Debian changelogs (debian/changelog, shipped as /usr/share/doc/<pkg>/changelog.Debian.gz):
// the entries of Debian Policy §4.4 and the references they name (CVE ids, Debian bugs closed,
// Launchpad bugs), and which of them lie between an installed and a candidate version.
// The text is hostile input: sizes are capped and anything unexpected ends the parse with a
// reason instead of an exception. Parsing is incremental (`ChangelogParser.step`) so the
// process boundary can cut a long changelog into slices of the event loop.
import { AptgateError } from '../errors.js';
import { compareVersions, parseVersion } from './version.js';

export interface ChangelogEntry {
  source: string;
  version: string;
  distributions: string[];
  /** lower-cased; null when the header names none */
  urgency: string | null;
  /** `binary-only=yes`: a binNMU's entry (changelog.Debian.<arch>.gz) */
  binaryOnly: boolean;
  /** the trailer's date as ISO 8601 UTC; null without a trailer or with an unreadable date */
  date: string | null;
  /** unique, upper-cased, in order of appearance */
  cves: string[];
  /** Debian bugs closed (dpkg's Closes: rule), unique, ascending */
  closes: number[];
  /** Launchpad bugs (`LP: #123, #456`), unique, ascending */
  launchpad: number[];
  /** 1-based line of the header */
  line: number;
}

/**
 * How the parse ended: `complete` (end of text), `footer` (editor variables), `trimmed`
 * (dh_installchangelogs' "Older entries have been removed" note), `old-format` (entries in the
 * pre-policy format, kept unparsed as dpkg does), `garbage` (a line that fits nowhere), `limit`
 * (a size or count cap).
 */
export type ChangelogEnd = 'complete' | 'footer' | 'trimmed' | 'old-format' | 'garbage' | 'limit';

export interface ParsedChangelog {
  entries: ChangelogEntry[];
  end: ChangelogEnd;
  /** where and why the parse stopped early (every end but `complete`) */
  stop?: { line: number; reason: string };
}

/** Text beyond this many characters is not read (the parse ends with `limit`). */
export const MAX_CHANGELOG_CHARS = 4 * 1024 * 1024;
/** The full glibc changelog has about 1,500 entries; more than this is not a changelog. */
export const MAX_CHANGELOG_ENTRIES = 10_000;
/** A longer line ends the parse (real lines are under 200 characters). */
export const MAX_LINE_CHARS = 16 * 1024;
/**
 * The change lines of one entry; beyond this the entry ends the parse. An entry's references are
 * found in one go when it closes (a Closes: may wrap), so this bounds that step: 256 KiB of
 * nothing but references take about 20 ms. The longest real entries are tens of KiB.
 */
export const MAX_ENTRY_CHARS = 256 * 1024;
/** References kept per kind and entry (the rest are dropped; the parse ends with `limit`). */
export const MAX_REFS_PER_ENTRY = 4096;
/** Characters one step reads or scans at most (besides the one entry it may close): a step stays short. */
const STEP_CHARS = 128 * 1024;

// Dpkg::Changelog::Debian and Dpkg::Changelog::Entry::Debian, lightly bounded
// (no lazy group before an optional tail: those backtrack quadratically on a long hostile line)
const HEADER = /^(\w[-+0-9a-z.]*) \(([^() \t]+)\)((?:\s+[-+0-9a-z.]+)+);(.*)$/i;
const TRAILER = /^ -- ([^<]*)<([^>]*)>(\s+)(.*)$/;
const CLOSES = /closes:\s*(?:bug)?#?\s?\d+(?:,\s*(?:bug)?#?\s?\d+)*/gi;
const LAUNCHPAD = /lp:\s+#\d+(?:,\s*#\d+)*/gi;
const CVE = /\bCVE-(\d{4})-(\d{4,12})\b/gi;
const FOOTER = /^(?:;;\s*)?(?:Local variables:|vim?:)/i;
const TRIMMED = /older entries have been removed/i;
// the first line of the old format, after which dpkg keeps the rest verbatim (Dpkg::Changelog::Debian)
const OLD_FORMAT = [
  /^(?:\w+\s+\w+\s+\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}\s+[\w\s]*\d{4})\s+.*\s+[<(].*[)>]/,
  /^(?:\w+\s+\w+\s+\d{1,2},?\s*\d{4})\s+.*\s+[<(].*[)>]/,
  /^(?:\w[-+0-9a-z.]*) \([^() \t]+\)\s+[-+0-9a-z.]+;?/i,
  /^(?:[\w.+-]+)[- ]\S+ Debian \S+/i,
  /^Changes from version (?:.*) to (?:.*):/i,
  /^Changes for [\w.+-]+-[\w.+-]+:?\s*$/i,
  /^Old Changelog:\s*$/i,
  /^(?:\d+:)?\w[\w.+~-]*:?\s*$/,
];
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const RFC2822 =
  /^(?:[A-Za-z]{3},\s+)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+([+-]\d{4}|UT|UTC|GMT|Z)$/;

/** The trailer's date (RFC 2822, as dpkg writes it) as ISO 8601 UTC, or null. */
export function changelogDate(text: string): string | null {
  const m = RFC2822.exec(text.trim());
  if (!m) return null;
  const [day, month, year, hour, minute, second] = [m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6] ?? '0'].map((s, i) =>
    i === 1 ? MONTHS.indexOf(s.toLowerCase()) : Number(s),
  ) as [number, number, number, number, number, number];
  if (month < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const zone = m[7]!;
  const offset = /^[+-]/.test(zone)
    ? (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)))
    : 0;
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  // a day the month does not have (31 Feb) rolls over in Date.UTC: refuse it instead
  if (new Date(utc).getUTCDate() !== day) return null;
  return new Date(utc - offset * 60_000).toISOString();
}

function numbersIn(matchText: string, into: Set<number>): void {
  for (const d of matchText.match(/\d+/g) ?? []) {
    // bug numbers are int32 in debbugs and Launchpad; longer digit runs are not bug numbers
    if (d.length <= 10 && Number(d) <= 2147483647) into.add(Number(d));
  }
}

interface Refs {
  cves: string[];
  closes: number[];
  launchpad: number[];
  capped: boolean;
}

/** The references one entry's change text names (dpkg's rules: the whole text, so a Closes: may wrap). */
export function referencesIn(text: string): Refs {
  const cves = new Set<string>();
  const closes = new Set<number>();
  const launchpad = new Set<number>();
  for (const m of text.matchAll(CLOSES)) numbersIn(m[0].slice(7), closes);
  for (const m of text.matchAll(LAUNCHPAD)) numbersIn(m[0].slice(3), launchpad);
  for (const m of text.matchAll(CVE)) {
    cves.add(`CVE-${m[1]}-${m[2]}`);
    if (cves.size > MAX_REFS_PER_ENTRY) break;
  }
  const capped =
    cves.size > MAX_REFS_PER_ENTRY || closes.size > MAX_REFS_PER_ENTRY || launchpad.size > MAX_REFS_PER_ENTRY;
  const num = (s: Set<number>) => [...s].sort((a, b) => a - b).slice(0, MAX_REFS_PER_ENTRY);
  return { cves: [...cves].slice(0, MAX_REFS_PER_ENTRY), closes: num(closes), launchpad: num(launchpad), capped };
}

function headerFields(rest: string): { urgency: string | null; binaryOnly: boolean } {
  let urgency: string | null = null;
  let binaryOnly = false;
  for (const part of rest.split(',')) {
    const kv = /^\s*([-0-9a-z]+)\s*=\s*(\S*)/i.exec(part);
    if (!kv) continue;
    const key = kv[1]!.toLowerCase();
    // "urgency=high (security fix)": dpkg keeps the word before any comment
    if (key === 'urgency') urgency = kv[2]!.toLowerCase() || null;
    if (key === 'binary-only') binaryOnly = kv[2]!.toLowerCase() === 'yes';
  }
  return { urgency, binaryOnly };
}

function validVersion(v: string): boolean {
  try {
    parseVersion(v);
    return true;
  } catch (e) {
    if (e instanceof AptgateError) return false;
    throw e;
  }
}

interface Open {
  entry: Omit<ChangelogEntry, 'cves' | 'closes' | 'launchpad' | 'date'>;
  text: string[];
  chars: number;
}

/**
 * A parse that can be run in steps: `step(n)` reads at most n lines and says whether the parse is
 * finished; `result()` then holds the entries. Never throws on the text.
 */
export class ChangelogParser {
  private readonly text: string;
  private pos = 0;
  private lineNo = 0;
  private open: Open | null = null;
  private readonly entries: ChangelogEntry[] = [];
  private finished: ParsedChangelog | null = null;
  private readonly cut: boolean;
  /** characters read and scanned in the current step */
  private work = 0;

  constructor(text: string) {
    this.cut = text.length > MAX_CHANGELOG_CHARS;
    this.text = this.cut ? text.slice(0, text.lastIndexOf('\n', MAX_CHANGELOG_CHARS) + 1) : text;
  }

  /** Reads up to `maxLines` lines (fewer when they are long); true once the parse is finished. */
  step(maxLines = 2000): boolean {
    this.work = 0;
    for (let n = 0; n < maxLines && !this.finished && this.work < STEP_CHARS; n++) this.line();
    return this.finished !== null;
  }

  result(): ParsedChangelog {
    while (!this.step()) {
      /* run to the end */
    }
    return this.finished!;
  }

  private end(end: ChangelogEnd, reason?: string): void {
    if (this.finished) return;
    this.close(null);
    if (this.finished) return; // closing the entry hit a cap: that is the end to report
    const result: ParsedChangelog = { entries: this.entries, end };
    if (reason !== undefined) result.stop = { line: this.lineNo, reason };
    this.finished = result;
  }

  private close(date: string | null): void {
    const o = this.open;
    if (!o) return;
    this.open = null;
    const text = o.text.join('\n');
    this.work += text.length;
    const refs = referencesIn(text);
    this.entries.push({ ...o.entry, date, cves: refs.cves, closes: refs.closes, launchpad: refs.launchpad });
    if (refs.capped) this.end('limit', `more than ${MAX_REFS_PER_ENTRY} references of one kind in an entry`);
  }

  private line(): void {
    if (this.pos >= this.text.length) {
      if (this.cut) this.end('limit', `changelog longer than ${MAX_CHANGELOG_CHARS} characters`);
      else this.end('complete');
      return;
    }
    let nl = this.text.indexOf('\n', this.pos);
    if (nl === -1) nl = this.text.length;
    this.lineNo++;
    if (nl - this.pos > MAX_LINE_CHARS) {
      this.end('garbage', `line longer than ${MAX_LINE_CHARS} characters`);
      return;
    }
    this.work += nl - this.pos;
    let line = this.text.slice(this.pos, nl);
    this.pos = nl + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.take(line);
  }

  private take(line: string): void {
    const header = HEADER.exec(line);
    if (header) {
      // a header before the previous entry's trailer: dpkg complains and goes on, so do we
      this.close(null);
      if (this.finished) return;
      if (this.entries.length >= MAX_CHANGELOG_ENTRIES) {
        this.end('limit', `more than ${MAX_CHANGELOG_ENTRIES} entries`);
        return;
      }
      const version = header[2]!;
      if (!validVersion(version)) {
        this.end('garbage', `an entry's version is not a Debian version: ${version.slice(0, 80)}`);
        return;
      }
      this.open = {
        entry: {
          source: header[1]!.toLowerCase(),
          version,
          distributions: header[3]!.trim().split(/\s+/),
          ...headerFields(header[4]!),
          line: this.lineNo,
        },
        text: [],
        chars: 0,
      };
      return;
    }
    if (this.open) {
      if (line.startsWith(' -- ')) {
        const t = TRAILER.exec(line);
        this.close(t ? changelogDate(t[4]!) : null);
        return;
      }
      if (line === '' || /^\s/.test(line)) {
        this.open.chars += line.length + 1;
        if (this.open.chars > MAX_ENTRY_CHARS) this.end('limit', `an entry longer than ${MAX_ENTRY_CHARS} characters`);
        else this.open.text.push(line);
        return;
      }
    } else if (line.trim() === '') return;
    this.outside(line);
  }

  /** A line that is neither a header, a change line nor a trailer. */
  private outside(line: string): void {
    if (FOOTER.test(line)) return this.end('footer', 'editor variables');
    if (line.startsWith('#')) {
      if (TRIMMED.test(line)) this.end('trimmed', 'older entries were removed from this changelog');
      return; // dpkg skips comments
    }
    if (/^\$\w+:.*\$/.test(line)) return; // an RCS keyword, skipped by dpkg
    // old-format first lines are short; a prefix keeps their backtracking regexes off long lines
    const head = line.slice(0, 256);
    if (!this.open && OLD_FORMAT.some((re) => re.test(head))) {
      return this.end('old-format', 'entries in the old changelog format');
    }
    this.end('garbage', `unexpected line: ${JSON.stringify(line.slice(0, 80))}`);
  }
}

/** Parses a whole changelog at once (for short texts; see `ChangelogParser` to parse in slices). */
export function parseChangelog(text: string): ParsedChangelog {
  return new ChangelogParser(text).result();
}

export interface ChangeReferences {
  /** unique, in order of the newest entry first */
  cves: string[];
  /** ascending */
  closes: number[];
  launchpad: number[];
  /** the versions of the entries counted (installed < version ≤ candidate), newest first */
  versions: string[];
  /** an entry for the candidate itself was found */
  candidateFound: boolean;
  /**
   * the entries reach the installed version: one at or below it was parsed (installed given), or
   * the whole changelog was read (installed null). False means references may be missing.
   */
  complete: boolean;
}

/**
 * The union of the references of every entry with installed < version ≤ candidate (dpkg's
 * order: epochs, `~`, binNMU suffixes). Pass the binNMU changelog's entries too
 * (changelog.Debian.<arch>.gz), so a candidate like 1.2-3+b1 finds its own entry. `installed`
 * null counts everything up to the candidate. The two versions come from the caller's indexes:
 * an invalid one throws VERSION_INVALID; entries were validated when parsed.
 */
export function referencesBetween(
  logs: ParsedChangelog | readonly ParsedChangelog[],
  installed: string | null,
  candidate: string,
): ChangeReferences {
  const list = Array.isArray(logs) ? (logs as readonly ParsedChangelog[]) : [logs as ParsedChangelog];
  parseVersion(candidate);
  if (installed !== null) parseVersion(installed);
  const counted = list
    .flatMap((l) => l.entries)
    .filter(
      (e) =>
        compareVersions(e.version, candidate) <= 0 && (installed === null || compareVersions(e.version, installed) > 0),
    )
    .sort((a, b) => compareVersions(b.version, a.version));
  const cves = new Set<string>();
  const closes = new Set<number>();
  const launchpad = new Set<number>();
  const versions: string[] = [];
  for (const e of counted) {
    if (versions[versions.length - 1] !== e.version) versions.push(e.version);
    for (const c of e.cves) cves.add(c);
    for (const c of e.closes) closes.add(c);
    for (const c of e.launchpad) launchpad.add(c);
  }
  const entries = list.flatMap((l) => l.entries);
  const complete =
    installed === null
      ? list.length > 0 && list.every((l) => l.end === 'complete' || l.end === 'footer')
      : entries.some((e) => compareVersions(e.version, installed) <= 0);
  return {
    cves: [...cves],
    closes: [...closes].sort((a, b) => a - b),
    launchpad: [...launchpad].sort((a, b) => a - b),
    versions,
    candidateFound: entries.some((e) => compareVersions(e.version, candidate) === 0),
    complete,
  };
}
