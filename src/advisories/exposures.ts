// Exposures of installed sets to the imported advisories: per profile (installed set) and release,
// the issues whose fixed version its source versions do not reach (index/exposures.ts decides).
// 200 profiles serve 20,000 machines and share most sources: the advisories of a source in a
// release are read once per state of the feeds, each profile's exposures are kept per state of the
// feeds, and the work runs in time slices (the event loop is every apt client's).
import {
  byUrgency,
  installedSources,
  isExposed,
  issuesOf,
  type InstalledSource,
  type Issue,
} from '../index/exposures.js';
import type { AdvisoryStore, StoredAdvisory } from '../state/advisories.js';
import type { ProfileStore } from '../state/profiles.js';
import type { TimeSlicer } from '../sys/time-slice.js';

/**
 * The issues a profile is exposed to, most urgent first, with the source as installed: parallel
 * arrays (a profile may be exposed to thousands of issues, 200 profiles to a million: no object
 * per exposure is kept).
 */
export interface ProfileExposures {
  issues: Issue[];
  installed: InstalledSource[];
}

/** Profile exposures kept (per profile and release; a profile is a few hundred exposures at most). */
const PROFILES_KEPT = 1000;
/** Sources whose issues are kept (per release: a fleet runs a few thousand sources). */
const SOURCES_KEPT = 50_000;
/** Sources read per statement when a profile's are read first. */
const PREFETCH = 200;
/** Exposed issues kept per source version and release (profiles share most of their source versions). */
const VERSIONS_KEPT = 100_000;

export class ExposureService {
  private stampKey = '';
  private readonly issues = new Map<string, Issue[]>();
  private readonly exposed = new Map<string, Issue[]>();
  private readonly profileExposures = new Map<string, ProfileExposures>();

  constructor(
    readonly advisories: AdvisoryStore,
    private readonly profiles: ProfileStore,
  ) {}

  /** The state of the feeds: what they hold changes only with an import (a new load) or a cleared feed. */
  stamp(): string {
    const s = this.advisories
      .feeds()
      .map((f) => `${f.feed}:${f.fetchedAt ?? ''}:${f.records}`)
      .join(',');
    if (s !== this.stampKey) {
      this.stampKey = s;
      this.issues.clear();
      this.exposed.clear();
      this.profileExposures.clear();
    }
    return s;
  }

  /** The issues of a source in a release (remembered until the feeds change). */
  issuesOf(source: string, release: string): Issue[] {
    const key = `${release}\u0000${source}`;
    let r = this.issues.get(key);
    if (!r) {
      r = issuesOf(this.advisories.forSourceBrief(source, release));
      this.keepIssues(key, r);
    }
    return r;
  }

  /** Reads the issues of the sources not known yet, many per statement (a profile read first: a thousand sources). */
  private async prefetch(sources: Iterable<string>, release: string, slicer: TimeSlicer): Promise<void> {
    const missing = [...sources].filter((s) => !this.issues.has(`${release}\u0000${s}`));
    for (let i = 0; i < missing.length; i += PREFETCH) {
      const part = missing.slice(i, i + PREFETCH);
      const by = new Map<string, StoredAdvisory[]>(part.map((s) => [s, []]));
      for (const r of this.advisories.forSourcesBrief(part, release)) by.get(r.source)?.push(r);
      for (const [source, records] of by) this.keepIssues(`${release}\u0000${source}`, issuesOf(records));
      await slicer.tick();
    }
  }

  private keepIssues(key: string, r: Issue[]): void {
    if (this.issues.size >= SOURCES_KEPT) this.issues.delete(this.issues.keys().next().value!);
    this.issues.set(key, r);
  }

  /** The issues of a source in a release that its installed `version` is exposed to (remembered likewise). */
  exposedOf(source: string, release: string, version: string): Issue[] {
    const key = `${release}\u0000${source}\u0000${version}`;
    let r = this.exposed.get(key);
    if (!r) {
      r = this.issuesOf(source, release).filter((issue) => isExposed(issue, version));
      if (this.exposed.size >= VERSIONS_KEPT) this.exposed.delete(this.exposed.keys().next().value!);
      this.exposed.set(key, r);
    }
    return r;
  }

  /** What a profile's installed set is exposed to in a release, in slices. */
  async ofProfile(profileId: number, release: string, slicer: TimeSlicer): Promise<ProfileExposures> {
    this.stamp();
    // by content: a deleted profile's id may be given to another installed set
    const profile = this.profiles.byId(profileId);
    if (!profile) return { issues: [], installed: [] };
    const key = `${profile.sha256}/${release}`;
    const known = this.profileExposures.get(key);
    if (known) return known;
    const installed = installedSources(await this.profiles.installedInSlices(profileId, slicer));
    await this.prefetch(installed.keys(), release, slicer);
    const found: Array<{ issue: Issue; installed: InstalledSource }> = [];
    for (const s of installed.values()) {
      for (const issue of this.exposedOf(s.source, release, s.version)) found.push({ issue, installed: s });
      // a source's first reading is a query (a source with thousands of issues, a few ms): checked after each
      if (slicer.due()) await slicer.pause();
    }
    await slicer.tick();
    found.sort((a, b) => byUrgency(a.issue, b.issue));
    await slicer.tick();
    const out: ProfileExposures = { issues: found.map((x) => x.issue), installed: found.map((x) => x.installed) };
    if (this.profileExposures.size >= PROFILES_KEPT)
      this.profileExposures.delete(this.profileExposures.keys().next().value!);
    this.profileExposures.set(key, out);
    return out;
  }
}
