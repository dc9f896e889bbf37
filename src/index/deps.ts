// Dependency checks against a set of installed package instances, with apt's multi-arch rules:
// an unqualified dependency is resolved in the depending package's architecture unless the target
// is Multi-Arch: foreign; `:any` also accepts Multi-Arch: allowed; Provides count, versioned only
// when the provide is versioned; Breaks/Conflicts never hit the package itself; Multi-Arch: same
// instances of one name must stay at one version.
import { parseProvides, parseRelations, type Relation, type RelationList } from './relations.js';
import { nameId, versionId } from './intern.js';
import { compareValid } from './version.js';
import type { VersionInfo } from './view.js';

const relCache = new Map<string, RelationList>();
const provCache = new Map<string, Relation[]>();

// one object per distinct group text, so that a group a new version kept word for word is the
// very same object as in the installed version's relations
const groupCache = new Map<string, Relation[]>();

function internGroup(g: Relation[]): Relation[] {
  const key = g.map((r) => `${r.name}:${r.archQual ?? ''}${r.op ?? ''}${r.version ?? ''}`).join('|');
  let x = groupCache.get(key);
  if (x === undefined) {
    if (groupCache.size > 200_000) groupCache.clear();
    x = g;
    groupCache.set(key, g);
  }
  return x;
}

export function relations(field: string | undefined): RelationList {
  if (!field) return [];
  let r = relCache.get(field);
  if (r === undefined) {
    if (relCache.size > 100_000) relCache.clear();
    r = parseRelations(field).map(internGroup);
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

// relation → version → whether it satisfies: a pure result, shared by every installed set
// (relation objects are shared through the parse cache above)
const satisfiesMemo = new WeakMap<Relation, Map<string, boolean>>();

/** versionSatisfies for a relation's own constraint, memoised. */
export function relationAccepts(rel: Relation, version: string): boolean {
  if (rel.op === undefined || rel.version === undefined) return true;
  let m = satisfiesMemo.get(rel);
  if (!m) {
    m = new Map();
    satisfiesMemo.set(rel, m);
  }
  let r = m.get(version);
  if (r === undefined) {
    r = versionSatisfies(version, rel.op, rel.version);
    if (m.size < 64) m.set(version, r);
  }
  return r;
}

export function versionSatisfies(version: string, op: Relation['op'], want: string | undefined): boolean {
  if (op === undefined || want === undefined) return true;
  const c = compareValid(version, want);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}

/** A package instance in some state: name, architecture apt files it under, version it is at. */
export interface Slot {
  name: string;
  instanceArch: string;
  info: VersionInfo;
}

/**
 * What does not change while one installed set is checked against candidates: slots by name, by
 * what their installed versions provide, and by the names their installed relations mention.
 * Built once per installed set and reused for every view it is computed against.
 */
export class InstalledIndex {
  readonly byName = new Map<string, number[]>();
  readonly byProvide = new Map<string, number[]>();
  readonly refs = new Map<string, number[]>();
  /** nameId() of each slot's name */
  readonly nameIds: Int32Array;
  /** versionId() of each slot's installed version */
  readonly versionIds: Int32Array;
  /** name → the critical relation groups of installed versions that mention it (negative: Breaks/Conflicts) */
  readonly groupRefs = new Map<string, Array<{ slot: number; negative: boolean; group: Relation[] }>>();

  /** `deferred`: the caller indexes every slot, in order, with indexSlot() (a large set in slices) */
  constructor(
    readonly slots: readonly Slot[],
    deferred = false,
  ) {
    this.nameIds = new Int32Array(slots.length);
    this.versionIds = new Int32Array(slots.length);
    if (!deferred) for (let i = 0; i < slots.length; i++) this.indexSlot(i);
  }

  indexSlot(i: number): void {
    const s = this.slots[i]!;
    this.nameIds[i] = nameId(s.name);
    this.versionIds[i] = versionId(s.info.version, s.info.aptHash, s.info.multiArch);
    push(this.byName, s.name, i);
    indexVersion(s.info, i, this.byProvide, this.refs);
    for (const field of ['preDepends', 'depends', 'breaks', 'conflicts'] as const) {
      const negative = field === 'breaks' || field === 'conflicts';
      for (const group of relations(s.info[field])) {
        for (const r of group) {
          const list = this.groupRefs.get(r.name);
          const ref = { slot: i, negative, group };
          if (!list) this.groupRefs.set(r.name, [ref]);
          else if (list[list.length - 1]!.group !== group || list[list.length - 1]!.slot !== i) list.push(ref);
        }
      }
    }
  }
}

/** Adds what `info` provides and the names its relations mention, for slot i. */
export function indexVersion(
  info: VersionInfo,
  i: number,
  byProvide: Map<string, number[]>,
  refs: Map<string, number[]>,
): void {
  indexProvides(info, i, byProvide);
  indexRefs(info, i, refs);
}

export function indexProvides(info: VersionInfo, i: number, byProvide: Map<string, number[]>): void {
  for (const p of provides(info.provides)) pushOnce(byProvide, p.name, i);
}

export function indexRefs(info: VersionInfo, i: number, refs: Map<string, number[]>): void {
  for (const field of RELATION_FIELDS) {
    for (const group of relations(info[field])) for (const r of group) pushOnce(refs, r.name, i);
  }
}

const RELATION_FIELDS = ['preDepends', 'depends', 'breaks', 'conflicts', 'recommends'] as const;

/** Looks up the instances (and providers) a relation can reach inside a state. */
export class StateIndex {
  private readonly slots: readonly Slot[];
  private readonly byName: Map<string, number[]>;
  private readonly byProvide: Map<string, number[]>;

  /**
   * `current(i)` gives slot i's version in the state being checked; `extraProvide` names the
   * slots whose other (candidate) versions provide something.
   */
  constructor(
    base: InstalledIndex,
    private readonly nativeArch: string,
    private readonly current: (i: number) => VersionInfo | undefined,
    private readonly extraProvide: Map<string, number[]>,
  ) {
    this.slots = base.slots;
    this.byName = base.byName;
    this.byProvide = base.byProvide;
  }

  private providers(name: string): number[] {
    const a = this.byProvide.get(name);
    const b = this.extraProvide.get(name);
    if (!b) return a ?? [];
    if (!a) return b;
    return [...new Set([...a, ...b])];
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
      if (relationAccepts(rel, v.version)) return true;
    }
    // providers from the installed versions, then from the candidates (a slot may be in both)
    return (
      this.providedFor(this.byProvide.get(rel.name), rel, fromArch) ||
      this.providedFor(this.extraProvide.get(rel.name), rel, fromArch)
    );
  }

  private providedFor(list: number[] | undefined, rel: Relation, fromArch: string): boolean {
    if (!list) return false;
    for (const i of list) {
      const v = this.current(i);
      if (!v) continue;
      for (const p of provides(v.provides)) {
        if (p.name !== rel.name) continue;
        if (!this.archAccepts(rel, fromArch, this.slots[i]!.instanceArch, v.multiArch)) continue;
        if (
          rel.op === undefined ||
          (p.version !== undefined && p.op === '=' && versionSatisfies(p.version, rel.op, rel.version))
        )
          return true;
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
      if (
        rel.archQual !== undefined &&
        rel.archQual !== 'any' &&
        this.slots[i]!.instanceArch !== (rel.archQual === 'native' ? this.nativeArch : rel.archQual)
      )
        continue;
      if (relationAccepts(rel, v.version)) out.push(i);
    }
    for (const i of this.providers(rel.name)) {
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
    for (const i of this.providers(rel.name)) if (!out.includes(i)) out.push(i);
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

function pushOnce(map: Map<string, number[]>, key: string, v: number): void {
  const list = map.get(key);
  if (!list) map.set(key, [v]);
  else if (list[list.length - 1] !== v) list.push(v);
}

export type Breakage =
  | { kind: 'depends'; group: Relation[] }
  | { kind: 'conflicts'; rel: Relation; hits: number[] }
  | { kind: 'multiarch'; siblings: number[] };

/**
 * The critical relations of slot `i` at `info` that the state does not satisfy. With `only`,
 * relations naming nothing in it are taken as satisfied (they were in the consistent installed
 * state, and nothing they name has changed).
 */
export function criticalBreakage(
  idx: StateIndex,
  i: number,
  info: VersionInfo,
  fromArch: string,
  siblingVersion: (j: number) => string | undefined,
  only?: ReadonlySet<string>,
  installed?: VersionInfo,
): Breakage[] {
  const out: Breakage[] = [];
  // a group the installed version has word for word was satisfied: only its changed names count
  const keptOf = (field: 'preDepends' | 'depends' | 'breaks' | 'conflicts'): ((g: Relation[]) => boolean) => {
    if (only === undefined) return () => false;
    if (installed === undefined || installed === info || installed[field] === info[field]) return () => true;
    const before = relations(installed[field]);
    return (g) => before.includes(g);
  };
  for (const field of ['preDepends', 'depends'] as const) {
    const list = relations(info[field]);
    if (!list.length) continue;
    const kept = keptOf(field);
    for (const group of list) {
      if (kept(group) && !group.some((r) => only!.has(r.name))) continue;
      if (!group.some((r) => idx.satisfied(r, fromArch))) out.push({ kind: 'depends', group });
    }
  }
  for (const field of ['breaks', 'conflicts'] as const) {
    const list = relations(info[field]);
    if (!list.length) continue;
    const kept = keptOf(field);
    for (const group of list) {
      const k = kept(group);
      for (const rel of group) {
        if (k && !only!.has(rel.name)) continue;
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
