// `aptgate overview [--unseen 7d] [--json]`: the fleet at a glance through the operation
// overview.show (here or on --server): machines by state, the gate of each stage, the proxy.
import type { Command } from 'commander';
import type { FleetOverview } from '../fleet/queries/overview.js';
import type { GateStatusJson } from '../gate/queries.js';
import { visible } from '../term/visible.js';
import { opRunner, type RemoteOpts } from './call.js';
import type { CliShell } from './fleet-context.js';
import { formatBytes } from './format.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

export interface OverviewJson {
  machines: FleetOverview['machines'];
  gate: { stages: GateStatusJson[] };
  proxy: FleetOverview['proxy'];
}

const WORDS: Record<string, (unseen: string) => string> = {
  'up-to-date': () => 'up to date',
  outdated: () => 'outdated',
  security: () => 'security updates pending',
  reboot: () => 'reboot required',
  unseen: (u) => `not seen for more than ${u}`,
  pending: () => 'pending approval',
  clone: () => 'clone suspected',
  unknown: () => 'not known yet',
};

export function formatOverview(o: OverviewJson): string {
  const m = o.machines;
  const lines = [`machines: ${m.total} enrolled`];
  const width = Math.max(...Object.keys(m.states).map((s) => (WORDS[s]?.(m.unseen) ?? s).length));
  for (const [s, n] of Object.entries(m.states))
    lines.push(`  ${(WORDS[s]?.(m.unseen) ?? s).padEnd(width)}  ${n}  (aptgate machines list --state ${s})`);
  lines.push('gate:');
  if (!o.gate.stages.length) lines.push('  no stage promotes to another');
  for (const s of o.gate.stages) {
    const pending = `${s.updates.length} update${s.updates.length === 1 ? '' : 's'} pending`;
    lines.push(`  ${s.stage} → ${s.next ?? '-'}: ${s.holds ? 'open' : 'closed'}, ${pending}`);
    if (!s.holds) for (const w of s.missing.slice(0, 5)) lines.push(`    waits for: ${visible(w)}`);
  }
  const p = o.proxy;
  lines.push(
    `proxy: ${p.requests} request${p.requests === 1 ? '' : 's'} from ${p.clients} client${p.clients === 1 ? '' : 's'}, ` +
      `hit ratio ${p.hitRatio === null ? '-' : `${Math.round(p.hitRatio * 100)}%`}, ${formatBytes(p.bytes)} served`,
  );
  return lines.join('\n') + '\n';
}

export function registerOverviewCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);
  leaf(program, 'overview', 'the fleet at a glance: machines by state, the gate of each stage, the proxy')
    .option('--unseen <duration>', '"not seen" means for longer than this (default 7d)')
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts & { unseen?: string }) =>
      run(o, 'overview.show', o.unseen === undefined ? {} : { unseen: o.unseen }, (r: OverviewJson) =>
        formatOverview(r),
      ),
    );
}
