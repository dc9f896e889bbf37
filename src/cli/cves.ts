// `aptgate cves`: the advisories the fleet is exposed to (operation cves.list), or one CVE with
// --cve alone (cves.show), here or on --server; cves-format.ts prints.
import { type Command } from 'commander';
import type { CveDetail } from '../fleet/queries/exposures-cve.js';
import type { CveList } from '../fleet/queries/exposures.js';
import { callAllPages, type RemoteOpts } from './call.js';
import { formatCve, formatCveList } from './cves-format.js';
import type { CliShell } from './fleet-context.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerCveCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  leaf(
    program,
    'cves',
    'security advisories the machines are exposed to, and where each fix stands (--cve alone: one CVE, its machines and the gate)',
  )
    .option('--machine <ref>', 'only this machine (id or hostname)')
    .option('--cve <id>', 'only this CVE; without --machine, the CVE in detail')
    .option('--urgency <urgency>', 'only issues of this urgency: critical, high, medium, low, unimportant, unknown')
    .option('--json', 'machine-readable output')
    .action(async (o: RemoteOpts & { machine?: string; cve?: string; urgency?: string }) => {
      if (o.cve !== undefined && o.machine === undefined && o.urgency === undefined) {
        const d = (await callAllPages(shell, o, 'cves.show', { cve: o.cve }, 'machines')) as unknown as CveDetail;
        shell.out(o.json ? JSON.stringify(d, null, 2) + '\n' : formatCve(d));
        return;
      }
      const input = {
        ...(o.machine === undefined ? {} : { machine: o.machine }),
        ...(o.cve === undefined ? {} : { cve: o.cve }),
        ...(o.urgency === undefined ? {} : { urgency: o.urgency }),
      };
      const r = (await callAllPages(shell, o, 'cves.list', input, 'cves')) as unknown as CveList;
      shell.out(o.json ? JSON.stringify(r, null, 2) + '\n' : formatCveList(r));
    });
}
