// `aptgate jobs|schedules ...`: jobs and recurring jobs (fleet/queries/jobs.ts answers; fleet-format.ts prints).
import { Argument, Option, type Command } from 'commander';
import { JOB_KINDS } from '../protocol/wire.js';
import { offer } from '../term/completion.js';
import {
  JOB_STATES,
  addJobs,
  addSchedule,
  cancelJob,
  listJobs,
  listSchedules,
  showJob,
  type JobOptions,
  removeSchedule,
} from '../fleet/queries/jobs.js';
import { dateOption, durationOption, idArgument, intOption, runner, type CliShell } from './fleet-context.js';
import { formatJob, formatJobs, formatJobsAdded, formatSchedules, when } from './fleet-format.js';

type Json = { json?: boolean };
type Leaf = (parent: Command, spec: string, description: string) => Command;

/** The job options as commander gives them: the numbers still text. */
type JobFlags = Omit<JobOptions, 'lockTimeout' | 'timeout'> & { lockTimeout?: string; jobTimeout?: string };

function jobOptions(o: JobFlags): JobOptions {
  return {
    ...(o.packages ? { packages: o.packages } : {}),
    securityOnly: o.securityOnly === true,
    ...(o.sourceName === undefined ? {} : { sourceName: o.sourceName }),
    ...(o.sourceFile === undefined ? {} : { sourceFile: o.sourceFile }),
    ...(o.codename === undefined ? {} : { codename: o.codename }),
    allowReboot: o.allowReboot === true,
    ...(o.repairDpkg === false ? { repairDpkg: false } : {}),
    ...(o.lockTimeout === undefined ? {} : { lockTimeout: intOption('--lock-timeout', o.lockTimeout, 0, 86_400) }),
    ...(o.jobTimeout === undefined
      ? {}
      : { timeout: Math.round(durationOption('--job-timeout', o.jobTimeout) / 1000) }),
  };
}

function jobFlags(cmd: Command): Command {
  return cmd
    .option('--packages <name...>', 'install/remove/hold/unhold: package names (install also name=version)')
    .option('--security-only', 'upgrade: only packages with a security update')
    .option('--source-name <name>', 'add-source/remove-source: the .sources file name (without .sources)')
    .option('--source-file <file>', 'add-source: a deb822 .sources file to install')
    .option('--codename <release>', 'release-upgrade: the release to move to (the host first, then its LTSP chroots)')
    .option('--allow-reboot', 'the job may reboot the machine (reboot jobs, upgrades that require one)')
    .option('--no-repair-dpkg', 'do not run dpkg --configure -a first when dpkg was interrupted')
    .option('--lock-timeout <seconds>', 'seconds to wait for the dpkg lock (default 300)')
    .option('--job-timeout <duration>', 'how long the job may run on the machine (default 1h)');
}

export function registerJobCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);
  const done = (msg: string) => () => `${msg}\n`;

  // ---- jobs ----
  const jobs = program.command('jobs').description('jobs: one command for one machine, with a state and a result');
  jobFlags(
    leaf(jobs, 'add', 'queue a job for every machine of the targets')
      .addArgument(
        offer(
          new Argument(
            '<kind>',
            'update, upgrade, dist-upgrade, install, remove, hold, unhold, add-source, remove-source, refresh, reboot, release-upgrade, image-revert',
          ),
          JOB_KINDS,
        ),
      )
      .requiredOption('--to <target...>', 'class names, machine ids or hostnames'),
  )
    .option('--not-before <date>', 'not delivered before this ISO date/time (local time unless a zone is given)')
    .option('--deadline <duration>', 'expires when not done within this time, e.g. 2d (default: fleet.job_deadline)')
    .option('--json', 'machine-readable output')
    .action((kind: string, o: Json & JobFlags & { to: string[]; notBefore?: string; deadline?: string }) =>
      run(
        o,
        (ctx) =>
          addJobs(ctx, kind, o.to, {
            ...jobOptions(o),
            ...(o.notBefore === undefined ? {} : { notBefore: dateOption('--not-before', o.notBefore) }),
            ...(o.deadline === undefined ? {} : { deadlineMs: durationOption('--deadline', o.deadline) }),
          }),
        formatJobsAdded,
      ),
    );
  leaf(jobs, 'list', 'jobs, newest first')
    .option('--machine <ref>', 'only this machine')
    .addOption(offer(new Option('--state <state>', 'only jobs in this state'), JOB_STATES))
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'machine-readable output')
    .action((o: Json & { machine?: string; state?: string; limit: string }) =>
      run(
        o,
        (ctx) => ({
          jobs: listJobs(ctx, {
            ...(o.machine === undefined ? {} : { machine: o.machine }),
            ...(o.state === undefined ? {} : { state: o.state }),
            limit: intOption('--limit', o.limit, 1, 100_000),
          }),
        }),
        (r) => formatJobs(r.jobs),
      ),
    );
  leaf(jobs, 'show', 'one job with its result and transcript')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) => run(o, (ctx) => showJob(ctx, idArgument('job id', id)), formatJob));
  leaf(jobs, 'cancel', 'cancel a job that has not finished (an agent running it finishes, its result is kept)')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(
        o,
        (ctx) => cancelJob(ctx, idArgument('job id', id)),
        (j) => `job ${j.id} cancelled\n`,
      ),
    );

  // ---- schedules ----
  const schedules = program
    .command('schedules')
    .description('recurring jobs for the machines of a class (cron, server local time)');
  leaf(schedules, 'list', 'schedules with their next run')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(
        o,
        (ctx) => ({ schedules: listSchedules(ctx) }),
        (r) => formatSchedules(r.schedules),
      ),
    );
  jobFlags(
    leaf(schedules, 'add', 'add a schedule')
      .requiredOption('--class <name>', 'the class whose machines get the jobs')
      .addOption(offer(new Option('--kind <kind>', 'the job kind (as for jobs add)').makeOptionMandatory(), JOB_KINDS))
      .requiredOption('--cron <expr>', 'minute hour day month weekday, e.g. "0 2 * * *"'),
  )
    .option('--deadline <duration>', 'a fired job expires when not done within this time (default 1d)')
    .option('--json', 'machine-readable output')
    .action((o: Json & JobFlags & { class: string; kind: string; cron: string; deadline?: string }) =>
      run(
        o,
        (ctx) =>
          addSchedule(ctx, {
            ...jobOptions(o),
            class: o.class,
            kind: o.kind,
            cron: o.cron,
            ...(o.deadline === undefined ? {} : { deadlineMs: durationOption('--deadline', o.deadline) }),
          }),
        (s) => `schedule ${s.id}: ${s.kind} for class ${s.class} at "${s.cron}", next ${when(s.nextAt)}\n`,
      ),
    );
  leaf(schedules, 'remove', 'remove a schedule (jobs it created stay)')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(o, (ctx) => removeSchedule(ctx, idArgument('schedule id', id)), done(`schedule ${id} removed`)),
    );
}
