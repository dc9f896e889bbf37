// Every operation, by name: the command line, the API and (through it) the console reach the
// server only through these. A group of operations per file (the noun it serves); a test checks
// that names, and method + path pairs, are unique and that each is documented in docs/api.md.
import { apiTokenOps, auditOps, userOps } from './access.js';
import { cacheOps } from './cache.js';
import { gateOps } from './gate.js';
import type { AnyOperation } from './operation.js';

export const OPERATIONS: readonly AnyOperation[] = [...userOps, ...apiTokenOps, ...auditOps, ...gateOps, ...cacheOps];

const byName = new Map<string, AnyOperation>(OPERATIONS.map((o) => [o.name, o]));

export function operation(name: string): AnyOperation {
  const o = byName.get(name);
  // a programming error (a command naming an operation that does not exist), not a user's
  if (!o) throw new Error(`no operation ${name}`);
  return o;
}
