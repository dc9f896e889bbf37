// Views on the server: what one machine's apt reads (suites of backends, architectures,
// preferences), resolved to the current snapshots and loaded from the package index.
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import { parsePreferences, type Pin } from '../index/preferences.js';
import { parseStageView } from '../index/stage-view.js';
import { View } from '../index/view.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';

export interface ViewSource {
  backend: string;
  suite: string;
  /** read through a stage of the release gate (/stage/<stage>/<backend>) instead of upstream */
  stage?: string;
  /** default: every component the snapshot has */
  components?: string[];
}

export interface ViewSpec {
  sources: ViewSource[];
  arch: string;
  foreignArchs: string[];
  /** the machine's apt preferences (files concatenated in apt's reading order) */
  preferences?: string;
}

export interface LoadedView {
  view: View;
  pins: Pin[];
  /** snapshot ids, one per source, in the spec's order */
  snapshots: number[];
  /** every source has its snapshot's Packages for the native architecture parsed */
  complete: boolean;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;

export function checkViewSpec(spec: ViewSpec): void {
  if (!spec.sources.length) fail('USAGE', 'a view needs at least one backend/suite');
  for (const s of spec.sources) {
    if (
      !NAME_RE.test(s.backend) ||
      !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s.suite) ||
      s.suite.split('/').includes('..')
    ) {
      fail('USAGE', `"${s.backend}/${s.suite}" is not a backend/suite`);
    }
    if (s.stage !== undefined && !parseStageView(s.stage)) fail('USAGE', `"${s.stage}" is not a stage name`);
    for (const c of s.components ?? [])
      if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(c)) fail('USAGE', `"${c}" is not a component`);
  }
  for (const a of [spec.arch, ...spec.foreignArchs])
    if (!/^[a-z0-9][a-z0-9-]*$/.test(a)) fail('USAGE', `"${a}" is not an architecture name`);
  if (spec.preferences) parsePreferences(spec.preferences);
}

/** A stable identity for a spec (the view_def key). */
export function viewSpecHash(spec: ViewSpec): string {
  const canonical = JSON.stringify({
    sources: spec.sources.map((s) => [
      s.backend,
      s.suite,
      s.components ? [...s.components].sort() : null,
      ...(s.stage ? [s.stage] : []),
    ]),
    arch: spec.arch,
    foreign: [...spec.foreignArchs].sort(),
    preferences: spec.preferences ?? '',
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** One Packages content a view reads: a snapshot's, or part of one (a stage keeps some sources). */
export interface SourcePart {
  snapshot: SnapshotRow;
  component: string;
  architecture: string;
  indexFileId: number;
  keep?: (source: string) => boolean;
}

/** How a stage's suite resolves (the gate): its current generation and what it contains. */
export interface StageResolver {
  currentGeneration(stage: string, backend: string, suite: string): number | undefined;
  parts(genId: number): SourcePart[];
}

/** The identity of a view's content: what it reads, not the preferences it is read with. */
function contentKey(spec: ViewSpec, ids: readonly number[]): string {
  return JSON.stringify([
    spec.arch,
    spec.foreignArchs,
    spec.sources.map((s) => [s.backend, s.suite, s.stage ?? null, s.components ?? null]),
    ids,
  ]);
}

export class ViewLoader {
  // loaded views by content (sources, architectures, content ids: views that differ only in
  // their preferences share one); a few stay in memory (a view is ~100 MB of objects for a full
  // Debian release, built in a fraction of a second); the loaded specs point at them
  private readonly views = new Map<string, View>();
  private readonly cache = new Map<string, LoadedView & { content: string }>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly packageIndex: PackageIndexStore,
    private readonly siteOf: (backend: string) => string,
    private readonly stages?: StageResolver,
    private readonly keep = 4,
  ) {}

  /**
   * What each source reads now: a snapshot id (InRelease snapshots first), a stage
   * generation as its negative id, or 0 when there is none yet.
   */
  currentIds(spec: ViewSpec): number[] {
    return spec.sources.map((s) => {
      if (s.stage !== undefined) return -(this.stages?.currentGeneration(s.stage, s.backend, s.suite) ?? 0);
      return (
        (this.snapshots.latest(s.backend, s.suite, 'inrelease') ?? this.snapshots.latest(s.backend, s.suite, 'release'))
          ?.id ?? 0
      );
    });
  }

  /** The Packages contents a source reads at a content id (a snapshot's, or a stage generation's as a negative id). */
  sourceParts(src: ViewSource, id: number): SourcePart[] {
    return this.parts(src, id);
  }

  private parts(src: ViewSource, id: number): SourcePart[] {
    if (id < 0)
      return (this.stages?.parts(-id) ?? []).filter((p) => !src.components || src.components.includes(p.component));
    const snapshot = id > 0 ? this.snapshots.byId(id) : undefined;
    if (!snapshot) return [];
    return this.packageIndex
      .linkedFiles(id)
      .filter((l) => !src.components || src.components.includes(l.component))
      .map((l) => ({ snapshot, ...l }));
  }

  /** Why the view's answers would not be final now (a source without content or not indexed); undefined when ready. */
  notReady(spec: ViewSpec, ids: readonly number[] = this.currentIds(spec)): string | undefined {
    for (const [i, src] of spec.sources.entries()) {
      const where = `${src.stage ? `stage ${src.stage} of ` : ''}${src.backend}/${src.suite}`;
      if (!ids[i]) return `no ${src.stage ? 'content' : 'snapshot'} of ${where} yet`;
      const parts = this.parts(src, ids[i]!);
      const components = src.components ?? [...new Set(parts.map((l) => l.component))];
      if (
        !parts.length ||
        components.some((c) => !parts.some((l) => l.component === c && l.architecture === spec.arch))
      ) {
        return `the Packages of ${where} (${spec.arch}) are not indexed yet`;
      }
    }
    return undefined;
  }

  ready(spec: ViewSpec): boolean {
    return this.notReady(spec) === undefined;
  }

  /** The view if it is in memory (nothing is read). */
  loaded(spec: ViewSpec, contentIds?: readonly number[]): LoadedView | undefined {
    const ids = contentIds ? [...contentIds] : this.currentIds(spec);
    const key = `${viewSpecHash(spec)}/${ids.join(',')}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const view = this.views.get(contentKey(spec, ids));
    // only complete views are kept
    return view ? this.keepView(spec, ids, view, true) : undefined;
  }

  /**
   * The view, read from the package index at once: ~0.7 s for a full Debian release, so the
   * server loads its views in its outdated worker (outdated-work.ts); on the event loop only
   * when an answer is asked for before the worker could prepare it.
   */
  load(spec: ViewSpec, contentIds?: readonly number[]): LoadedView {
    const ids = contentIds ? [...contentIds] : this.currentIds(spec);
    const hit = this.loaded(spec, ids);
    if (hit) return hit;
    const view = new View(spec.arch, spec.foreignArchs);
    const complete = this.notReady(spec, ids) === undefined;
    spec.sources.forEach((src, i) => {
      for (const l of this.parts(src, ids[i]!)) {
        if (!view.readsIndexArch(l.architecture)) continue;
        const snap = l.snapshot;
        const fileId = view.addFile({
          backend: src.backend,
          dist: src.suite,
          site: this.siteOf(src.backend),
          origin: snap.origin ?? undefined,
          label: snap.label ?? undefined,
          archive: snap.suiteField ?? undefined,
          codename: snap.codename ?? undefined,
          releaseVersion: snap.version ?? undefined,
          component: l.component,
          architecture: l.architecture,
          notAutomatic: snap.notAutomatic,
          butAutomaticUpgrades: snap.butAutomaticUpgrades,
        });
        for (const e of this.packageIndex.entries(l.indexFileId)) {
          if (l.keep && !l.keep(e.source)) continue;
          view.add(fileId, {
            package: e.package,
            version: e.version,
            architecture: e.architecture,
            source: e.source,
            sourceVersion: e.sourceVersion,
            multiArch: e.multiArch ?? undefined,
            phased: e.phased ?? undefined,
            depends: e.depends ?? undefined,
            preDepends: e.preDepends ?? undefined,
            recommends: e.recommends ?? undefined,
            breaks: e.breaks ?? undefined,
            conflicts: e.conflicts ?? undefined,
            provides: e.provides ?? undefined,
            aptHash: e.aptHash,
          });
        }
      }
    });
    return this.keepView(spec, ids, view.seal(), complete);
  }

  private keepView(spec: ViewSpec, ids: readonly number[], view: View, complete: boolean): LoadedView {
    const content = contentKey(spec, ids);
    const loaded = {
      view,
      pins: spec.preferences ? parsePreferences(spec.preferences).pins : [],
      snapshots: [...ids],
      complete,
      content,
    };
    // an incomplete view changes as its indexes are parsed, under the same ids
    if (!complete) return loaded;
    this.views.delete(content);
    this.views.set(content, view);
    this.cache.set(`${viewSpecHash(spec)}/${ids.join(',')}`, loaded);
    while (this.views.size > this.keep) {
      const gone = this.views.keys().next().value!;
      this.views.delete(gone);
      for (const [k, v] of this.cache) if (v.content === gone) this.cache.delete(k);
    }
    // specs are small beside their views, but a fleet has many
    while (this.cache.size > this.keep * 64) this.cache.delete(this.cache.keys().next().value!);
    return loaded;
  }
}
