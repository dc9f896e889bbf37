// A job inside an LTSP chroot: wait while `ltsp image` holds the chroot's dpkg lock, mount /proc,
// /sys, /dev and /dev/pts, keep daemons from starting (policy-rc.d exiting 101, removed again
// unless it was there before; LTSP_HANDLE_DAEMONS=false comes with the target's environment), run
// the job, and take everything down again whatever happened. A successful job that changed a
// kernel or initramfs is followed by the refresh (ltsp image/kernel); its result is the job's.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runJob, type RunJobOptions } from '../executors.js';
import { runCommand, Transcript, TRANSCRIPT_CAP } from '../run.js';
import type { AptTarget, JobResult, JobSpec } from '../types.js';
import type { ChrootInfo } from './inspect.js';
import { waitDpkgLock } from './lock.js';
import { isFile } from '../../sys/fs.js';
import { mountAll, processesIn, unmountAll } from './mounts.js';
import { bootState, refreshCommands, revertCommand, type RefreshSetting } from './refresh.js';
import { installPolicy, pendingRefreshFile, POLICY_RC_D, recoverStale, removePolicy, writeMarker } from './session.js';

export interface ChrootJobContext {
  info: ChrootInfo;
  target: AptTarget;
  refresh: RefreshSetting;
  /** on the host: says which agent process mounted what (so a killed agent's mounts are known as such) */
  marker: string;
}

type Done = Omit<JobResult, 'durationMs' | 'transcript'>;

function result(t: Transcript, started: number, r: Done): JobResult {
  return { ...r, durationMs: Date.now() - started, transcript: t.toString() };
}

/** An abort signal that also fires after `ms` (Node 18 has no AbortSignal.any). */
function bounded(ms: number, outer?: AbortSignal): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const onAbort = () => ac.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  if (outer?.aborted) ac.abort();
  return {
    signal: ac.signal,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * The refresh after a kernel or initramfs change (bounded by the job's timeout). A pending-refresh
 * file stays until one succeeds, so a refresh that failed or never ran is tried again.
 */
export async function refreshChroot(
  c: ChrootJobContext,
  t: Transcript,
  timeoutS: number,
  signal?: AbortSignal,
): Promise<{ ok: boolean; summary: string }> {
  const pending = pendingRefreshFile(c.marker);
  await mkdir(path.dirname(pending), { recursive: true, mode: 0o700 });
  await writeFile(pending, new Date().toISOString() + '\n', { mode: 0o600 });
  const { commands, note } = await refreshCommands(c.refresh, c.info.name, c.info.path);
  t.line(`# the kernel or initramfs changed: refresh (${note})`);
  const limit = bounded(timeoutS * 1000, signal);
  try {
    for (const cmd of commands) {
      const o = await runCommand(cmd, { transcript: t, signal: limit.signal });
      if (o.code !== 0) {
        const what = [path.basename(cmd.file), ...cmd.args].join(' ');
        return {
          ok: false,
          summary: `refresh failed: ${what} exited ${o.code}${o.spawnError ? ` (${o.spawnError})` : ''}; it is tried again at the next run`,
        };
      }
    }
  } finally {
    limit.done();
  }
  await rm(pending, { force: true });
  const done = commands.map((x) => [path.basename(x.file), ...x.args].join(' ')).join(', ');
  return { ok: true, summary: commands.length ? `refreshed: ${done}` : note };
}

async function revert(c: ChrootJobContext, t: Transcript, started: number, opts: RunJobOptions): Promise<JobResult> {
  const r = await revertCommand(c.info.name, c.info.path);
  if (!r.command) {
    t.line(`# ${r.error}`);
    return result(t, started, {
      exitCode: 1,
      failure: 'other',
      summary: `image-revert: ${r.error}`,
      changed: false,
      rebootRequired: false,
    });
  }
  const o = await runCommand(r.command, { transcript: t, ...(opts.signal ? { signal: opts.signal } : {}) });
  const ok = o.code === 0;
  return result(t, started, {
    exitCode: ok ? 0 : Math.max(o.code, 1),
    failure: ok ? undefined : 'other',
    summary: ok
      ? `image-revert: the previous image of ${c.info.name} is back`
      : `image-revert: ltsp image -r exited ${o.code}`,
    changed: false,
    rebootRequired: false,
  });
}

/** Runs `job` inside the chroot; resolves with a result whatever happens. */
export async function runChrootJob(c: ChrootJobContext, job: JobSpec, opts: RunJobOptions = {}): Promise<JobResult> {
  const started = Date.now();
  const t = new Transcript(TRANSCRIPT_CAP, opts.onOutput);
  const root = c.info.path;
  t.line(
    `# LTSP chroot ${c.info.name} (${root}, ${c.info.architecture}${c.info.run === 'linux32' ? ', under linux32' : ''})`,
  );
  const fail = (summary: string, failure: JobResult['failure'] = 'other'): JobResult => {
    t.line(`# ${summary}`);
    return result(t, started, { exitCode: 1, failure, summary, changed: false, rebootRequired: false });
  };
  if (c.info.run === 'unsupported')
    return fail(`this host cannot run the chroot: ${c.info.reason ?? 'unsupported architecture'}`, 'invalid-job');
  if (job.kind === 'image-revert') return revert(c, t, started, opts);
  if (job.kind === 'reboot') return fail('an LTSP chroot does not reboot; its clients do', 'invalid-job');

  if (opts.signal?.aborted) return fail('aborted before it started');
  const busy = await recoverStale(root, c.marker, t);
  if (busy) return fail(busy);
  const holder = await waitDpkgLock(root, job.policy.lockTimeout, opts.signal);
  if (holder)
    return fail(
      `the chroot's dpkg lock is held by ${holder.command} (pid ${holder.pid}), e.g. ltsp image; try again later`,
      'dpkg-lock',
    );

  const bootBefore = await bootState(root);
  // what already runs inside (an administrator's shell) is not ours to end afterwards
  const spare = new Set(await processesIn(root));
  let ours = false;
  let r: JobResult;
  let left: string[] = [];
  try {
    ours = await installPolicy(root, t);
    await writeMarker(c.marker);
    await mountAll(root, t, spare);
    r = await runJob(job, c.target, opts);
    t.add(r.transcript);
  } catch (err) {
    r = {
      exitCode: 1,
      durationMs: 0,
      transcript: '',
      failure: 'other',
      summary: `${job.kind}: ${(err as Error).message.split('\n')[0]}`,
      changed: false,
      rebootRequired: false,
    };
    t.line(`# ${r.summary}`);
  } finally {
    // each step on its own: one that fails does not keep the others from running
    left = await unmountAll(root, t, spare).catch((e: Error) => {
      t.line(`# unmounting failed: ${e.message}`);
      return ['(unknown)'];
    });
    if (!left.length) await rm(c.marker, { force: true }).catch((e: Error) => t.line(`# ${c.marker}: ${e.message}`));
    if (ours)
      await removePolicy(root, t).catch((e: Error) => t.line(`# ${POLICY_RC_D} could not be removed: ${e.message}`));
  }
  if (left.length) {
    t.line(`# still mounted: ${left.join(' ')}`);
    return result(t, started, {
      ...r,
      exitCode: r.exitCode || 1,
      failure: r.failure ?? 'other',
      summary: `${r.summary}; still mounted inside the chroot: ${left.join(' ')}`,
    });
  }
  t.line('# /proc, /sys, /dev and /dev/pts of the chroot unmounted');

  const changed = (await bootState(root)) !== bootBefore;
  const pending = await isFile(pendingRefreshFile(c.marker));
  if (!changed && !pending) return result(t, started, r);
  if (r.failure !== undefined) {
    if (changed)
      await writeFile(pendingRefreshFile(c.marker), new Date().toISOString() + '\n', { mode: 0o600 }).catch(
        () => undefined,
      );
    t.line(
      '# the kernel or initramfs changed, but the job failed: no refresh of a half-done chroot (pending until a job succeeds)',
    );
    return result(t, started, r);
  }
  const f = await refreshChroot(c, t, job.policy.timeout, opts.signal);
  return result(
    t,
    started,
    f.ok
      ? { ...r, summary: `${r.summary}; ${f.summary}` }
      : { ...r, exitCode: 1, failure: 'other', summary: `${r.summary}; ${f.summary}` },
  );
}
