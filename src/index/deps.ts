// Dependency checks against a set of installed package instances, with apt's multi-arch rules:
// an unqualified dependency is resolved in the depending package's architecture unless the target
// is Multi-Arch: foreign; `:any` also accepts Multi-Arch: allowed; Provides count, versioned only
// when the provide is versioned; Breaks/Conflicts never hit the package itself; Multi-Arch: same
// instances of one name must stay at one version.
import { parseProvides, parseRelations, type Relation, type RelationList } from './relations.js';
import { compareVersions } from './version.js';
import type { VersionInfo } from './view.js';

const relCache = new Map<string, RelationList>();
const provCache = new Map<string, Relation[]>();

export function relations(field: string | undefined): RelationList {
  if (!field) return [];
  let r = relCache.get(field);
  if (r === undefined) {
    if (relCache.size > 100_000) relCache.clear();
    r = parseRelations(field);
    relCache.set(field, r);
  }
  return r;
}

export function provides(field: string | undefined): Relation[] {
  if (!field) return [];
  let r = provCache.get(field);
  if (r === undefined) {
    if (provCache.size > 100_000) provCache.clear();
    r = parseProvides(field);
    provCache.set(field, r);
  }
  return r;
}

export function versionSatisfies(version: string, op: Relation['op'], want: string | undefined): boolean {
  if (op === undefined || want === undefined) return true;
  const c = compareVersions(version, want);
  switch (op) {
    case '<<': return c < 0;
    case '<=': return c <= 0;
    case '=': return c === 0;
    case '>=': return c >= 0;
    case '>>': return c > 0;
  }
}

/** A package instance in some state: name, architecture apt files it under, version it is at. */
export interface Slot {
  name: string;
  instanceArch: string;
  info: VersionInfo;
}

/** Looks up the instances (and providers) a relation can reach inside a state. */
export class StateIndex {
  private readonly byName = new Map<string, number[]>();
  private readonly byProvide = new Map<string, number[]>();

  /** `current(i)` gives slot i's version in the state being checked. */
  constructor(private readonly slots: readonly Slot[], private readonly nativeArch: string, private readonly current: (i: number) => VersionInfo | undefined, extraProviders: (i: number) => Iterable<VersionInfo>) {
    slots.forEach((s, i) => {
      push(this.byName, s.name, i);
      for (const info of extraProviders(i)) for (const p of provides(info.provides)) push(this.byProvide, p.name, i);
    });
    for (const list of this.byProvide.values()) dedupe(list);
  }

  private archAccepts(rel: Relation, fromArch: string, slotArch: string, multiArch: string | undefined): boolean {
    const q = rel.archQual;
    if (q === undefined) return slotArch === fromArch || multiArch === 'foreign';
    if (q === 'any') return slotArch === fromArch || multiArch === 'allowed' || multiArch === 'foreign';
    if (q === 'native') return slotArch === this.nativeArch;
    return slotArch === q;
  }

  /** Whether some instance (or provider) at its current version satisfies `rel` for a package of `fromArch`. */
  satisfied(rel: Relation, fromArch: string): boolean {
    for (const i of this.byName.get(rel.name) ?? []) {
      const v = this.current(i);
      if (!v) continue;
      if (!this.archAccepts(rel, fromArch, this.slots[i]!.instanceArch, v.multiArch)) continue;
      if (versionSatisfies(v.version, rel.op, rel.version)) return true;
    }
    for (const i of this.byProvide.get(rel.name) ?? []) {
      const v = this.current(i);
      if (!v) continue;
      for (const p of provides(v.provides)) {
        if (p.name !== rel.name) continue;
        if (!this.archAccepts(rel, fromArch, this.slots[i]!.instanceArch, v.multiArch)) continue;
        if (rel.op === undefined || (p.version !== undefined && p.op === '=' && versionSatisfies(p.version, rel.op, rel.version))) return true;
      }
    }
    return false;
  }

  /** Instances (other than `self`) a Breaks/Conflicts relation hits at their current versions. */
  hits(rel: Relation, self: number): number[] {
    const out: number[] = [];
    for (const i of this.byName.get(rel.name) ?? []) {
      if (i === self) continue;
      const v = this.current(i);
      if (!v) continue;
      if (rel.archQual !== undefined && rel.archQual !== 'any' && this.slots[i]!.instanceArch !== (rel.archQual === 'native' ? this.nativeArch : rel.archQual)) continue;
      if (versionSatisfies(v.version, rel.op, rel.version)) out.push(i);
    }
    for (const i of this.byProvide.get(rel.name) ?? []) {
      if (i === self || out.includes(i)) continue;
      const v = this.current(i);
      if (!v) continue;
      for (const p of provides(v.provides)) {
        if (p.name !== rel.name) continue;
        if (rel.op === undefined || (p.version !== undefined && versionSatisfies(p.version, rel.op, rel.version))) {
          out.push(i);
          break;
        }
      }
    }
    return out;
  }

  /** Instances named `rel.name` or providing it, whatever their version (apt's AllTargets owners). */
  owners(rel: Relation): number[] {
    const out = [...(this.byName.get(rel.name) ?? [])];
    for (const i of this.byProvide.get(rel.name) ?? []) if (!out.includes(i)) out.push(i);
    return out;
  }

  /** Other instances of the same name (multi-arch siblings). */
  siblings(i: number): number[] {
    return (this.byName.get(this.slots[i]!.name) ?? []).filter((j) => j !== i);
  }
}

function push(map: Map<string, number[]>, key: string, v: number): void {
  const list = map.get(key);
  if (list) list.push(v);
  else map.set(key, [v]);
}

function dedupe(list: number[]): void {
  const seen = new Set(list);
  list.length = 0;
  list.push(...seen);
}

export type Breakage =
  | { kind: 'depends'; group: Relation[] }
  | { kind: 'conflicts'; rel: Relation; hits: number[] }
  | { kind: 'multiarch'; siblings: number[] };

/** The critical relations of slot `i` at `info` that the state does not satisfy. */
export function criticalBreakage(idx: StateIndex, i: number, info: VersionInfo, fromArch: string, siblingVersion: (j: number) => string | undefined): Breakage[] {
  const out: Breakage[] = [];
  for (const field of [info.preDepends, info.depends]) {
    for (const group of relations(field)) {
      if (!group.some((r) => idx.satisfied(r, fromArch))) out.push({ kind: 'depends', group });
    }
  }
  for (const field of [info.breaks, info.conflicts]) {
    for (const group of relations(field)) {
      for (const rel of group) {
        const hits = idx.hits(rel, i);
        if (hits.length) out.push({ kind: 'conflicts', rel, hits });
      }
    }
  }
  if (info.multiArch === 'same') {
    const bad = idx.siblings(i).filter((j) => {
      const v = siblingVersion(j);
      return v !== undefined && v !== info.version;
    });
    if (bad.length) out.push({ kind: 'multiarch', siblings: bad });
  }
  return out;
}

/** Whether every Recommends group of `info` is satisfied in the state. */
export function recommendsSatisfied(idx: StateIndex, info: VersionInfo, fromArch: string): boolean {
  for (const group of relations(info.recommends)) if (!group.some((r) => idx.satisfied(r, fromArch))) return false;
  return true;
}
