// Runs one job on a target: validates it, then calls apt-get / apt-mark / dpkg with argument
// vectors (never a shell), non-interactive, within the job's time, and says what happened.
import { readFile } from 'node:fs/promises';
import { dpkgFailureSummary } from '../index/dpkg-output.js';
import { isFile } from '../sys/fs.js';
import { osReleaseOf } from './chroot/inspect.js';
import { aptUpgradable, collectSources, dpkgInterrupted } from './collect.js';
import { knownReleaseOrders, namesRelease, renameSuites, stepError } from './release.js';
import { classifyFailure, keptBack, lastError, lockHolder, reasonLine } from './failure.js';
import { runCommand, Transcript, TRANSCRIPT_CAP, type RunOutcome } from './run.js';
import { addSource, changeFiles, removeSource, sourcesContentError, type SourceChange } from './sources.js';
import { aptCommand, dpkgCommand, targetEnv, type AptProgram, type Command } from './target.js';
import { CODENAME_RE, JOB_KINDS, type AptTarget, type FailureReason, type JobResult, type JobSpec } from './types.js';
import { packagesOf, policyError, sourceNameOf } from './validate.js';

export interface RunJobOptions {
  /** every piece of output as it arrives (the transcript keeps the last 64 KiB) */
  onOutput?: (s: string) => void;
  /** aborts the running command (process group: SIGTERM, then SIGKILL) */
  signal?: AbortSignal;
  /** what kind reboot runs; default ['systemctl', 'reboot'] */
  rebootCommand?: string[];
}

/** exit code of a job that could not be accepted (nothing ran) */
export const INVALID_EXIT = 2;
/** exit code of a job stopped by its timeout (like timeout(1)) */
export const TIMEOUT_EXIT = 124;

interface Outcome {
  exitCode: number;
  failure?: FailureReason;
  summary: string;
  /** output to classify when failure is not given and exitCode != 0 */
  output?: string;
  /** packages the job asked for (a hold keeping one back is a failure) */
  required?: string[];
}

interface Ctx {
  job: JobSpec;
  target: AptTarget;
  transcript: Transcript;
  signal: AbortSignal;
  run(cmd: Command): Promise<RunOutcome>;
  apt(program: AptProgram, args: string[]): Command;
}

const DPKG_KINDS = new Set(['upgrade', 'dist-upgrade', 'install', 'remove', 'release-upgrade']);

async function fileText(p: string): Promise<string> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return '';
  }
}

/** Why the job cannot run at all (checked before anything runs). */
function invalidReason(job: JobSpec, target: AptTarget, opts: RunJobOptions): string | undefined {
  if (!JOB_KINDS.includes(job.kind)) return `unknown job kind ${JSON.stringify(String(job.kind).slice(0, 50))}`;
  if (typeof job.params !== 'object' || job.params === null) return 'params must be an object';
  const pol = policyError(job);
  if (pol) return pol;
  switch (job.kind) {
    case 'install':
    case 'remove':
    case 'hold':
    case 'unhold': {
      const p = packagesOf(job);
      return 'error' in p ? p.error : undefined;
    }
    case 'upgrade': {
      const s = job.params['securityOnly'];
      return s === undefined || typeof s === 'boolean' ? undefined : 'params.securityOnly must be a boolean';
    }
    case 'add-source':
    case 'remove-source': {
      const n = sourceNameOf(job);
      if ('error' in n) return n.error;
      if (job.kind === 'remove-source') return undefined;
      const content = job.params['content'];
      if (typeof content !== 'string') return 'params.content must be a string';
      const err = sourcesContentError(content);
      return err ? `invalid sources content: ${err}` : undefined;
    }
    case 'release-upgrade': {
      const c = job.params['codename'];
      return typeof c === 'string' && CODENAME_RE.test(c) ? undefined : 'params.codename must be a release codename';
    }
    case 'image-revert':
      return target.chroot ? undefined : 'image-revert is for LTSP chroots';
    case 'reboot': {
      if (target.chroot) return 'an LTSP chroot does not reboot; its clients do';
      if (!job.policy.allowReboot) return "reboot not allowed by the job's policy";
      const cmd = opts.rebootCommand;
      return cmd === undefined || (cmd.length > 0 && cmd.every((a) => typeof a === 'string'))
        ? undefined
        : 'empty reboot command';
    }
    default:
      return undefined;
  }
}

/** "2 upgraded, 1 newly installed, 0 to remove and 0 not upgraded." */
function aptTally(output: string): string | undefined {
  return /^\d+ upgraded, \d+ newly installed, \d+ to remove and \d+ not upgraded\.$/m.exec(output)?.[0];
}

function fromRun(what: string, r: RunOutcome, required?: string[]): Outcome {
  const out: Outcome = {
    exitCode: r.code,
    summary: r.code === 0 ? `${what}: ${aptTally(r.output) ?? 'done'}` : '',
    output: r.output,
  };
  if (required) out.required = required;
  if (r.spawnError !== undefined) {
    out.exitCode = 127;
    out.failure = 'other';
    out.summary = `${what}: ${r.spawnError}`;
  }
  return out;
}

async function aptGet(ctx: Ctx, args: string[], required?: string[]): Promise<Outcome> {
  return fromRun(
    `apt-get ${args.find((a) => !a.startsWith('-')) ?? ''}`.trim(),
    await ctx.run(ctx.apt('apt-get', args)),
    required,
  );
}

async function afterUpdate(ctx: Ctx, then: () => Promise<Outcome>): Promise<Outcome> {
  const u = await aptGet(ctx, ['update', '--error-on=any']);
  return u.exitCode === 0 ? then() : u;
}

async function securityUpgrade(ctx: Ctx): Promise<Outcome> {
  let all;
  try {
    all = await aptUpgradable(ctx.target);
  } catch (e) {
    return {
      exitCode: 1,
      failure: 'other',
      summary: `upgrade (security only): ${(e as Error).message.split('\n')[0]}`,
    };
  }
  const sec = all.filter((u) => u.security);
  ctx.transcript.line(`# upgradable: ${all.length}, from security suites: ${sec.length}`);
  if (sec.length === 0) return { exitCode: 0, summary: 'upgrade (security only): nothing to upgrade' };
  const names = sec.map((u) => (u.architecture === 'all' ? u.package : `${u.package}:${u.architecture}`));
  const o = await aptGet(ctx, ['install', '--only-upgrade', ...names]);
  if (o.exitCode === 0)
    o.summary = `upgrade (security only): ${names.join(' ')}; ${aptTally(o.output ?? '') ?? ''}`.trim();
  return o;
}

/** release-upgrade on this target: sources renamed to the new release, update, dist-upgrade. */
async function releaseUpgrade(ctx: Ctx, update: () => Promise<RunOutcome>): Promise<Outcome> {
  const to = ctx.job.params['codename'] as string;
  const from = (await osReleaseOf(ctx.target.root))['VERSION_CODENAME'] ?? '';
  if (!from)
    return {
      exitCode: 1,
      failure: 'other',
      summary: 'release-upgrade: the running release is unknown (no VERSION_CODENAME in os-release)',
    };
  const step = stepError(from, to, await knownReleaseOrders());
  if (step) return { exitCode: 1, failure: 'invalid-job', summary: `release-upgrade: ${step}` };
  const files = await collectSources(ctx.target);
  const changes = files
    .map((f) => ({ file: f.path, content: renameSuites(f.content, from, to), before: f.content }))
    .filter((c) => c.content !== c.before);
  // a run that failed in dist-upgrade left the sources renamed already: it continues from there
  if (from !== to && !changes.length && !files.some((f) => namesRelease(f.content, to)))
    return { exitCode: 1, failure: 'other', summary: `release-upgrade: no apt source names ${from} or ${to}` };
  ctx.transcript.line(
    `# release-upgrade ${from} -> ${to}: ${changes.length ? changes.map((c) => c.file).join(' ') : 'sources already name it'}`,
  );
  const c = await changeFiles(changes, update, `release-upgrade ${from} -> ${to}`);
  if (!c.ok) return fromSourceChange(c);
  const o = await aptGet(ctx, ['dist-upgrade']);
  if (o.exitCode === 0) o.summary = `release-upgrade ${from} -> ${to}: ${aptTally(o.output ?? '') ?? 'done'}`;
  return o;
}

function fromSourceChange(c: SourceChange): Outcome {
  return c.ok
    ? { exitCode: 0, summary: c.summary }
    : { exitCode: c.exitCode || 1, summary: c.summary, output: c.failedOutput };
}

async function execute(ctx: Ctx, opts: RunJobOptions): Promise<Outcome> {
  const { job, target } = ctx;
  if (DPKG_KINDS.has(job.kind) && (await dpkgInterrupted(target))) {
    if (!job.policy.repairDpkg) {
      ctx.transcript.line('# dpkg was interrupted; the job does not allow `dpkg --configure -a`');
      return {
        exitCode: 1,
        failure: 'dpkg-interrupted',
        summary: 'dpkg was interrupted and the job does not allow repairing it',
      };
    }
    const r = await ctx.run(dpkgCommand(target, ['--configure', '-a']));
    if (r.code !== 0) {
      const o = fromRun('dpkg --configure -a', r);
      return {
        ...o,
        failure: o.failure ?? (classifyFailure(r.output, r.code) === 'other' ? 'dpkg-interrupted' : undefined),
      };
    }
  }
  const pkgs = (): string[] => job.params['packages'] as string[];
  const update = () => ctx.run(ctx.apt('apt-get', ['update', '--error-on=any']));
  switch (job.kind) {
    case 'update':
      return aptGet(ctx, ['update', '--error-on=any']);
    // an upgrade means "to what the repositories offer now": the lists are updated first
    case 'upgrade':
      return afterUpdate(ctx, () =>
        job.params['securityOnly'] === true ? securityUpgrade(ctx) : aptGet(ctx, ['upgrade']),
      );
    case 'dist-upgrade':
      return afterUpdate(ctx, () => aptGet(ctx, ['dist-upgrade']));
    case 'install':
      return aptGet(ctx, ['install', ...pkgs()], pkgs());
    case 'remove':
      return aptGet(ctx, ['remove', ...pkgs()]);
    case 'hold':
    case 'unhold': {
      const o = fromRun(`apt-mark ${job.kind}`, await ctx.run(aptCommand(target, 'apt-mark', [job.kind, ...pkgs()])));
      if (o.exitCode === 0) o.summary = `apt-mark ${job.kind}: ${pkgs().join(' ')}`;
      return o;
    }
    case 'add-source':
      return fromSourceChange(
        await addSource(target, job.params['name'] as string, job.params['content'] as string, update),
      );
    case 'remove-source':
      return fromSourceChange(await removeSource(target, job.params['name'] as string, update));
    case 'refresh':
      return { exitCode: 0, summary: 'refresh: the state is reported next' };
    case 'release-upgrade':
      return releaseUpgrade(ctx, update);
    // the chroot's runner does it (chroot/job.ts); here only when called for a chroot directly
    case 'image-revert':
      return { exitCode: INVALID_EXIT, failure: 'invalid-job', summary: 'image-revert is run by the chroot manager' };
    case 'reboot': {
      if (!(await isFile(target.rebootRequiredFile))) return { exitCode: 0, summary: 'no reboot required' };
      const [file, ...args] = opts.rebootCommand ?? ['systemctl', 'reboot'];
      return fromRun('reboot', await ctx.run({ file: file!, args, env: targetEnv(target) }));
    }
  }
}

function failureSummary(o: Outcome, failure: FailureReason, text: string, timeout: number): string {
  if (failure === 'timeout') return `timed out after ${timeout} s`;
  if (o.summary && o.failure !== undefined) return o.summary;
  const err = lastError(text);
  switch (failure) {
    case 'dpkg-lock':
      return `dpkg lock held by ${lockHolder(text) ?? 'another process'}`;
    case 'held-packages': {
      const kept = keptBack(text);
      return `held packages${kept.length ? `: ${kept.join(' ')}` : ''}${err ? ` (${err})` : ''}`;
    }
    // dpkg's own words name the package and the maintainer script, where apt only says
    // "Sub-process /usr/bin/dpkg returned an error code (1)"
    default:
      return [o.summary, dpkgFailureSummary(text) ?? reasonLine(text, failure) ?? err ?? `exit code ${o.exitCode}`]
        .filter(Boolean)
        .join('; ');
  }
}

/** Runs `job` on `target`; resolves with a result whatever happens (failures are in the result). */
export async function runJob(job: JobSpec, target: AptTarget, opts: RunJobOptions = {}): Promise<JobResult> {
  const started = Date.now();
  const transcript = new Transcript(TRANSCRIPT_CAP, opts.onOutput);
  const finish = async (o: Outcome & { failure: FailureReason | undefined }, changed: boolean): Promise<JobResult> => ({
    exitCode: o.exitCode,
    durationMs: Date.now() - started,
    transcript: transcript.toString(),
    failure: o.failure,
    summary: o.summary.split('\n')[0]!.slice(0, 500),
    changed,
    rebootRequired: await isFile(target.rebootRequiredFile),
  });

  const invalid = invalidReason(job, target, opts);
  if (invalid !== undefined) {
    transcript.line(`# invalid job: ${invalid}`);
    return finish({ exitCode: INVALID_EXIT, failure: 'invalid-job', summary: invalid }, false);
  }

  const statusBefore = await fileText(target.statusFile);
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    transcript.line(`# timeout: the job took longer than ${job.policy.timeout} s; stopping it`);
    ac.abort();
  }, job.policy.timeout * 1000);
  const onAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) ac.abort();
  const lockOpts: Array<[string, string]> = [
    ['Dpkg::Options::', '--force-confdef'],
    ['Dpkg::Options::', '--force-confold'],
    ['DPkg::Lock::Timeout', String(job.policy.lockTimeout)],
  ];
  const ctx: Ctx = {
    job,
    target,
    transcript,
    signal: ac.signal,
    run: (cmd) => runCommand(cmd, { transcript, signal: ac.signal }),
    apt: (program, args) => aptCommand(target, program, program === 'apt-get' ? ['-y', '-q', ...args] : args, lockOpts),
  };
  let o: Outcome;
  try {
    o = await execute(ctx, opts);
  } catch (e) {
    // the agent's own trouble (a file it cannot write, apt output it cannot read): still a result
    const msg = (e as Error).message.split('\n')[0]!;
    transcript.line(`# agent error: ${msg}`);
    o = { exitCode: 1, failure: 'other', summary: `${job.kind}: ${msg}` };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  const changed = (await fileText(target.statusFile)) !== statusBefore;
  const text = transcript.toString();
  let failure: FailureReason | undefined = o.failure;
  if (timedOut) failure = 'timeout';
  else if (failure === undefined && o.exitCode !== 0)
    failure = classifyFailure(o.output ?? text, o.exitCode, { required: o.required ?? [] });
  else if (failure === undefined && o.required?.length) {
    const kept = new Set(keptBack(o.output ?? ''));
    const held = o.required.filter((p) => kept.has(p.replace(/[:=].*$/, '')));
    if (held.length) {
      failure = 'held-packages';
      o.summary = `held packages kept back: ${held.join(' ')}`;
    }
  }
  if (failure !== undefined) {
    o.summary = failureSummary(o, failure, o.output ?? text, job.policy.timeout);
    if (timedOut) o.exitCode = TIMEOUT_EXIT;
    else if (opts.signal?.aborted) o.summary = `aborted; ${o.summary}`;
    if (o.exitCode <= 0) o.exitCode = 1;
  }
  return finish({ ...o, failure }, changed);
}
