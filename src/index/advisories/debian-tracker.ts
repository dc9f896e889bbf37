// The Debian security tracker's JSON (security-tracker.debian.org/tracker/data/json): source
// package → issue (CVE or TEMP id) → { description, scope, debianbug, releases: codename →
// { status, repositories, fixed_version, urgency, nodsa, ... } }. One record per source, issue
// and release. "resolved" with fixed_version "0" means the release never had the flaw.
import { fail } from '../../errors.js';
import {
  type AdvisoryParseResult,
  type AdvisoryRecord,
  type AdvisoryStatus,
  isCveId,
  isObject,
  isReleaseName,
  isSourceName,
  isVersion,
  RELEASES_MAX,
  skip,
  type SkipCounts,
  summaryOf,
  urgencyOf,
} from './types.js';

/** The records of the tracker's JSON value, one by one (a worker hands them out in chunks). */
export function* trackerRecords(json: unknown, skipped: SkipCounts): Generator<AdvisoryRecord> {
  if (!isObject(json))
    fail('PARSE_FAILED', 'the security tracker data is not a JSON object of source packages', {
      type: Array.isArray(json) ? 'array' : json === null ? 'null' : typeof json,
    });
  for (const [source, issues] of Object.entries(json)) {
    if (!isSourceName(source) || !isObject(issues)) {
      skip(
        skipped,
        isSourceName(source) ? 'bad-type' : 'bad-source',
        isObject(issues) ? Object.keys(issues).length : 1,
      );
      continue;
    }
    for (const [cve, issue] of Object.entries(issues)) {
      if (!isCveId(cve)) {
        skip(skipped, 'bad-cve');
        continue;
      }
      if (!isObject(issue) || !isObject(issue.releases)) {
        skip(skipped, 'bad-type');
        continue;
      }
      const releases = Object.entries(issue.releases);
      if (releases.length > RELEASES_MAX) {
        skip(skipped, 'too-many', releases.length);
        continue;
      }
      const summary = summaryOf(issue.description);
      for (const [release, r] of releases) {
        const rec = releaseRecord(source, cve, release, r, summary, skipped);
        if (rec) yield rec;
      }
    }
  }
}

/** All records at once (small inputs, tests). */
export function parseTracker(json: unknown): AdvisoryParseResult {
  const skipped: SkipCounts = {};
  return { records: [...trackerRecords(json, skipped)], skipped };
}

function releaseRecord(
  source: string,
  cve: string,
  release: string,
  r: unknown,
  summary: string | null,
  skipped: SkipCounts,
): AdvisoryRecord | undefined {
  if (!isReleaseName(release)) return void skip(skipped, 'bad-release');
  if (!isObject(r) || typeof r.status !== 'string') return void skip(skipped, 'bad-type');
  const urgency = r.urgency ?? '';
  if (typeof urgency !== 'string') return void skip(skipped, 'bad-type');
  const fixed = r.fixed_version;
  if (fixed !== undefined && typeof fixed !== 'string') return void skip(skipped, 'bad-type');
  let status: AdvisoryStatus;
  let fixedVersion: string | null = null;
  switch (r.status) {
    case 'resolved':
      if (fixed === '0') status = 'not-affected';
      else if (isVersion(fixed)) {
        status = 'fixed';
        fixedVersion = fixed;
      } else return void skip(skipped, 'bad-version');
      break;
    case 'open':
      status = 'open';
      break;
    case 'undetermined':
      status = 'undetermined';
      break;
    default:
      return void skip(skipped, 'bad-status');
  }
  return {
    origin: 'debian-tracker',
    advisory: null,
    cve,
    source,
    release,
    pro: false,
    fixedVersion,
    status,
    urgency: urgencyOf(urgency),
    published: null,
    summary,
  };
}
