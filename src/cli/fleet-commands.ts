// `aptgate token|machines|packages|push`: the administrator's fleet commands on the server host
// (the configured database is opened directly; nothing here is reachable over the network).
// Classes, jobs and schedules are registered by fleet-commands-admin.ts.
import type { Command } from 'commander';
import { checkPushOptions, push, pushCounts, type PushResult, type PushTarget } from '../fleet/push.js';
import { registerAdminCommands } from './fleet-commands-admin.js';
import { durationOption, idArgument, intOption, runner, withFleet, type CliShell } from './fleet-context.js';

export type { CliShell } from './fleet-context.js';
import {
  approveMachines,
  rejectReenrolments,
  listMachines,
  outdatedOfMachine,
  removeMachines,
  showMachine,
} from '../fleet/queries/machines.js';
import { packageUsers } from '../fleet/queries/packages.js';
import { createToken, listTokens, revokeToken } from '../fleet/queries/tokens.js';
import {
  formatMachine,
  formatMachineOutdated,
  formatMachines,
  formatPackageUsers,
  formatPush,
  formatTokenCreated,
  formatTokens,
  pushLine,
} from './fleet-format.js';
import { visible } from '../term/visible.js';

type Json = { json?: boolean };

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerFleetCommands(program: Command, shell: CliShell): void {
  const run = runner(shell);
  const leaf = (parent: Command, spec: string, description: string) =>
    shell.configured(parent.command(spec).description(description));

  // ---- token ----
  const token = program.command('token').description('enrolment tokens: what a new machine needs to join (shown once)');
  leaf(token, 'create', 'create a token and print it with the command to run on a client')
    .option('--class <name>', 'machines enrolled with it join this class')
    .option(
      '--auto-approve',
      'machines enrolled with it are approved at once (default: pending until aptgate machines approve)',
    )
    .option('--expires <duration>', 'valid for this long, e.g. 7d or 12h (default: no expiry)')
    .option('--uses <n>', 'enrolments it allows (default: unlimited)')
    .option('--note <text>', 'a note for token list')
    .option('--server <url>', 'the server URL printed in the enrol command (default http://THIS-HOST:PORT)')
    .option('--json', 'machine-readable output')
    .action(
      (
        o: Json & {
          class?: string;
          autoApprove?: boolean;
          expires?: string;
          uses?: string;
          note?: string;
          server?: string;
        },
      ) =>
        run(
          o,
          (ctx) =>
            createToken(ctx, {
              ...(o.class === undefined ? {} : { class: o.class }),
              autoApprove: o.autoApprove === true,
              ...(o.expires === undefined ? {} : { expiresMs: durationOption('--expires', o.expires) }),
              ...(o.uses === undefined ? {} : { uses: intOption('--uses', o.uses, 1, 1_000_000) }),
              ...(o.note === undefined ? {} : { note: o.note }),
              ...(o.server === undefined ? {} : { server: o.server }),
            }),
          formatTokenCreated,
        ),
    );
  leaf(token, 'list', 'tokens with their class, expiry, uses and state (never the tokens themselves)')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(
        o,
        (ctx) => ({ tokens: listTokens(ctx) }),
        (r) => formatTokens(r.tokens),
      ),
    );
  leaf(token, 'revoke', 'revoke a token: no further enrolment with it')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(
        o,
        (ctx) => revokeToken(ctx, idArgument('token id', id)),
        (t) => `token ${t.id} revoked\n`,
      ),
    );

  // ---- machines ----
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

  // ---- packages ----
  leaf(program, 'packages', 'which machines have a package installed, at which version, and whether it is outdated')
    .argument('<name>', 'binary package name, e.g. openssl')
    .option('--older-than <version>', 'only machines whose version is older (dpkg order)')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json & { olderThan?: string }) =>
      run(o, (ctx) => packageUsers(ctx, name, o.olderThan), formatPackageUsers),
    );

  // ---- push ----
  leaf(program, 'push', 'make machines pull now: set their pull-now flag and run the agent once over ssh')
    .argument('<target...>', 'class names, machine ids or hostnames')
    .option('--no-ssh', 'only set the flag: agents pull at their next check-in')
    .option('--parallel <n>', 'ssh sessions at a time', '10')
    .option('--ssh-command <cmd>', 'ssh program and leading arguments, split on blanks (no shell)', 'ssh')
    .option('--ssh-option <Key=Value>', 'passed to ssh as -o Key=Value (repeatable)', collect)
    .option('--timeout <duration>', 'kill a run that takes longer', '60s')
    .option('--json', 'machine-readable output')
    .action(
      (
        refs: string[],
        o: Json & { ssh: boolean; parallel: string; sshCommand: string; sshOption?: string[]; timeout: string },
      ) => pushCommand(shell, refs, o),
    );

  registerAdminCommands(program, shell, leaf);
}

async function pushCommand(
  shell: CliShell,
  refs: string[],
  o: Json & { ssh: boolean; parallel: string; sshCommand: string; sshOption?: string[]; timeout: string },
): Promise<void> {
  const opts = {
    sshCommand: o.sshCommand.trim().split(/\s+/).filter(Boolean),
    sshOptions: o.sshOption ?? [],
    parallel: intOption('--parallel', o.parallel, 1, 1000),
    timeoutMs: durationOption('--timeout', o.timeout),
  };
  if (o.ssh) checkPushOptions(opts);
  // the database part first (and closed again): who, the flag, and which hosts to reach
  const plan = await withFleet(shell.configFrom(o), (ctx) => {
    const targets = ctx.fleet.targets(refs);
    const approved = targets.filter((m) => m.status === 'approved');
    const skipped = targets
      .filter((m) => m.status !== 'approved')
      .map((m) => ({ id: m.id, hostname: m.hostname, reason: 'pending approval' }));
    ctx.fleet.machines.setPullNow(
      approved.map((m) => m.id),
      true,
    );
    // an LTSP chroot is run by the agent on its server: reach the server
    const hosts = new Map<number, PushTarget>();
    for (const m of approved) {
      const host = m.parentId === null ? m : (ctx.fleet.machines.byId(m.parentId) ?? m);
      hosts.set(host.id, { id: host.id, hostname: host.hostname });
    }
    return { pullNow: approved.map((m) => ({ id: m.id, hostname: m.hostname })), skipped, hosts: [...hosts.values()] };
  });
  let results: PushResult[] = [];
  if (o.ssh && plan.hosts.length) {
    const tty = process.stderr.isTTY === true;
    const counts = { answered: 0, failed: 0, unreachable: 0 };
    results = await push(plan.hosts, opts, (r, done, total) => {
      counts[r.outcome]++;
      if (tty) {
        const width = 30;
        const filled = Math.round((done / total) * width);
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${counts.answered} answered, ${counts.failed} failed, ${counts.unreachable} unreachable${done === total ? '\n' : ''}`,
        );
      } else if (!o.json) {
        process.stderr.write(`aptgate: push ${pushLine(r)}\n`);
      }
    });
  }
  const data = { pullNow: plan.pullNow, skipped: plan.skipped, ssh: o.ssh, results, counts: pushCounts(results) };
  shell.out(o.json ? JSON.stringify(data, null, 2) + '\n' : formatPush(data));
}
