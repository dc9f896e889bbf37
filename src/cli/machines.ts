// `aptgate machines ...`: enrolled machines, through the operations of ops/machines.ts (here or
// on --server); fleet-format.ts prints.
import { type Command } from 'commander';
import type { MachinePage } from '../fleet/queries/machine-list.js';
import type { MachineExposures } from '../fleet/queries/exposures.js';
import type { Changed, MachineDetail, ReenrolmentInfo } from '../fleet/queries/machines.js';
import { formatExposuresSection } from './cves-format.js';
import { formatMachine, formatMachineOutdated, formatMachineWhy, formatMachines } from './fleet-format.js';
import { visible } from '../term/visible.js';
import { opRunner, type RemoteOpts } from './call.js';
import { intOption, type CliShell } from './fleet-context.js';

type Leaf = (parent: Command, spec: string, description: string) => Command;
type WithReenrolment = Changed & { reenrolment: ReenrolmentInfo | null };

interface ListOpts extends RemoteOpts {
  pending?: boolean;
  class?: string;
  search?: string;
  state?: string;
  unseen?: string;
  status?: string;
  sort?: string;
  dir?: string;
  page?: string;
  limit?: string;
}

/** The refs of a change: the first in the operation's path, the others with it. */
const refsInput = (refs: string[]) => ({ ref: refs[0]!, ...(refs.length > 1 ? { more: refs.slice(1) } : {}) });

function pageLine(r: MachinePage): string {
  if (r.limit === null) return '';
  const pages = Math.max(1, Math.ceil(r.total / r.limit));
  return `page ${r.page} of ${pages} (${r.total} machine${r.total === 1 ? '' : 's'})\n`;
}

export function registerMachineCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = opRunner(shell);

  const machines = program.command('machines').description('enrolled machines: approve, inspect, remove');
  leaf(machines, 'list', 'machines with status, last contact, outdated and security counts, open jobs')
    .option('--pending', 'only machines waiting for approval')
    .option('--class <name>', 'only the machines of this class')
    .option('--search <text>', 'only machines whose hostname contains this')
    .option(
      '--state <state>',
      'only machines in this state: up-to-date, outdated, security, reboot, unseen, pending, clone, unknown',
    )
    .option('--unseen <duration>', 'with --state unseen: not seen for longer than this (default 7d)')
    .option('--status <status>', 'only pending or approved machines')
    .option(
      '--sort <key>',
      'hostname, id, status, lastSeen, outdated, security, class, agentVersion, … (default hostname)',
    )
    .option('--dir <dir>', 'asc or desc (default asc)')
    .option('--page <n>', 'this page (from 1) of --limit machines')
    .option('--limit <n>', 'machines per page (default: all)')
    .option('--json', 'machine-readable output')
    .action((o: ListOpts) =>
      run(
        o,
        'machines.list',
        {
          ...(o.pending ? { pending: true } : {}),
          ...(o.class === undefined ? {} : { class: o.class }),
          ...(o.search === undefined ? {} : { q: o.search }),
          ...(o.state === undefined ? {} : { state: o.state }),
          ...(o.unseen === undefined ? {} : { unseen: o.unseen }),
          ...(o.status === undefined ? {} : { status: o.status }),
          ...(o.sort === undefined ? {} : { sort: o.sort }),
          ...(o.dir === undefined ? {} : { dir: o.dir }),
          ...(o.page === undefined ? {} : { page: intOption('--page', o.page, 1, 1_000_000) }),
          ...(o.limit === undefined ? {} : { limit: intOption('--limit', o.limit, 1, 1000) }),
        },
        (r: MachinePage) => formatMachines(r.machines) + pageLine(r),
      ),
    );
  leaf(
    machines,
    'show',
    'one machine: facts, classes, last report, disagreements with its apt, outdated packages, recent jobs',
  )
    .argument('<ref>', 'machine id or hostname')
    .option('--json', 'machine-readable output')
    .action((ref: string, o: RemoteOpts) =>
      run(
        o,
        'machines.show',
        { ref },
        (r: MachineDetail & { exposures?: MachineExposures }) =>
          formatMachine(r) + formatExposuresSection(String(r.machine.id), r.exposures),
      ),
    );
  leaf(machines, 'outdated', 'the outdated packages of one machine, as the server computes them')
    .argument('<ref>', 'machine id or hostname')
    .option('--json', 'machine-readable output (the entries of aptgate outdated --json, each with its `why`)')
    .option('--why', 'each pending update once, with why it is pending (apt, the gate, the cooldown)')
    .action((ref: string, o: RemoteOpts & { why?: boolean }) =>
      run(o, 'machines.outdated', { ref }, o.why ? formatMachineWhy : formatMachineOutdated),
    );
  leaf(machines, 'approve', 'approve pending machines, or switch a machine to its waiting re-enrolment')
    .argument('<ref...>', 'machine ids or hostnames')
    .option('--code <code>', 'only the re-enrolment with this code (the one its agent printed)')
    .option('--json', 'machine-readable output')
    .action((refs: string[], o: RemoteOpts & { code?: string }) =>
      run(
        o,
        'machines.approve',
        { ...refsInput(refs), ...(o.code === undefined ? {} : { code: o.code }) },
        (r: { machines: WithReenrolment[] }) =>
          r.machines
            .map((m) =>
              m.reenrolment
                ? `${visible(m.hostname)} (machine ${m.id}): re-enrolment approved (code ${m.reenrolment.code}, from ${m.reenrolment.from}, as ${visible(m.reenrolment.hostname)}): the new credential replaces the old one, jobs handed to the old one are handed out again\n`
                : `${visible(m.hostname)} (machine ${m.id}): ${m.changed ? 'approved' : 'was approved already'}\n`,
            )
            .join(''),
      ),
    );
  leaf(machines, 'reject', 'refuse the waiting re-enrolment of machines (they keep their current identity)')
    .argument('<ref...>', 'machine ids or hostnames')
    .option('--json', 'machine-readable output')
    .action((refs: string[], o: RemoteOpts) =>
      run(o, 'machines.reject', refsInput(refs), (r: { machines: WithReenrolment[] }) =>
        r.machines
          .map(
            (m) =>
              `${visible(m.hostname)} (machine ${m.id}): ${m.reenrolment ? `re-enrolment (code ${m.reenrolment.code}, from ${m.reenrolment.from}) refused` : 'no re-enrolment waits'}\n`,
          )
          .join(''),
      ),
    );
  leaf(machines, 'remove', 'forget machines (their jobs and LTSP chroots go with them; the agent must enrol again)')
    .argument('<ref...>', 'machine ids or hostnames')
    .option('--json', 'machine-readable output')
    .action((refs: string[], o: RemoteOpts) =>
      run(
        o,
        'machines.remove',
        refsInput(refs),
        (r: { machines: Array<Changed & { jobs: number; chroots: string[] }> }) =>
          r.machines
            .map(
              (m) =>
                `${visible(m.hostname)} (machine ${m.id}): removed with ${m.jobs} job${m.jobs === 1 ? '' : 's'}${m.chroots.length ? ` and chroots ${m.chroots.map(visible).join(', ')}` : ''}\n`,
            )
            .join(''),
      ),
    );
}
