// release-upgrade on an LTSP server: one job moves the host, then each of its chroots, to the
// next release; the first failure stops it (the rest is not attempted) and the result says
// where it stopped. The host's transcript and each chroot's follow one another.
import { runJob, type RunJobOptions } from '../executors.js';
import { Transcript, TRANSCRIPT_CAP } from '../run.js';
import type { AptTarget, JobResult, JobSpec } from '../types.js';
import { knownReleaseOrders, stepError } from '../release.js';
import { osReleaseOf } from './inspect.js';
import { runChrootJob, type ChrootJobContext } from './job.js';

export interface UpgradeChroot {
  name: string;
  /** undefined: the agent cannot manage it (why is in skipped) */
  ctx?: ChrootJobContext;
  skipped?: string;
}

export async function releaseUpgradeAll(
  job: JobSpec,
  host: AptTarget,
  chroots: readonly UpgradeChroot[],
  opts: RunJobOptions & { stop?: AbortSignal } = {},
): Promise<JobResult> {
  const started = Date.now();
  const t = new Transcript(TRANSCRIPT_CAP, opts.onOutput);
  const parts: string[] = [];
  let changed = false;
  let rebootRequired = false;
  // a chroot moves with its host when it runs the host's release, or is one supported step from
  // the target itself (a retry after the host moved already): never several releases at once
  const hostFrom = (await osReleaseOf(host.root))['VERSION_CODENAME'] ?? '';
  const to = String(job.params['codename']);
  const orders = await knownReleaseOrders();
  const why = (c: UpgradeChroot): string | undefined => {
    if (!c.ctx) return c.skipped ?? 'not manageable';
    const from = c.ctx.info.codename;
    if (from === hostFrom || from === to || (from && orders.length && !stepError(from, to, orders))) return undefined;
    return `it runs ${from || 'an unknown release'}, the host ${hostFrom || 'an unknown one'}: give it a release-upgrade of its own`;
  };
  type Step = { label: string; skip?: string; run: () => Promise<JobResult> };
  const steps: Step[] = [
    { label: 'host', run: () => runJob(job, host, opts) },
    ...chroots.map((c): Step => {
      const skip = why(c);
      return {
        label: `chroot ${c.name}`,
        ...(skip === undefined ? {} : { skip }),
        run: () => runChrootJob(c.ctx!, job, opts),
      };
    }),
  ];
  let failed: JobResult | undefined;
  let failedAt = '';
  for (const [i, s] of steps.entries()) {
    if (failed) {
      parts.push(`${s.label}: not attempted`);
      continue;
    }
    if (opts.stop?.aborted && i > 0) {
      // the agent is stopping: what is left waits for the same job again
      failed = {
        exitCode: 1,
        durationMs: 0,
        transcript: '',
        failure: 'other',
        summary: 'the agent was stopped',
        changed: false,
        rebootRequired: false,
      };
      failedAt = s.label;
      parts.push(`${s.label}: not attempted (the agent was stopped; run the job again)`);
      continue;
    }
    t.line(`## ${s.label}`);
    if (s.skip !== undefined) {
      // a chroot the agent cannot run, or on another release: reported, not a failure of the others
      parts.push(`${s.label}: skipped (${s.skip})`);
      t.line(`# skipped: ${s.skip}`);
      continue;
    }
    let r: JobResult;
    try {
      r = await s.run();
    } catch (err) {
      r = {
        exitCode: 1,
        durationMs: 0,
        transcript: `# agent error: ${(err as Error).message}\n`,
        failure: 'other',
        summary: (err as Error).message.split('\n')[0]!,
        changed: false,
        rebootRequired: false,
      };
    }
    t.add(r.transcript);
    changed ||= r.changed;
    if (i === 0) rebootRequired = r.rebootRequired;
    if (r.failure) {
      failed = r;
      failedAt = s.label;
      parts.push(`${s.label}: failed (${r.failure}): ${r.summary}`);
    } else parts.push(`${s.label}: ${r.summary}`);
    if (i === 0 && r.failure) t.line('# the host failed: its chroots are not attempted');
  }
  const summary = failed ? `stopped at ${failedAt}; ${parts.join('; ')}` : parts.join('; ');
  return {
    exitCode: failed?.exitCode ?? 0,
    durationMs: Date.now() - started,
    transcript: t.toString(),
    failure: failed?.failure,
    summary,
    changed,
    rebootRequired,
  };
}
