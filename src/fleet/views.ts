// Views on the server: what one machine's apt reads (suites of backends, architectures,
// preferences), resolved to the current snapshots and loaded from the package index.
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import { parsePreferences, type Pin } from '../index/preferences.js';
import { View } from '../index/view.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';

export interface ViewSource {
  backend: string;
  suite: string;
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
    if (!NAME_RE.test(s.backend) || !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s.suite) || s.suite.split('/').includes('..')) {
      fail('USAGE', `"${s.backend}/${s.suite}" is not a backend/suite`);
    }
    for (const c of s.components ?? []) if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(c)) fail('USAGE', `"${c}" is not a component`);
  }
  for (const a of [spec.arch, ...spec.foreignArchs]) if (!/^[a-z0-9][a-z0-9-]*$/.test(a)) fail('USAGE', `"${a}" is not an architecture name`);
  if (spec.preferences) parsePreferences(spec.preferences);
}

/** A stable identity for a spec (the view_def key). */
export function viewSpecHash(spec: ViewSpec): string {
  const canonical = JSON.stringify({
    sources: spec.sources.map((s) => [s.backend, s.suite, s.components ? [...s.components].sort() : null]),
    arch: spec.arch,
    foreign: [...spec.foreignArchs].sort(),
    preferences: spec.preferences ?? '',
  });
  return createHash('sha256').update(canonical).digest('hex');
}

export class ViewLoader {
  // loaded views by spec hash + snapshot ids; a few stay in memory (a view is ~100 MB of objects
  // for a full Debian release, built in a fraction of a second)
  private readonly cache = new Map<string, LoadedView>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly packageIndex: PackageIndexStore,
    private readonly siteOf: (backend: string) => string,
    private readonly keep = 4,
  ) {}

  /** The current snapshot of each source (InRelease generations first). */
  current(spec: ViewSpec): Array<SnapshotRow | undefined> {
    return spec.sources.map((s) => this.snapshots.latest(s.backend, s.suite, 'inrelease') ?? this.snapshots.latest(s.backend, s.suite, 'release'));
  }

  /** The index files of a source's snapshot, and whether every component has its native Packages. */
  private linked(src: ViewSource, snap: SnapshotRow, arch: string): { linked: ReturnType<PackageIndexStore['linkedFiles']>; complete: boolean } {
    const linked = this.packageIndex.linkedFiles(snap.id).filter((l) => !src.components || src.components.includes(l.component));
    const components = src.components ?? [...new Set(linked.map((l) => l.component))];
    const complete = linked.length > 0 && components.every((c) => linked.some((l) => l.component === c && l.architecture === arch));
    return { linked, complete };
  }

  /** Whether load() would give a complete view now, without loading it. */
  ready(spec: ViewSpec): boolean {
    const rows = this.current(spec);
    return spec.sources.every((src, i) => rows[i] !== undefined && this.linked(src, rows[i]!, spec.arch).complete);
  }

  load(spec: ViewSpec, snapshotIds?: readonly number[]): LoadedView {
    const rows = snapshotIds ? snapshotIds.map((id) => this.snapshots.byId(id)) : this.current(spec);
    const ids = rows.map((r) => r?.id ?? 0);
    const key = `${viewSpecHash(spec)}/${ids.join(',')}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const view = new View(spec.arch, spec.foreignArchs);
    let complete = true;
    spec.sources.forEach((src, i) => {
      const snap = rows[i];
      if (!snap) {
        complete = false;
        return;
      }
      const { linked, complete: sourceComplete } = this.linked(src, snap, spec.arch);
      if (!sourceComplete) complete = false;
      for (const l of linked) {
        if (!view.readsIndexArch(l.architecture)) continue;
        const fileId = view.addFile({
          backend: src.backend, dist: src.suite, site: this.siteOf(src.backend), origin: snap.origin ?? undefined,
          label: snap.label ?? undefined, archive: snap.suiteField ?? undefined, codename: snap.codename ?? undefined,
          releaseVersion: snap.version ?? undefined, component: l.component, architecture: l.architecture,
          notAutomatic: snap.notAutomatic, butAutomaticUpgrades: snap.butAutomaticUpgrades,
        });
        for (const e of this.packageIndex.entries(l.indexFileId)) {
          view.add(fileId, {
            package: e.package, version: e.version, architecture: e.architecture, source: e.source, sourceVersion: e.sourceVersion,
            multiArch: e.multiArch ?? undefined, phased: e.phased ?? undefined, depends: e.depends ?? undefined,
            preDepends: e.preDepends ?? undefined, recommends: e.recommends ?? undefined, breaks: e.breaks ?? undefined,
            conflicts: e.conflicts ?? undefined, provides: e.provides ?? undefined, aptHash: e.aptHash,
          });
        }
      }
    });
    view.seal();
    const loaded: LoadedView = { view, pins: spec.preferences ? parsePreferences(spec.preferences).pins : [], snapshots: ids, complete };
    // an incomplete view changes as its indexes are parsed, under the same snapshot ids
    if (!complete) return loaded;
    this.cache.set(key, loaded);
    while (this.cache.size > this.keep) this.cache.delete(this.cache.keys().next().value!);
    return loaded;
  }
}
