// `aptgate clients [--json]`: who uses the proxy (the operation cache.clients, here or on
// --server), from the server's database (written by the server every few seconds, so up to
// CLIENT_FLUSH_MS behind), enrolled or not; an address an enrolled machine last called /RPC2 from
// names the machine.
import type { Command } from 'commander';
import { CLIENT_FLUSH_MS } from '../proxy/clients.js';
import type { ClientInfo } from '../proxy/queries.js';
import { opRunner, type RemoteOpts } from './call.js';
import type { CliShell } from './fleet-context.js';
import { ago, table, when } from './fleet-format.js';
import { formatBytes } from '../term/bytes.js';

export function formatClients(cs: readonly ClientInfo[], now = Date.now()): string {
  if (!cs.length)
    return `no clients yet (the server records them as it serves, ${CLIENT_FLUSH_MS / 1000} s behind at most)\n`;
  return table(
    ['ADDRESS', 'MACHINE', 'FIRST SEEN', 'LAST SEEN', 'REQUESTS', 'SERVED', 'HITS'],
    cs.map((c) => [
      c.address,
      c.machines.length ? c.machines.map((m) => `${m.hostname} (${m.id})`).join(', ') : '-',
      when(c.firstSeen),
      ago(c.lastSeen, now),
      String(c.requests),
      formatBytes(c.bytes),
      c.hitRatio === null ? '-' : `${Math.round(c.hitRatio * 100)}%`,
    ]),
  );
}

export function registerClientsCommand(program: Command, shell: CliShell): void {
  const run = opRunner(shell);
  shell
    .configured(
      program
        .command('clients')
        .description(
          'who uses the proxy: client addresses with first and last request, requests, bytes served, hit ratio, and the enrolled machine at each address',
        ),
    )
    .option('--json', 'machine-readable output')
    .action((o: RemoteOpts) => run(o, 'cache.clients', {}, (r: { clients: ClientInfo[] }) => formatClients(r.clients)));
}
