// Relationship fields of binary packages (Depends, Pre-Depends, Breaks, Conflicts, Provides):
// comma-separated AND of '|'-separated OR groups of `name[:archqual] [(op version)]`.

export type RelOp = '<<' | '<=' | '=' | '>=' | '>>';

export interface Relation {
  name: string;
  /** `any`, `native` or an architecture; undefined when unqualified */
  archQual: string | undefined;
  op: RelOp | undefined;
  version: string | undefined;
}

/** AND of OR groups */
export type RelationList = Relation[][];

const OP_ALIASES: Record<string, RelOp> = {
  '<<': '<<',
  '<=': '<=',
  '=': '=',
  '>=': '>=',
  '>>': '>>',
  '<': '<=',
  '>': '>=',
};

const ITEM_RE = /^([A-Za-z0-9][A-Za-z0-9+.-]*)(?::([A-Za-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^\s)]+)\s*\))?$/;

// Arch restriction lists and build profiles only occur in source relations; they are dropped.
const RESTRICTIONS_RE = /\[[^\]]*\]|<[^<>]*>(?![=<>])/g;

function parseItem(text: string): Relation | undefined {
  const t = text.replace(RESTRICTIONS_RE, '').trim();
  const m = ITEM_RE.exec(t);
  if (!m) return undefined;
  return {
    name: m[1]!.toLowerCase(),
    archQual: m[2],
    op: m[3] === undefined ? undefined : OP_ALIASES[m[3]],
    version: m[4],
  };
}

/**
 * Parses a relationship field. Unparsable items are dropped from their group; a group left
 * empty is dropped (apt would refuse such an index; here a best-effort reading is kept).
 */
export function parseRelations(field: string | undefined | null): RelationList {
  if (!field) return [];
  const out: RelationList = [];
  for (const group of field.split(',')) {
    const alts: Relation[] = [];
    for (const alt of group.split('|')) {
      const r = parseItem(alt);
      if (r) alts.push(r);
    }
    if (alts.length) out.push(alts);
  }
  return out;
}

/** Provides: a flat list (no alternatives). */
export function parseProvides(field: string | undefined | null): Relation[] {
  return parseRelations(field).map((g) => g[0]!);
}
