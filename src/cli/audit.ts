// `aptgate audit [--since 1d|ISO] [--user U] [--action A] [--limit N] [--json]`: who did what,
// newest first, from the server's database.
import type { Command } from 'commander';
import type { AuditQuery } from '../access/audit.js';
import { auditEntryJson, type AuditJson } from '../access/json.js';
import type { Services } from '../assembly/services.js';
import { fail } from '../errors.js';
import { formatAudit } from './access-format.js';
import { dateOption, durationOption, intOption, runner, type CliShell } from './fleet-context.js';

export function queryAudit(s: Services, q: AuditQuery): { entries: AuditJson[] } {
  return { entries: s.audit.query(q).map(auditEntryJson) };
}

/** "1d", "6h" (that long ago) or an ISO date → epoch ms. */
export function sinceOption(value: string, now: number): number {
  if (/^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*$/.test(value)) return now - durationOption('--since', value);
  if (/^\s*\d{4}-/.test(value)) return dateOption('--since', value);
  fail(
    'USAGE',
    `--since: expected a duration such as 1d or 6h, or an ISO date such as 2026-12-24, got "${value.slice(0, 40)}"`,
  );
}

export function registerAuditCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);
  leaf(program, 'audit', 'the audit log: who did what, when, from where, with what result (newest first)')
    .option('--since <when>', 'entries since this long ago (1d, 6h) or this date (2026-12-24, 2026-12-24T22:00)')
    .option('--user <name>', 'entries of this actor (a user, a token owner, "local root")')
    .option('--action <action>', 'entries of this action, or of every action under it (users → users.add, …)')
    .option('--limit <n>', 'at most this many entries (default 100, at most 1000)')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean; since?: string; user?: string; action?: string; limit?: string }) =>
      run(
        o,
        (ctx) =>
          queryAudit(ctx.services, {
            ...(o.since === undefined ? {} : { since: sinceOption(o.since, ctx.now()) }),
            ...(o.user === undefined ? {} : { user: o.user }),
            ...(o.action === undefined ? {} : { action: o.action }),
            ...(o.limit === undefined ? {} : { limit: intOption('--limit', o.limit, 1, 1000) }),
          }),
        (r) => formatAudit(r.entries),
      ),
    );
}

type Leaf = (parent: Command, spec: string, description: string) => Command;
