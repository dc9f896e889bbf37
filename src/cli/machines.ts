// `aptgate machines ...`: enrolled machines (fleet/queries/machines.ts answers; fleet-format.ts prints).
import { type Command } from 'commander';
import {
  approveMachines,
  rejectReenrolments,
  listMachines,
  outdatedOfMachine,
  removeMachines,
  showMachine,
} from '../fleet/queries/machines.js';
import { formatMachine, formatMachineOutdated, formatMachines } from './fleet-format.js';
import { visible } from '../term/visible.js';
import { runner, type CliShell } from './fleet-context.js';

type Json = { json?: boolean };
type Leaf = (parent: Command, spec: string, description: string) => Command;

export function registerMachineCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);

  const machines = program.command('machines').description('enrolled machines: approve, inspect, remove');
  leaf(machines, 'list', 'machines with status, last contact, outdated and security counts, open jobs')
    .option('--pending', 'only machines waiting for approval')
    .option('--class <name>', 'only the machines of this class')
    .option('--json', 'machine-readable output')
    .action((o: Json & { pending?: boolean; class?: string }) =>
      run(
        o,
        (ctx) => ({
          machines: listMachines(ctx, {
            pending: o.pending === true,
            ...(o.class === undefined ? {} : { class: o.class }),
          }),
        }),
        (r) => formatMachines(r.machines),
      ),
    );
  leaf(
    machines,
    'show',
    'one machine: facts, classes, last report, disagreements with its apt, outdated packages, recent jobs',
  )
    .argument('<ref>', 'machine id or hostname')
    .option('--json', 'machine-readable output')
    .action((ref: string, o: Json) => run(o, (ctx) => showMachine(ctx, ref), formatMachine));
  leaf(machines, 'outdated', 'the outdated packages of one machine, as the server computes them')
    .argument('<ref>', 'machine id or hostname')
    .option('--json', 'machine-readable output (the entries of aptgate outdated --json)')
    .action((ref: string, o: Json) => run(o, (ctx) => outdatedOfMachine(ctx, ref), formatMachineOutdated));
  leaf(machines, 'approve', 'approve pending machines, or switch a machine to its waiting re-enrolment')
    .argument('<ref...>', 'machine ids or hostnames')
    .option('--code <code>', 'only the re-enrolment with this code (the one its agent printed)')
    .option('--json', 'machine-readable output')
    .action((refs: string[], o: Json & { code?: string }) =>
      run(
        o,
        (ctx) => ({ machines: approveMachines(ctx, refs, o.code) }),
        (r) =>
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
    .action((refs: string[], o: Json) =>
      run(
        o,
        (ctx) => ({ machines: rejectReenrolments(ctx, refs) }),
        (r) =>
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
    .action((refs: string[], o: Json) =>
      run(
        o,
        (ctx) => ({ machines: removeMachines(ctx, refs) }),
        (r) =>
          r.machines
            .map(
              (m) =>
                `${visible(m.hostname)} (machine ${m.id}): removed with ${m.jobs} job${m.jobs === 1 ? '' : 's'}${m.chroots.length ? ` and chroots ${m.chroots.map(visible).join(', ')}` : ''}\n`,
            )
            .join(''),
      ),
    );
}
