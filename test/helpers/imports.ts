// The import graph of src/, by module: a folder ("fleet/") or a top-level file ("config").
// Read from the sources (static imports, re-exports and dynamic import() of relative paths, and
// node: builtins), for the guard tests of issue 15.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface ImportEdge {
  from: string;
  to: string;
  file: string;
  typeOnly: boolean;
}

export interface ImportGraph {
  /** module → modules it imports (relative imports only) */
  edges: ImportEdge[];
  /** file (relative to src) → node: builtins and packages it imports */
  externals: Map<string, string[]>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** "fleet/" for src/fleet/jobs.ts, "config" for src/config.ts. */
export function moduleOf(rel: string): string {
  const parts = rel.split('/');
  return parts.length > 1 ? `${parts[0]}/` : parts[0]!.replace(/\.ts$/, '');
}

const IMPORT =
  /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s+'([^']+)'/g;

export function importGraph(src: string): ImportGraph {
  const edges: ImportEdge[] = [];
  const externals = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const rel = path.relative(src, file).split(path.sep).join('/');
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[3] ?? m[4] ?? m[5]!;
      if (!spec.startsWith('.')) {
        externals.set(rel, [...(externals.get(rel) ?? []), spec]);
        continue;
      }
      const target = path
        .relative(src, path.resolve(path.dirname(file), spec))
        .split(path.sep)
        .join('/')
        .replace(/\.js$/, '.ts');
      const from = moduleOf(rel);
      const to = moduleOf(target);
      if (from !== to) edges.push({ from, to, file: rel, typeOnly: m[2] !== undefined });
    }
  }
  return { edges, externals };
}

/** Cycles between modules (each a list of modules), from Tarjan's strongly connected components. */
export function cycles(edges: readonly ImportEdge[], only: (m: string) => boolean = () => true): string[][] {
  const adj = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!only(e.from) || !only(e.to)) continue;
    if (!adj.has(e.from)) adj.set(e.from, new Set());
    if (!adj.has(e.to)) adj.set(e.to, new Set());
    adj.get(e.from)!.add(e.to);
  }
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of adj.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of adj.keys()) if (!idx.has(v)) visit(v);
  return out;
}
