// Cache statistics and clean-up: files no current index references are removed once unused
// for the grace period; with a size budget, unreferenced files go first, oldest use first.
import { readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import type { StageStore } from '../state/stages.js';
import { byHashRel, clearsignedText, parseRelease } from '../index/release.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotStore } from '../state/snapshots.js';
import type { UsageStore } from '../state/usage.js';
import type { CacheStore } from './store.js';

export interface HousekeepingDeps {
  config: Config;
  store: CacheStore;
  snapshots: SnapshotStore;
  packageIndex: PackageIndexStore;
  usage: UsageStore;
  /** the release gate's stage generations: snapshots a stage uses keep their files */
  stages: StageStore;
}

export interface CacheStats {
  directory: string;
  files: number;
  bytes: number;
  backends: Record<string, { files: number; bytes: number; pool: number; indexes: number }>;
  snapshots: number;
  packageIndex: { indexFiles: number; packages: number; entries: number };
}

export async function cacheStats(deps: HousekeepingDeps): Promise<CacheStats> {
  const out: CacheStats = {
    directory: deps.store.root,
    files: 0,
    bytes: 0,
    backends: {},
    snapshots: deps.snapshots.currentAll().length,
    packageIndex: deps.packageIndex.counts(),
  };
  for await (const f of deps.store.walk()) {
    out.files++;
    out.bytes += f.size;
    const [backend, ...rest] = f.key.split('/');
    const b = (out.backends[backend!] ??= { files: 0, bytes: 0, pool: 0, indexes: 0 });
    b.files++;
    b.bytes += f.size;
    if (rest[0] === 'pool') b.pool++;
    else if (rest[0] === 'dists') b.indexes++;
  }
  return out;
}

/** Cache keys the current snapshots reference: their index objects and the pool files their Packages name. */
export async function referencedKeys(deps: HousekeepingDeps): Promise<Set<string>> {
  const current = deps.snapshots.currentAll();
  // what stages publish (and could roll back to) is kept, however old its snapshot
  for (const id of deps.stages.usedSnapshots()) {
    if (current.some((s) => s.id === id)) continue;
    const s = deps.snapshots.byId(id);
    if (s) current.push(s);
  }
  const refs = deps.packageIndex.filenamesOfSnapshots(current.map((s) => s.id));
  for (const s of current) {
    try {
      const doc = await readFile(deps.store.snapshotFile(s.backend, s.suite, s.sha256));
      const text = s.kind === 'inrelease' ? clearsignedText(doc) : doc;
      const release = parseRelease(text);
      for (const f of release.files.values()) refs.add(`${s.backend}/dists/${s.suite}/${byHashRel(f.path, f.sha256)}`);
    } catch {
      // a snapshot whose root is gone references nothing
    }
  }
  return refs;
}

export interface CleanResult {
  dryRun: boolean;
  removed: Array<{ key: string; size: number; reason: 'unreferenced' | 'budget' }>;
  freedBytes: number;
  keptFiles: number;
  keptBytes: number;
}

export async function cleanCache(
  deps: HousekeepingDeps,
  opts: { dryRun: boolean; now?: number },
): Promise<CleanResult> {
  const now = opts.now ?? Date.now();
  const refs = await referencedKeys(deps);
  const lastUse = deps.usage.all();
  const files: Array<{ key: string; size: number; used: number; referenced: boolean }> = [];
  for await (const f of deps.store.walk()) {
    files.push({
      key: f.key,
      size: f.size,
      used: Math.max(lastUse.get(f.key) ?? 0, f.ctimeMs),
      referenced: refs.has(f.key),
    });
  }
  const result: CleanResult = { dryRun: opts.dryRun, removed: [], freedBytes: 0, keptFiles: 0, keptBytes: 0 };
  const remove = new Map<string, 'unreferenced' | 'budget'>();
  for (const f of files)
    if (!f.referenced && now - f.used >= deps.config.cache.cleanGraceMs) remove.set(f.key, 'unreferenced');
  const budget = deps.config.cache.maxBytes;
  if (budget > 0) {
    let total = files.filter((f) => !remove.has(f.key)).reduce((n, f) => n + f.size, 0);
    const order = files
      .filter((f) => !remove.has(f.key))
      .sort((a, b) => Number(a.referenced) - Number(b.referenced) || a.used - b.used);
    for (const f of order) {
      if (total <= budget) break;
      remove.set(f.key, 'budget');
      total -= f.size;
    }
  }
  for (const f of files) {
    const reason = remove.get(f.key);
    if (!reason) {
      result.keptFiles++;
      result.keptBytes += f.size;
      continue;
    }
    if (!opts.dryRun && !(await deps.store.remove(f.key))) continue;
    result.removed.push({ key: f.key, size: f.size, reason });
    result.freedBytes += f.size;
  }
  if (!opts.dryRun) deps.usage.forget(result.removed.map((r) => r.key));
  return result;
}
