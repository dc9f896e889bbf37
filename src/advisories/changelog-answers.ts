// The references of pending updates as the answers show them: for each update, the CVEs and bugs
// its changelog names between the installed version and the candidate (referencesBetween over
// the stored entries of its source, a binNMU's own entry among them), and whether the changelog
// was read yet. Updates not read yet are queued for reading (on the server).
import { referencesBetween, type ChangelogEntry, type ParsedChangelog } from '../index/changelog.js';
import type { StoredEntryRefs } from '../state/changelog-reads.js';
import { readKey, type ChangelogRefsService, type PendingUpdate } from './changelog-refs.js';

/**
 * `known`: the candidate's changelog was read (the lists are what it names); `pending`: not yet
 * (the server reads it in the background); `unavailable`: it could not be (no changelog, an
 * unreadable or too large package, a failed fetch: the failure is tried again later).
 */
export type RefsState = 'known' | 'pending' | 'unavailable';

export interface UpdateRefs {
  /** CVE ids the changelog names for installed < version ≤ candidate, newest entry first */
  cves: string[];
  /** Debian bugs closed (Closes:), ascending */
  closes: number[];
  /** Launchpad bugs (LP:), ascending */
  launchpad: number[];
  refs: RefsState;
}

const none = (refs: RefsState): UpdateRefs => ({ cves: [], closes: [], launchpad: [], refs });

function asChangelog(rows: readonly StoredEntryRefs[]): ParsedChangelog {
  const entries: ChangelogEntry[] = rows.map((r) => ({
    source: '',
    version: r.version,
    distributions: [],
    urgency: null,
    binaryOnly: false,
    date: null,
    cves: r.cves,
    closes: r.closes,
    launchpad: r.launchpad,
    line: 0,
  }));
  return { entries, end: 'complete' };
}

/**
 * The references of each update (in order), queueing those not read yet. `memo` keeps each
 * source's stored entries for the answer being built (pass one per answer).
 */
export function refsOfUpdates(
  service: ChangelogRefsService,
  updates: readonly PendingUpdate[],
  memo = new Map<string, ParsedChangelog>(),
): UpdateRefs[] {
  const now = service.now();
  const toRead: PendingUpdate[] = [];
  const out = updates.map((u): UpdateRefs => {
    const read = service.reads.get(u.source, readKey(u));
    if (!read) {
      toRead.push(u);
      return none(u.origins.some((o) => o.backend !== undefined) ? 'pending' : 'unavailable');
    }
    if (read.error !== null) {
      if (read.retryAt !== null && read.retryAt <= now) toRead.push(u);
      return none('unavailable');
    }
    let log = memo.get(u.source);
    if (!log) memo.set(u.source, (log = asChangelog(service.reads.refsOf(u.source))));
    try {
      const r = referencesBetween(log, u.installedVersion, u.candidateVersion);
      return { cves: r.cves, closes: r.closes, launchpad: r.launchpad, refs: 'known' };
    } catch {
      // a version the machine reported that is not a Debian version: nothing to compare with
      return none('unavailable');
    }
  });
  if (toRead.length) service.enqueue(toRead);
  return out;
}

/** The entries with their references added (the shape of the outdated answers' entries). */
export function withRefs<T extends PendingUpdate>(
  service: ChangelogRefsService | undefined,
  entries: readonly T[],
  memo?: Map<string, ParsedChangelog>,
): Array<T & UpdateRefs> {
  if (!service) return entries.map((e) => ({ ...e, ...none('pending') }));
  const refs = refsOfUpdates(service, entries, memo);
  return entries.map((e, i) => ({ ...e, ...refs[i]! }));
}
