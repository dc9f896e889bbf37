// release-upgrade on an LTSP server: one job moves the host, then each of its chroots, to the
// next release; the first failure stops it (the rest is not attempted) and the result says
// where it stopped. The host's transcript and each chroot's follow one another.
import { runJob, type RunJobOptions } from '../executors.js';
import { Transcript, TRANSCRIPT_CAP } from '../run.js';
import type { AptTarget, JobResult, JobSpec } from '../types.js';
import { osReleaseOf } from './inspect.js';
import { runChrootJob, type ChrootJobContext } from './job.js';

export interface UpgradeChroot {
  name: string;
  /** undefined: the agent cannot manage it (why is in skipped) */
  ctx?: ChrootJobContext;
  skipped?: string;
}

export async function releaseUpgradeAll(job: JobSpec, host: AptTarget, chroots: readonly UpgradeChroot[], opts: RunJobOptions = {}): Promise<JobResult> {
  const started = Date.now();
  const t = new Transcript(TRANSCRIPT_CAP, opts.onOutput);
  const parts: string[] = [];
  let changed = false;
  let rebootRequired = false;
  // a chroot moves with its host only from the host's release: one release step at a time
  const hostFrom = (await osReleaseOf(host.root))['VERSION_CODENAME'] ?? '';
  const to = String(job.params['codename']);
  const why = (c: UpgradeChroot): string | undefined => {
    if (!c.ctx) return c.skipped ?? 'not manageable';
    const from = c.ctx.info.codename;
    return from === hostFrom || from === to ? undefined : `it runs ${from || 'an unknown release'}, the host ${hostFrom || 'an unknown one'}: give it a release-upgrade of its own`;
  };
  const steps: Array<{ label: string; run: () => Promise<JobResult> }> = [
    { label: 'host', run: () => runJob(job, host, opts) },
    ...chroots.map((c) => {
      const skip = why(c);
      return { label: `chroot ${c.name}`, run: skip === undefined ? () => runChrootJob(c.ctx!, job, opts) : async (): Promise<JobResult> => { throw new Error(skip); } };
    }),
  ];
  let failed: JobResult | undefined;
  let failedAt = '';
  for (const [i, s] of steps.entries()) {
    if (failed) {
      parts.push(`${s.label}: not attempted`);
      continue;
    }
    t.line(`## ${s.label}`);
    let r: JobResult;
    try {
      r = await s.run();
    } catch (err) {
      // a chroot the agent cannot run: reported, not a failure of the others
      parts.push(`${s.label}: skipped (${(err as Error).message})`);
      t.line(`# skipped: ${(err as Error).message}`);
      continue;
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
    exitCode: failed?.exitCode ?? 0, durationMs: Date.now() - started, transcript: t.toString(), failure: failed?.failure,
    summary, changed, rebootRequired,
  };
}
