// Views on the server: what one machine's apt reads (suites of backends, architectures,
// preferences), resolved to the current snapshots and loaded from the package index.
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import { parsePreferences, type Pin } from '../index/preferences.js';
import { View } from '../index/view.js';
import type { EntryRow, PackageIndexStore } from '../state/package-index.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import { Slicer } from './slices.js';
import { PagedRows, type RowSource } from './view-rows.js';

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
    if (!NAME_RE.test(s.backend) || !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s.suite) || s.suite.split('/').includes('..')) {
      fail('USAGE', `"${s.backend}/${s.suite}" is not a backend/suite`);
    }
    if (s.stage !== undefined && !/^[a-z0-9][a-z0-9_-]{0,31}$/.test(s.stage)) fail('USAGE', `"${s.stage}" is not a stage name`);
    for (const c of s.components ?? []) if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(c)) fail('USAGE', `"${c}" is not a component`);
  }
  for (const a of [spec.arch, ...spec.foreignArchs]) if (!/^[a-z0-9][a-z0-9-]*$/.test(a)) fail('USAGE', `"${a}" is not an architecture name`);
  if (spec.preferences) parsePreferences(spec.preferences);
}

/** A stable identity for a spec (the view_def key). */
export function viewSpecHash(spec: ViewSpec): string {
  const canonical = JSON.stringify({
    sources: spec.sources.map((s) => [s.backend, s.suite, s.components ? [...s.components].sort() : null, ...(s.stage ? [s.stage] : [])]),
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
  currentGen(stage: string, backend: string, suite: string): number | undefined;
  parts(genId: number): SourcePart[];
}

/** Turns index rows into a view: the part shared by load() and loadAsync(). */
class ViewBuilder {
  readonly view: View;

  constructor(spec: ViewSpec, private readonly siteOf: (backend: string) => string) {
    this.view = new View(spec.arch, spec.foreignArchs);
  }

  /** The view's file for one Packages content, or undefined when apt would not read it. */
  file(src: ViewSource, l: SourcePart): number | undefined {
    if (!this.view.readsIndexArch(l.architecture)) return undefined;
    const snap = l.snapshot;
    return this.view.addFile({
      backend: src.backend, dist: src.suite, site: this.siteOf(src.backend), origin: snap.origin ?? undefined,
      label: snap.label ?? undefined, archive: snap.suiteField ?? undefined, codename: snap.codename ?? undefined,
      releaseVersion: snap.version ?? undefined, component: l.component, architecture: l.architecture,
      notAutomatic: snap.notAutomatic, butAutomaticUpgrades: snap.butAutomaticUpgrades,
    });
  }

  /** Adds rows [from, to) of a page. */
  add(fileId: number, l: SourcePart, rows: readonly EntryRow[], from = 0, to = rows.length): void {
    for (let i = from; i < to; i++) {
      const e = rows[i]!;
      if (l.keep && !l.keep(e[3])) continue;
      this.view.add(fileId, {
        package: e[0], version: e[1], architecture: e[2], source: e[3], sourceVersion: e[4],
        multiArch: e[5] ?? undefined, phased: e[6] ?? undefined, depends: e[7] ?? undefined,
        preDepends: e[8] ?? undefined, recommends: e[9] ?? undefined, breaks: e[10] ?? undefined,
        conflicts: e[11] ?? undefined, provides: e[12] ?? undefined, aptHash: e[13],
      });
    }
  }
}

/** The identity of a view's content: what it reads, not the preferences it is read with. */
function contentKey(spec: ViewSpec, ids: readonly number[]): string {
  return JSON.stringify([spec.arch, spec.foreignArchs, spec.sources.map((s) => [s.backend, s.suite, s.stage ?? null, s.components ?? null]), ids]);
}

export class ViewLoader {
  // loaded views by content (sources, architectures, content ids: views that differ only in
  // their preferences share one); a few stay in memory (a view is ~100 MB of objects for a full
  // Debian release); the loaded specs point at them
  private readonly views = new Map<string, View>();
  private readonly cache = new Map<string, LoadedView & { content: string }>();
  private readonly loading = new Map<string, Promise<View>>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly packageIndex: PackageIndexStore,
    private readonly siteOf: (backend: string) => string,
    private readonly stages?: StageResolver,
    private readonly keep = 4,
    /** where loadAsync() reads rows (default: short pages on this thread) */
    private readonly rows: RowSource = new PagedRows(packageIndex),
  ) {}

  /** Views being loaded by loadAsync() now. */
  get busy(): boolean {
    return this.loading.size > 0;
  }

  /**
   * What each source reads now: a snapshot id (InRelease generations first), a stage
   * generation as its negative id, or 0 when there is none yet.
   */
  currentIds(spec: ViewSpec): number[] {
    return spec.sources.map((s) => {
      if (s.stage !== undefined) return -(this.stages?.currentGen(s.stage, s.backend, s.suite) ?? 0);
      return (this.snapshots.latest(s.backend, s.suite, 'inrelease') ?? this.snapshots.latest(s.backend, s.suite, 'release'))?.id ?? 0;
    });
  }

  private parts(src: ViewSource, id: number): SourcePart[] {
    if (id < 0) return (this.stages?.parts(-id) ?? []).filter((p) => !src.components || src.components.includes(p.component));
    const snapshot = id > 0 ? this.snapshots.byId(id) : undefined;
    if (!snapshot) return [];
    return this.packageIndex.linkedFiles(id).filter((l) => !src.components || src.components.includes(l.component)).map((l) => ({ snapshot, ...l }));
  }

  /** Why the view's answers would not be final now (a source without content or not indexed); undefined when ready. */
  notReady(spec: ViewSpec, ids: readonly number[] = this.currentIds(spec)): string | undefined {
    for (const [i, src] of spec.sources.entries()) {
      const where = `${src.stage ? `stage ${src.stage} of ` : ''}${src.backend}/${src.suite}`;
      if (!ids[i]) return `no ${src.stage ? 'content' : 'snapshot'} of ${where} yet`;
      const parts = this.parts(src, ids[i]!);
      const components = src.components ?? [...new Set(parts.map((l) => l.component))];
      if (!parts.length || components.some((c) => !parts.some((l) => l.component === c && l.architecture === spec.arch))) {
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
    return this.cached(`${viewSpecHash(spec)}/${ids.join(',')}`) ?? this.withView(spec, ids, this.views.get(contentKey(spec, ids)));
  }

  /**
   * The view, read from the package index on this thread at once (the command line, tests;
   * the server uses loadAsync()).
   */
  load(spec: ViewSpec, contentIds?: readonly number[]): LoadedView {
    const ids = contentIds ? [...contentIds] : this.currentIds(spec);
    const hit = this.loaded(spec, ids);
    if (hit) return hit;
    const b = new ViewBuilder(spec, this.siteOf);
    const complete = this.notReady(spec, ids) === undefined;
    spec.sources.forEach((src, i) => {
      for (const l of this.parts(src, ids[i]!)) {
        const fileId = b.file(src, l);
        if (fileId !== undefined) b.add(fileId, l, this.packageIndex.entryRows(l.indexFileId));
      }
    });
    return this.keepView(spec, ids, b.view.seal(), complete);
  }

  /**
   * load() for the server: the rows come from `rows` (a worker thread) a page at a time and
   * the view is built in slices, so the event loop is never held for long. Concurrent loads of
   * the same content share one.
   */
  async loadAsync(spec: ViewSpec, contentIds?: readonly number[]): Promise<LoadedView> {
    const ids = contentIds ? [...contentIds] : this.currentIds(spec);
    const hit = this.loaded(spec, ids);
    if (hit) return hit;
    const complete = this.notReady(spec, ids) === undefined;
    const key = contentKey(spec, ids);
    let p = this.loading.get(key);
    if (!p) {
      p = this.build(spec, ids).finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    const view = await p;
    return this.loaded(spec, ids) ?? this.keepView(spec, ids, view, complete);
  }

  private async build(spec: ViewSpec, ids: readonly number[]): Promise<View> {
    const b = new ViewBuilder(spec, this.siteOf);
    const slicer = new Slicer();
    for (const [i, src] of spec.sources.entries()) {
      for (const l of this.parts(src, ids[i]!)) {
        const fileId = b.file(src, l);
        if (fileId === undefined) continue;
        for await (const rows of this.rows.pages(l.indexFileId)) {
          for (let at = 0; at < rows.length; at += 64) {
            b.add(fileId, l, rows, at, Math.min(rows.length, at + 64));
            await slicer.pause();
          }
        }
      }
    }
    for (const _ of b.view.sealSteps(256)) await slicer.pause();
    return b.view;
  }

  private cached(key: string): LoadedView | undefined {
    const hit = this.cache.get(key);
    if (!hit) return undefined;
    this.cache.delete(key);
    this.cache.set(key, hit);
    return hit;
  }

  /** A spec's LoadedView around a view already in memory. */
  private withView(spec: ViewSpec, ids: readonly number[], view: View | undefined): LoadedView | undefined {
    if (!view) return undefined;
    // only complete views are kept, so this one is
    return this.keepView(spec, ids, view, true);
  }

  private keepView(spec: ViewSpec, ids: readonly number[], view: View, complete: boolean): LoadedView {
    const content = contentKey(spec, ids);
    const loaded = { view, pins: spec.preferences ? parsePreferences(spec.preferences).pins : [], snapshots: [...ids], complete, content };
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

  /** Names whose offered versions differ between two snapshots (read where the rows are). */
  changedPackages(oldSnapshotId: number, newSnapshotId: number): Promise<Set<string>> {
    return this.rows.changedPackages(oldSnapshotId, newSnapshotId);
  }

  close(): Promise<void> {
    return this.rows.close();
  }
}
