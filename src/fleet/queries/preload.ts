// What a site should pre-load for its machines (issue 18): from each machine's outdated answer in
// its view (a stage view, a rollout's side, or plain backends), the candidate versions of its
// pending upgrades, each resolved to its pool file (filename, size, SHA256) in the Packages
// contents of the snapshot or stage generation that answer was computed from, as the path the
// site asks its parent for. De-duplicated across machines: machines sharing an installed set and a
// view (most of a fleet) are answered once. In slices: 20,000 machines must not hold the loop.
import type { UpgradeAction } from '../../index/outdated.js';
import { preloadPath, type PreloadItem, type PreloadList } from '../../proxy/preload-list.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import type { SourcePart, ViewSource, ViewSpec } from '../views.js';
import { viewNotReady, type FleetQueryContext } from './context.js';

export interface PreloadOptions {
  /**
   * The outdated entries whose candidates are listed: by default what `apt-get upgrade` installs
   * (`upgrade`) and what `dist-upgrade` or a rollout adds (`kept-back`); never `held` (apt leaves
   * them) nor `phased` (apt defers them on this machine).
   */
  actions?: readonly UpgradeAction[];
}

export interface PreloadAnswer extends PreloadList {
  machines: {
    asked: number;
    /** machines whose answer is in the list */
    counted: number;
    /** machines the server cannot answer for yet, and why (at most 100 named; `unknownCount` counts all) */
    unknown: Array<{ id: number; reason: string }>;
    unknownCount: number;
  };
  /** candidates no Packages content of the answer's view names (at most 100; not expected) */
  unresolved: Array<{ package: string; version: string; architecture: string; backend: string }>;
}

const DEFAULT_ACTIONS: readonly UpgradeAction[] = ['upgrade', 'kept-back'];
/** Machines read per statement. */
const MACHINE_SLICE = 500;
const MAX_NAMED = 100;

interface FileRow {
  filename: string;
  size: number;
  sha256: string;
  source: string;
}

/** Resolves candidates to pool files, remembering each answer (many views share their contents). */
class PoolFiles {
  private readonly parts = new Map<string, SourcePart[]>();
  private readonly files = new Map<string, FileRow | null>();
  private readonly stmt;

  constructor(private readonly ctx: FleetQueryContext) {
    this.stmt = ctx.db.prepare<[string, string, string, string, number], FileRow>(
      `SELECT p.filename, p.size, p.sha256, p.source FROM pkg p
       WHERE p.package = ? AND p.architecture = ? AND p.version = ? AND p.backend = ?
         AND EXISTS (SELECT 1 FROM index_entry e WHERE e.index_file_id = ? AND e.pkg_id = p.id)
       ORDER BY p.id DESC`,
    );
  }

  private partsOf(src: ViewSource, id: number): SourcePart[] {
    const key = JSON.stringify([src.backend, src.suite, src.stage ?? null, src.components ?? null, id]);
    let p = this.parts.get(key);
    if (!p) {
      p = this.ctx.views.sourceParts(src, id);
      this.parts.set(key, p);
    }
    return p;
  }

  /** The pool file of (package, version, architecture) in what the source reads at content id `id`. */
  find(src: ViewSource, id: number, pkg: string, version: string, arch: string): FileRow | null {
    const key = JSON.stringify([
      src.backend,
      src.suite,
      src.stage ?? null,
      src.components ?? null,
      id,
      pkg,
      version,
      arch,
    ]);
    let f = this.files.get(key);
    if (f === undefined) {
      f = null;
      for (const part of this.partsOf(src, id)) {
        // a stage generation keeps some sources of a snapshot and takes others from another
        const row = this.stmt
          .all(pkg, arch, version, src.backend, part.indexFileId)
          .find((r) => !part.keep || part.keep(r.source));
        if (row) {
          f = row;
          break;
        }
      }
      this.files.set(key, f);
    }
    return f;
  }
}

/**
 * The .deb files the given machines' pending upgrades will download, de-duplicated, with totals,
 * ordered by how many of them need each file (most first), then path.
 */
export async function preloadList(
  ctx: FleetQueryContext,
  machineIds: readonly number[],
  o: PreloadOptions = {},
): Promise<PreloadAnswer> {
  const actions = new Set(o.actions ?? DEFAULT_ACTIONS);
  const slicer = new TimeSlicer();
  const unknown: Array<{ id: number; reason: string }> = [];
  let unknownCount = 0;
  const noAnswer = (id: number, reason: string) => {
    unknownCount++;
    if (unknown.length < MAX_NAMED) unknown.push({ id, reason });
  };

  // machines by (profile, view): each pair's answer is read once
  const pairs = new Map<string, { profileId: number; viewId: number; machines: number[] }>();
  const stmt = ctx.db
    .prepare<[string], [number, number | null, number | null, number]>(
      `SELECT m.id, m.profile_id, r.view_id, r.machine_id IS NOT NULL
       FROM machine m LEFT JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = m.id
       WHERE m.id IN (SELECT value FROM json_each(?))`,
    )
    .raw(true);
  const ids = [...new Set(machineIds)];
  for (let i = 0; i < ids.length; i += MACHINE_SLICE) {
    await slicer.tick();
    const chunk = ids.slice(i, i + MACHINE_SLICE);
    const found = new Set<number>();
    for (const [id, profileId, viewId, reported] of stmt.all(JSON.stringify(chunk))) {
      found.add(id);
      if (profileId === null || !reported) noAnswer(id, 'no report yet');
      else if (viewId === null) noAnswer(id, 'no apt source of this machine goes through this server');
      else {
        const key = `${profileId}/${viewId}`;
        const p = pairs.get(key);
        if (p) p.machines.push(id);
        else pairs.set(key, { profileId, viewId, machines: [id] });
      }
    }
    for (const id of chunk) if (!found.has(id)) noAnswer(id, 'no such machine');
  }

  const files = new PoolFiles(ctx);
  const byPath = new Map<string, PreloadItem>();
  const unresolved: PreloadAnswer['unresolved'] = [];
  const unresolvedSeen = new Set<string>();
  const specs = new Map<number, ViewSpec>();
  const dists = new Set<string>();
  let counted = 0;
  for (const { profileId, viewId, machines } of pairs.values()) {
    await slicer.tick();
    const why = viewNotReady(ctx, viewId);
    if (why) {
      for (const id of machines) noAnswer(id, why);
      continue;
    }
    const answer = await ctx.outdated.getInSlices(profileId, viewId, slicer);
    if (!answer.complete) {
      for (const id of machines) noAnswer(id, 'the view is still being indexed');
      continue;
    }
    let spec = specs.get(viewId);
    if (!spec) specs.set(viewId, (spec = ctx.outdated.spec(viewId)));
    counted += machines.length;
    const paths = new Set<string>();
    for (const e of answer.result.entries) {
      if (slicer.due()) await slicer.pause();
      if (!actions.has(e.action)) continue;
      // the stage's source first; a candidate only upstream has comes through a source beside it
      let src: ViewSource | undefined;
      let f: FileRow | null = null;
      for (const i of sourcesOf(spec, e.origins)) {
        src = spec.sources[i]!;
        f = files.find(src, answer.snapshots[i]!, e.package, e.candidateVersion, e.candidateArchitecture);
        if (f) break;
      }
      if (!src) continue;
      if (!f) {
        const k = `${src.backend} ${e.package} ${e.candidateVersion} ${e.candidateArchitecture}`;
        if (!unresolvedSeen.has(k) && unresolved.length < MAX_NAMED) {
          unresolvedSeen.add(k);
          unresolved.push({
            package: e.package,
            version: e.candidateVersion,
            architecture: e.candidateArchitecture,
            backend: src.backend,
          });
        }
        continue;
      }
      dists.add(preloadPath(src.backend, `dists/${src.suite}`, src.stage));
      const path = preloadPath(src.backend, f.filename, src.stage);
      if (paths.has(path)) continue;
      paths.add(path);
      const item = byPath.get(path);
      if (item) item.machines += machines.length;
      else byPath.set(path, { path, size: f.size, sha256: f.sha256, machines: machines.length });
    }
  }
  await slicer.tick();
  const items = [...byPath.values()].sort((a, b) => b.machines - a.machines || (a.path < b.path ? -1 : 1));
  return {
    items,
    totals: { files: items.length, bytes: items.reduce((s, x) => s + x.size, 0) },
    dists: [...dists].sort(),
    machines: { asked: ids.length, counted, unknown, unknownCount },
    unresolved,
  };
}

/**
 * The sources of the view a candidate may come through (those its origins name), a stage's
 * first: a machine behind the gate reads its approved content there, upstream beside it.
 */
function sourcesOf(spec: ViewSpec, origins: ReadonlyArray<{ backend: string | undefined; suite: string }>): number[] {
  const staged: number[] = [];
  const plain: number[] = [];
  for (const [i, s] of spec.sources.entries()) {
    if (!origins.some((o) => o.backend === s.backend && o.suite === s.suite)) continue;
    (s.stage ? staged : plain).push(i);
  }
  return [...staged, ...plain];
}
