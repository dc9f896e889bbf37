// Every operation, by name: the command line, the API and (through it) the console reach the
// server only through these. A group of operations per file (the noun it serves); a test checks
// that names, and method + path pairs, are unique and that each is documented in docs/api.md.
import { apiTokenOps, auditOps, userOps } from './access.js';
import { machineOps } from './machines.js';
import { classOps } from './classes.js';
import { jobOps } from './jobs.js';
import { scheduleOps } from './schedules.js';
import { cacheOps } from './cache.js';
import { advisoryOps } from './advisories.js';
import { cveOps } from './cves.js';
import { gateOps } from './gate.js';
import { rolloutOps } from './rollouts.js';
import { siteOps } from './sites.js';
import type { AnyOperation } from './operation.js';
import { overviewOps } from './overview.js';
import { packageOps } from './packages.js';
import { pushOps } from './push.js';
import { tokenOps } from './tokens.js';

export const OPERATIONS: readonly AnyOperation[] = [
  ...userOps,
  ...apiTokenOps,
  ...auditOps,
  ...overviewOps,
  ...machineOps,
  ...packageOps,
  ...tokenOps,
  ...pushOps,
  ...classOps,
  ...jobOps,
  ...scheduleOps,
  ...gateOps,
  ...rolloutOps,
  ...cacheOps,
  ...advisoryOps,
  ...cveOps,
  ...siteOps,
];

const byName = new Map<string, AnyOperation>(OPERATIONS.map((o) => [o.name, o]));

export function operation(name: string): AnyOperation {
  const o = byName.get(name);
  // a programming error (a command naming an operation that does not exist), not a user's
  if (!o) throw new Error(`no operation ${name}`);
  return o;
}
