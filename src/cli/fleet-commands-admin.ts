// `aptgate classes|jobs|schedules`: what the administrator decides for the fleet (registered by
// fleet-commands.ts, with the same output conventions: human by default, --json everywhere).
import { Argument, Option, type Command } from 'commander';
import { RULE_FIELDS } from '../fleet/classes.js';
import { JOB_KINDS } from '../protocol/wire.js';
import { offer } from '../term/completion.js';
import {
  addMembers,
  addWindow,
  bindClass,
  createClass,
  listClasses,
  removeMembers,
  removeRule,
  removeWindow,
} from '../fleet/queries/classes.js';
import {
  JOB_STATES,
  addJobs,
  addSchedule,
  cancelJob,
  listJobs,
  listSchedules,
  showJob,
  type JobOptions,
} from '../fleet/queries/jobs.js';
import { formatBinding, formatClassList } from './gate-format.js';
import {
  dateOption,
  durationOption,
  idArgument,
  intOption,
  runner,
  textOption,
  type CliShell,
} from './fleet-context.js';
import { formatJob, formatJobs, formatJobsAdded, formatSchedules, when } from './fleet-format.js';
import { visible } from '../term/visible.js';

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

export function registerAdminCommands(program: Command, shell: CliShell, leaf: Leaf): void {
  const run = runner(shell);
  const done = (msg: string) => () => `${msg}\n`;

  // ---- classes ----
  const classes = program
    .command('classes')
    .description('classes of machines: members, match rules, stage of the release gate, maintenance windows');
  leaf(classes, 'list', 'classes with members, rules, stage, windows and schedules')
    .option('--json', 'machine-readable output')
    .action((o: Json) =>
      run(
        o,
        (ctx) => ({ classes: listClasses(ctx) }),
        (r) => formatClassList(r.classes),
      ),
    );
  leaf(classes, 'create', 'create a class')
    .argument('<name>')
    .option('--priority <n>', 'where classes disagree (the stage a machine follows), the highest priority wins', '0')
    .option('--description <text>', 'what the class is for')
    .option('--stage <stage>', 'its machines follow this stage of the release gate (as classes bind does)')
    .option('--gate', 'with --stage: its machines are test machines of that stage')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json & { priority: string; description?: string; stage?: string; gate?: boolean }) =>
      run(
        o,
        (ctx) =>
          createClass(ctx, name, {
            priority: intOption('--priority', o.priority, -1_000_000, 1_000_000),
            ...(o.description === undefined ? {} : { description: textOption('--description', o.description) }),
            ...(o.stage === undefined ? {} : { stage: o.stage }),
            gate: o.gate === true,
          }),
        (c) =>
          `class ${c.name} created${c.stage ? `, bound to stage ${c.stage}${c.gate ? ' (gate class)' : ''}` : ''}\n`,
      ),
    );
  leaf(classes, 'bind', "bind a class to a stage: its machines get that stage's sources from their agent at check-in")
    .argument('<name>')
    .argument('<stage>', 'a stage of [gate] stages')
    .option('--gate', 'its machines are test machines of the stage (their upgrades open its gate)')
    .option('--json', 'machine-readable output')
    .action((name: string, stage: string, o: Json & { gate?: boolean }) =>
      run(o, (ctx) => bindClass(ctx, name, stage, o.gate === true), formatBinding),
    );
  leaf(classes, 'unbind', 'the class no longer binds its machines to a stage')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json) => run(o, (ctx) => bindClass(ctx, name, null, false), formatBinding));
  leaf(classes, 'delete', 'delete a class (its schedules and windows go with it; machines stay)')
    .argument('<name>')
    .option('--json', 'machine-readable output')
    .action((name: string, o: Json) =>
      run(
        o,
        (ctx) => {
          ctx.fleet.classes.remove(name);
          return { deleted: name };
        },
        done(`class ${name} deleted`),
      ),
    );
  leaf(classes, 'add', 'add machines to a class explicitly')
    .argument('<name>')
    .argument('<machine...>', 'machine ids or hostnames')
    .option('--json', 'machine-readable output')
    .action((name: string, refs: string[], o: Json) =>
      run(
        o,
        (ctx) => ({ class: name, added: addMembers(ctx, name, refs) }),
        (r) => `${name}: added ${r.added.map((m) => visible(m.hostname)).join(', ')}\n`,
      ),
    );
  leaf(classes, 'remove', 'remove explicit members from a class')
    .argument('<name>')
    .argument('<machine...>', 'machine ids or hostnames')
    .option('--json', 'machine-readable output')
    .action((name: string, refs: string[], o: Json) =>
      run(
        o,
        (ctx) => ({ class: name, removed: removeMembers(ctx, name, refs) }),
        (r) =>
          r.removed
            .map(
              (m) =>
                `${name}: ${visible(m.hostname)} ${m.removed ? 'removed' : 'was not an explicit member'}${m.stillByRule ? ' (a rule of the class still matches it)' : ''}\n`,
            )
            .join(''),
      ),
    );
  leaf(classes, 'rule-add', 'machines whose FIELD matches PATTERN belong to the class')
    .argument('<name>')
    .addArgument(offer(new Argument('<field>', 'hostname, architecture or codename'), RULE_FIELDS))
    .argument('<pattern>', 'glob (web-*, [ab]?-db) or /regex/')
    .option('--json', 'machine-readable output')
    .action((name: string, field: string, pattern: string, o: Json) =>
      run(
        o,
        (ctx) => {
          ctx.fleet.classes.addRule(name, field, pattern);
          return { class: name, field, pattern };
        },
        done(`${name}: rule ${field} ${pattern} added`),
      ),
    );
  leaf(classes, 'rule-remove', 'remove a match rule')
    .argument('<name>')
    .argument('<field>')
    .argument('<pattern>')
    .option('--json', 'machine-readable output')
    .action((name: string, field: string, pattern: string, o: Json) =>
      run(
        o,
        (ctx) => {
          removeRule(ctx, name, field, pattern);
          return { class: name, field, pattern };
        },
        done(`${name}: rule ${field} ${pattern} removed`),
      ),
    );
  leaf(
    classes,
    'window-add',
    "a maintenance window: disruptive jobs of the class's machines wait for one (server local time)",
  )
    .argument('<name>')
    .argument('<window>', '"mon-fri 22:00-04:00", "daily 01:00-05:00", "sat,sun 00:00-24:00"')
    .option('--json', 'machine-readable output')
    .action((name: string, text: string, o: Json) =>
      run(
        o,
        (ctx) => addWindow(ctx, name, text),
        (w) => `${name}: window ${w.id} ${w.window} added\n`,
      ),
    );
  leaf(classes, 'window-remove', 'remove a maintenance window (its id from classes list)')
    .argument('<id>')
    .option('--json', 'machine-readable output')
    .action((id: string, o: Json) =>
      run(
        o,
        (ctx) => {
          removeWindow(ctx, idArgument('window id', id));
          return { removed: Number(id) };
        },
        done(`window ${id} removed`),
      ),
    );

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
      run(
        o,
        (ctx) => {
          ctx.fleet.schedules.remove(idArgument('schedule id', id));
          return { removed: Number(id) };
        },
        done(`schedule ${id} removed`),
      ),
    );
}
