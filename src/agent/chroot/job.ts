// A job inside an LTSP chroot: wait while `ltsp image` holds the chroot's dpkg lock, mount /proc,
// /sys, /dev and /dev/pts, keep daemons from starting (policy-rc.d exiting 101, removed again
// unless it was there before; LTSP_HANDLE_DAEMONS=false comes with the target's environment), run
// the job, and take everything down again whatever happened. A successful job that changed a
// kernel or initramfs is followed by the refresh (ltsp image/kernel); its result is the job's.
import { mkdir, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runJob, type RunJobOptions } from '../executors.js';
import { runCommand, Transcript, TRANSCRIPT_CAP } from '../run.js';
import type { AptTarget, JobResult, JobSpec } from '../types.js';
import type { ChrootInfo } from './inspect.js';
import { waitDpkgLock } from './lock.js';
import { processAlive } from '../../sys/process.js';
import { jobMounts, mountAll, processesIn, unmountAll } from './mounts.js';
import { isPlainDir } from './paths.js';
import { bootState, refreshCommands, revertCommand, type RefreshSetting } from './refresh.js';

export const POLICY_RC_D = 'usr/sbin/policy-rc.d';
export const POLICY_TEXT = '#!/bin/sh\n# aptgate-agent: no daemon starts inside an LTSP chroot during a job (removed afterwards)\nexit 101\n';

export interface ChrootJobContext {
  info: ChrootInfo;
  target: AptTarget;
  refresh: RefreshSetting;
  /** on the host: says which agent process mounted what (so a killed agent's mounts are known as such) */
  marker: string;
}

interface Marker {
  pid: number;
  at: string;
}

async function readMarker(file: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

/**
 * Mounts already there before the job: left by an agent that was killed (its marker names a
 * process that is gone) are taken down; anybody else's (ltsp-chroot -m, an administrator's
 * session) make the job wait for a later run: an error saying so.
 */
async function clearStale(c: ChrootJobContext, t: Transcript): Promise<string | undefined> {
  const root = c.info.path;
  const there = await jobMounts(root);
  if (!there.length) {
    await rm(c.marker, { force: true });
    return undefined;
  }
  const m = await readMarker(c.marker);
  if (!m || processAlive(m.pid)) {
    return `the chroot is in use: ${there.join(' ')} ${there.length === 1 ? 'is' : 'are'} mounted by someone else (ltsp-chroot, an administrator?); run the job again once they are gone`;
  }
  // the killed agent's mounts, but whatever runs inside may be somebody's: never ended here
  const inside = await processesIn(root);
  if (inside.length) return `the chroot is in use: processes ${inside.join(' ')} run inside it, and mounts a stopped agent left (${there.join(' ')}) stay until they are gone`;
  t.line(`# mounts left by agent process ${m.pid} (gone) since ${m.at}: taking them down`);
  const left = await unmountAll(root, t);
  if (left.length) return `mounts inside the chroot cannot be removed: ${left.join(' ')}`;
  await rm(c.marker, { force: true });
  return undefined;
}

type Done = Omit<JobResult, 'durationMs' | 'transcript'>;

function result(t: Transcript, started: number, r: Done): JobResult {
  return { ...r, durationMs: Date.now() - started, transcript: t.toString() };
}

/** Writes policy-rc.d unless one exists; whether it was written (and so is ours to remove). */
async function installPolicy(root: string, t: Transcript): Promise<boolean> {
  if (!(await isPlainDir(root, 'usr/sbin'))) throw new Error(`${path.join(root, 'usr/sbin')} is not a directory of the chroot`);
  const file = path.join(root, POLICY_RC_D);
  try {
    const fh = await open(file, 'wx', 0o755); // never through an existing file or link
    await fh.writeFile(POLICY_TEXT);
    await fh.chmod(0o755);
    await fh.close();
    t.line(`# ${POLICY_RC_D} written: daemons do not start`);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // one of ours that a killed agent left behind is still ours to remove
    if ((await readFile(file, 'utf8').catch(() => '')) === POLICY_TEXT) {
      t.line(`# ${POLICY_RC_D} left by an earlier run: removed after this job`);
      return true;
    }
    t.line(`# ${POLICY_RC_D} exists already: kept as it is`);
    return false;
  }
}

async function removePolicy(root: string, t: Transcript): Promise<void> {
  const file = path.join(root, POLICY_RC_D);
  // only our own file: a package may have put its own there meanwhile
  if ((await readFile(file, 'utf8').catch(() => '')) === POLICY_TEXT) {
    await unlink(file);
    t.line(`# ${POLICY_RC_D} removed`);
  }
}

async function revert(c: ChrootJobContext, t: Transcript, started: number, opts: RunJobOptions): Promise<JobResult> {
  const r = await revertCommand(c.info.name, c.info.path);
  if (!r.command) {
    t.line(`# ${r.error}`);
    return result(t, started, { exitCode: 1, failure: 'other', summary: `image-revert: ${r.error}`, changed: false, rebootRequired: false });
  }
  const o = await runCommand(r.command, { transcript: t, ...(opts.signal ? { signal: opts.signal } : {}) });
  const ok = o.code === 0;
  return result(t, started, { exitCode: ok ? 0 : Math.max(o.code, 1), failure: ok ? undefined : 'other', summary: ok ? `image-revert: the previous image of ${c.info.name} is back` : `image-revert: ltsp image -r exited ${o.code}`, changed: false, rebootRequired: false });
}

/** Runs `job` inside the chroot; resolves with a result whatever happens. */
export async function runChrootJob(c: ChrootJobContext, job: JobSpec, opts: RunJobOptions = {}): Promise<JobResult> {
  const started = Date.now();
  const t = new Transcript(TRANSCRIPT_CAP, opts.onOutput);
  const root = c.info.path;
  t.line(`# LTSP chroot ${c.info.name} (${root}, ${c.info.architecture}${c.info.run === 'linux32' ? ', under linux32' : ''})`);
  const fail = (summary: string, failure: JobResult['failure'] = 'other'): JobResult => {
    t.line(`# ${summary}`);
    return result(t, started, { exitCode: 1, failure, summary, changed: false, rebootRequired: false });
  };
  if (c.info.run === 'unsupported') return fail(`this host cannot run the chroot: ${c.info.reason ?? 'unsupported architecture'}`, 'invalid-job');
  if (job.kind === 'image-revert') return revert(c, t, started, opts);
  if (job.kind === 'reboot') return fail('an LTSP chroot does not reboot; its clients do', 'invalid-job');

  const busy = await clearStale(c, t);
  if (busy) return fail(busy);
  const holder = await waitDpkgLock(root, job.policy.lockTimeout, opts.signal);
  if (holder) return fail(`the chroot's dpkg lock is held by ${holder.command} (pid ${holder.pid}), e.g. ltsp image; try again later`, 'dpkg-lock');

  const bootBefore = await bootState(root);
  // what already runs inside (an administrator's shell) is not ours to end afterwards
  const spare = new Set(await processesIn(root));
  let ours = false;
  let r: JobResult;
  let left: string[] = [];
  try {
    ours = await installPolicy(root, t);
    await mkdir(path.dirname(c.marker), { recursive: true, mode: 0o700 });
    await writeFile(c.marker, JSON.stringify({ pid: process.pid, at: new Date().toISOString() } satisfies Marker) + '\n', { mode: 0o600 });
    await mountAll(root, t, spare);
    r = await runJob(job, c.target, opts);
    t.add(r.transcript);
  } catch (err) {
    r = { exitCode: 1, durationMs: 0, transcript: '', failure: 'other', summary: `${job.kind}: ${(err as Error).message.split('\n')[0]}`, changed: false, rebootRequired: false };
    t.line(`# ${r.summary}`);
  } finally {
    left = await unmountAll(root, t, spare);
    if (!left.length) await rm(c.marker, { force: true });
    if (ours) await removePolicy(root, t).catch((e: Error) => t.line(`# ${POLICY_RC_D} could not be removed: ${e.message}`));
  }
  if (left.length) {
    t.line(`# still mounted: ${left.join(' ')}`);
    return result(t, started, { ...r, exitCode: r.exitCode || 1, failure: r.failure ?? 'other', summary: `${r.summary}; still mounted inside the chroot: ${left.join(' ')}` });
  }
  t.line('# /proc, /sys, /dev and /dev/pts of the chroot unmounted');

  if ((await bootState(root)) === bootBefore) return result(t, started, r);
  if (r.failure !== undefined) {
    t.line('# the kernel or initramfs changed, but the job failed: no refresh of a half-done chroot');
    return result(t, started, r);
  }
  const { commands, note } = await refreshCommands(c.refresh, c.info.name, root);
  t.line(`# the kernel or initramfs changed: refresh (${note})`);
  for (const cmd of commands) {
    const o = await runCommand(cmd, { transcript: t, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (o.code !== 0) {
      const what = [path.basename(cmd.file), ...cmd.args].join(' ');
      return result(t, started, { ...r, exitCode: Math.max(o.code, 1), failure: 'other', summary: `${r.summary}; refresh failed: ${what} exited ${o.code}${o.spawnError ? ` (${o.spawnError})` : ''}` });
    }
  }
  const done = commands.map((x) => [path.basename(x.file), ...x.args].join(' ')).join(', ');
  return result(t, started, { ...r, summary: `${r.summary}; ${commands.length ? `refreshed: ${done}` : note}` });
}

