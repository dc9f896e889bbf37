// `aptgate jobs|schedules ...`: jobs and recurring jobs; each command runs its operation
// (ops/jobs.ts, ops/schedules.ts) here or on --server, and fleet-format.ts prints the answer.
import { Argument, Option, type Command } from 'commander';
import { JOB_KINDS } from '../protocol/wire.js';
import { offer } from '../term/completion.js';
import { readFileSync } from 'node:fs';
import { fail } from '../errors.js';
import { JOB_STATES, type JobInfo, type JobsAdded, type ScheduleInfo } from '../fleet/queries/jobs.js';
import type { JobOptionInput } from '../ops/jobs.js';
import { opRunner, type RemoteOpts } from './call.js';
import { idArgument, intOption, type CliShell } from './fleet-context.js';
import { formatJob, formatJobs, formatJobsAdded, formatSchedules, when } from './fleet-format.js';

type Json = RemoteOpts;
type Leaf = (parent: Command, spec: string, description: string) => Command;

/** The job options as commander gives them: the numbers still text, the .sources file a path. */
interface JobFlags {
  packages?: string[];
  securityOnly?: boolean;
  sourceName?: string;
  sourceFile?: string;
  codename?: string;
  allowReboot?: boolean;
  repairDpkg?: boolean;
  lockTimeout?: string;
  jobTimeout?: string;
}

/** The operation's job options; --source-file is read here (the server never reads a path it is sent). */
function jobOptions(o: JobFlags): JobOptionInput {
  let sourceContent: string | undefined;
  if (o.sourceFile !== undefined) {
    try {
      sourceContent = readFileSync(o.sourceFile, 'utf8');
    } catch (err) {
      fail('USAGE', `cannot read ${o.sourceFile}: ${(err as Error).message}`);
    }
  }
  return {
    ...(o.packages ? { packages: o.packages } : {}),
    ...(o.securityOnly === true ? { securityOnly: true } : {}),
    ...(o.sourceName === undefined ? {} : { sourceName: o.sourceName }),
    ...(sourceContent === undefined ? {} : { sourceContent }),
    ...(o.codename === undefined ? {} : { codename: o.codename }),
    ...(o.allowReboot === true ? { allowReboot: true } : {}),
    ...(o.repairDpkg === false ? { repairDpkg: false } : {}),
    ...(o.lockTimeout === undefined ? {} : { lockTimeout: intOption('--lock-timeout', o.lockTimeout, 0, 86_400) }),
    ...(o.jobTimeout === undefined ? {} : { jobTimeout: o.jobTimeout }),
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
  const run = opRunner(shell);
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
        'jobs.create',
        {
          kind,
          to: o.to,
          ...jobOptions(o),
          ...(o.notBefore === undefined ? {} : { notBefore: o.notBefore }),
          ...(o.deadline === undefined ? {} : { deadline: o.deadline }),
        },
        (r: JobsAdded) => formatJobsAdded(r),
      ),
    );
  leaf(jobs, 'list', 'jobs, newest first')
    .option('--machine <ref>', 'only this machine')
    .addOption(offer(new Option('--state <state>', 'only jobs in this state'), JOB_STATES))
    .option('--before <id>', 'only jobs older than this one (the next page)')
    .option('--limit <n>', 'at most this many (1..1000)', '100')
    .option('--json', 'machine-readable output')
    .action((o: Json & { machine?: string; state?: string; before?: string; limit: string }) =>
      run(
        o,
        'jobs.list',
        {
          ...(o.machine === undefined ? {} : { machine: o.machine }),
          ...(o.state === undefined ? {} : { state: o.state }),
          ...(o.before === undefined ? {} : { before: idArgument('--before', o.before) }),
          limit: intOption('--limit', o.limit, 1, 1000),
        },
        (r: { jobs: JobInfo[] }) => formatJobs(r.jobs),
      ),
    );
  leaf(jobs, 'show', 'one job with its result and transcript')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(o, 'jobs.show', { id: idArgument('job id', id) }, (j: JobInfo & { transcript: string | null }) =>
        formatJob(j),
      ),
    );
  leaf(jobs, 'cancel', 'cancel a job that has not finished (an agent running it finishes, its result is kept)')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(o, 'jobs.cancel', { id: idArgument('job id', id) }, (j: JobInfo) => `job ${j.id} cancelled\n`),
    );

  // ---- schedules ----
  const schedules = program
    .command('schedules')
    .description('recurring jobs for the machines of a class (cron, server local time)');
  leaf(schedules, 'list', 'schedules with their next run')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(o, 'schedules.list', {}, (r: { schedules: ScheduleInfo[] }) => formatSchedules(r.schedules)),
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
        'schedules.create',
        {
          ...jobOptions(o),
          class: o.class,
          kind: o.kind,
          cron: o.cron,
          ...(o.deadline === undefined ? {} : { deadline: o.deadline }),
        },
        (s: ScheduleInfo) =>
          `schedule ${s.id}: ${s.kind} for class ${s.class} at "${s.cron}", next ${when(s.nextAt)}\n`,
      ),
    );
  leaf(schedules, 'remove', 'remove a schedule (jobs it created stay)')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(o, 'schedules.remove', { id: idArgument('schedule id', id) }, done(`schedule ${id} removed`)),
    );
}
