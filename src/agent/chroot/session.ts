// What a chroot job leaves while it runs, and how a later run recognises it when the agent was
// killed: the marker (on the host, in the chroot's state directory: which agent process mounted,
// identified by pid, start time and boot, so a reused pid is not taken for it), our policy-rc.d
// (exactly our text, a regular file), and a pending kernel refresh.
import { lstat, open, readFile, rm, unlink, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { jobMounts, processesIn, unmountAll, type MountLog } from './mounts.js';
import { isPlainDir } from './paths.js';

export const POLICY_RC_D = 'usr/sbin/policy-rc.d';
export const POLICY_TEXT =
  '#!/bin/sh\n# aptgate-agent: no daemon starts inside an LTSP chroot during a job (removed afterwards)\nexit 101\n';

interface Marker {
  pid: number;
  /** the process's start time (clock ticks since boot, /proc/PID/stat field 22) */
  start: string;
  boot: string;
  at: string;
}

async function startOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // the command name (field 2) may hold blanks and parentheses: count from the last ")"
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

export async function writeMarker(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const m: Marker = {
    pid: process.pid,
    start: await startOf(process.pid),
    boot: await bootId(),
    at: new Date().toISOString(),
  };
  await writeFile(file, JSON.stringify(m) + '\n', { mode: 0o600 });
}

async function readMarker(file: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

/** The marker's agent process still runs (the same process: pid, start time, boot). */
async function markerAlive(m: Marker): Promise<boolean> {
  if (m.boot && m.boot !== (await bootId())) return false;
  const start = await startOf(m.pid);
  return start !== '' && (!m.start || start === m.start);
}

/** Writes our policy-rc.d unless another one is there; whether it is ours to remove afterwards. */
export async function installPolicy(root: string, t: MountLog): Promise<boolean> {
  if (!(await isPlainDir(root, 'usr/sbin')))
    throw new Error(`${path.join(root, 'usr/sbin')} is not a directory of the chroot`);
  const file = path.join(root, POLICY_RC_D);
  if (await isOurPolicy(file)) {
    t.line(`# ${POLICY_RC_D} left by an earlier run: removed after this job`);
    return true;
  }
  let fh;
  try {
    fh = await open(file, 'wx', 0o755); // never through an existing file or link
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    t.line(`# ${POLICY_RC_D} exists already: kept as it is`);
    return false;
  }
  try {
    await fh.writeFile(POLICY_TEXT);
    await fh.chmod(0o755);
  } catch (err) {
    await fh.close();
    await unlink(file).catch(() => undefined); // no half-written policy stays behind
    throw err;
  }
  await fh.close();
  t.line(`# ${POLICY_RC_D} written: daemons do not start`);
  return true;
}

/** A regular file holding exactly our text (a link, whatever it points at, is somebody else's). */
async function isOurPolicy(file: string): Promise<boolean> {
  const st = await lstat(file).catch(() => undefined);
  return st !== undefined && st.isFile() && (await readFile(file, 'utf8').catch(() => '')) === POLICY_TEXT;
}

export async function removePolicy(root: string, t: MountLog): Promise<void> {
  const file = path.join(root, POLICY_RC_D);
  // only our own file: a package may have put its own there meanwhile
  if (await isOurPolicy(file)) {
    await unlink(file);
    t.line(`# ${POLICY_RC_D} removed`);
  }
}

/**
 * What a killed agent left: its mounts are taken down and its policy-rc.d removed, when nothing
 * runs inside. Anybody else's mounts (ltsp-chroot -m, an administrator's session), or processes
 * inside, are left alone: the reason the chroot is busy is returned.
 */
export async function recoverStale(root: string, marker: string, t: MountLog): Promise<string | undefined> {
  const there = await jobMounts(root);
  const m = await readMarker(marker);
  if (m && (await markerAlive(m))) {
    return `the chroot is in use by agent process ${m.pid} (since ${m.at}); run the job again once it is done`;
  }
  if (there.length && !m) {
    return `the chroot is in use: ${there.join(' ')} ${there.length === 1 ? 'is' : 'are'} mounted by someone else (ltsp-chroot, an administrator?); run the job again once they are gone`;
  }
  if (!m) return undefined;
  // the killed agent's leftovers, but whatever runs inside may be somebody's: never ended here
  const inside = await processesIn(root);
  if (inside.length)
    return `the chroot is in use: processes ${inside.join(' ')} run inside it, and what a stopped agent left (${there.join(' ') || 'its policy-rc.d'}) stays until they are gone`;
  if (there.length) {
    t.line(`# mounts left by agent process ${m.pid} (gone) since ${m.at}: taking them down`);
    const left = await unmountAll(root, t);
    if (left.length) return `mounts inside the chroot cannot be removed: ${left.join(' ')}`;
  }
  await removePolicy(root, t);
  await rm(marker, { force: true });
  return undefined;
}

/** A kernel refresh that still has to happen (the job changed /boot, the refresh did not run or failed). */
export function pendingRefreshFile(marker: string): string {
  return path.join(path.dirname(marker), 'refresh-pending');
}
