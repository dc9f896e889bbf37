// `aptgate audit [--since 1d|ISO] [--user U] [--action A] [--limit N] [--json]`: who did what,
// newest first (the operation audit.list, here or on --server).
import type { Command } from 'commander';
import type { AuditJson } from '../access/json.js';
import { formatAudit } from './access-format.js';
import { opRunner, type RemoteOpts } from './call.js';
import { intOption, type CliShell } from './fleet-context.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerAuditCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  leaf(program, 'audit', 'the audit log: who did what, when, from where, with what result (newest first)')
    .option('--since <when>', 'entries since this long ago (1d, 6h) or this date (2026-12-24, 2026-12-24T22:00)')
    .option('--user <name>', 'entries of this actor (a user, a token owner, "local root")')
    .option('--action <action>', 'entries of this action, or of every action under it (users → users.add, …)')
    .option('--limit <n>', 'at most this many entries (default 100, at most 1000)')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts & { since?: string; user?: string; action?: string; limit?: string }) =>
      run(
        o,
        'audit.list',
        {
          ...(o.since === undefined ? {} : { since: o.since }),
          ...(o.user === undefined ? {} : { user: o.user }),
          ...(o.action === undefined ? {} : { action: o.action }),
          ...(o.limit === undefined ? {} : { limit: intOption('--limit', o.limit, 1, 1000) }),
        },
        (r: { entries: AuditJson[] }) => formatAudit(r.entries),
      ),
    );
}
