// The file systems apt's maintainer scripts expect inside a chroot (/proc, /sys, /dev, /dev/pts),
// mounted for a job and always taken down again: in reverse order, after ending processes the job
// left running inside, lazily when still busy, and checked against /proc/self/mountinfo. Mounts a
// killed agent left behind are found the same way and removed before the next job.
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { exec } from '../../sys/exec.js';
import { isPlainDir } from './paths.js';

export interface MountSpec {
  /** inside the chroot, relative */
  at: string;
  args: (target: string) => string[];
}

/** In mounting order; taken down in reverse. */
export const CHROOT_MOUNTS: readonly MountSpec[] = [
  { at: 'proc', args: (t) => ['-t', 'proc', 'proc', t] },
  { at: 'sys', args: (t) => ['-t', 'sysfs', 'sysfs', t] },
  { at: 'dev', args: (t) => ['--bind', '/dev', t] },
  { at: 'dev/pts', args: (t) => ['--bind', '/dev/pts', t] },
];

/** "\040" and friends in mountinfo paths. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or under `dir`, deepest first (the order to unmount them). */
export async function mountsUnder(dir: string, mountinfo?: string): Promise<string[]> {
  const text = mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map(unescape)
    .filter((p) => p === dir || p.startsWith(prefix));
  return [...new Set(out)].sort((a, b) => b.length - a.length || b.localeCompare(a));
}

/** Processes whose root directory is the chroot (or below it). */
export async function processesIn(root: string): Promise<number[]> {
  const out: number[] = [];
  for (const n of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(n) || Number(n) === process.pid) continue;
    const r = await readlink(`/proc/${n}/root`).catch(() => '');
    if (r === root || r.startsWith(`${root}/`)) out.push(Number(n));
  }
  return out;
}

export interface MountLog {
  line(s: string): void;
}

async function umount(p: string, lazy: boolean): Promise<{ ok: boolean; error: string }> {
  const r = await exec('umount', lazy ? ['--lazy', p] : [p], { timeoutMs: 60_000 });
  return { ok: r.code === 0, error: r.stderr.toString().trim() };
}

/** Ends what runs inside the chroot (TERM, then KILL) but the processes in `spare`, so its mounts are not busy. */
async function endProcesses(root: string, log: MountLog, spare: ReadonlySet<number>): Promise<void> {
  const left = async () => (await processesIn(root)).filter((p) => !spare.has(p));
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    const pids = await left();
    if (!pids.length) return;
    log.line(
      `# ${pids.length} process${pids.length === 1 ? '' : 'es'} left inside the chroot (${pids.join(' ')}): ${sig}`,
    );
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone meanwhile */
      }
    }
    // wait for them to go (bounded): a mount stays busy while they live
    for (let i = 0; i < 50 && (await left()).length; i++) await new Promise((r) => setTimeout(r, 100));
  }
}

/** Mounts under the chroot's proc, sys and dev (what a job mounts), deepest first. */
export async function jobMounts(root: string): Promise<string[]> {
  const ours = (p: string) =>
    CHROOT_MOUNTS.some((m) => p === path.join(root, m.at) || p.startsWith(`${path.join(root, m.at)}/`));
  return (await mountsUnder(root)).filter(ours);
}

/**
 * Takes down every mount under the chroot's proc, sys and dev (deepest first), after ending the
 * processes inside but those in `spare` (running before the job: an administrator's shell).
 * Returns what is still mounted afterwards (nothing, unless even a lazy unmount failed).
 */
export async function unmountAll(
  root: string,
  log: MountLog,
  spare: ReadonlySet<number> = new Set(),
): Promise<string[]> {
  let left = await jobMounts(root);
  if (!left.length) return [];
  await endProcesses(root, log, spare);
  for (const p of left) {
    let r = await umount(p, false);
    if (!r.ok) {
      log.line(`# umount ${p}: ${r.error}; detaching it lazily`);
      r = await umount(p, true);
      if (!r.ok) log.line(`# umount --lazy ${p}: ${r.error}`);
    }
  }
  left = await jobMounts(root);
  return left;
}

/**
 * Mounts proc, sys, dev and dev/pts inside the chroot. Each mount point must be a real directory
 * of the chroot (a symbolic link there could point a mount at the host's own directories).
 * On any failure what was mounted is taken down again and the error thrown.
 */
export async function mountAll(root: string, log: MountLog, spare: ReadonlySet<number> = new Set()): Promise<void> {
  for (const m of CHROOT_MOUNTS) {
    const target = path.join(root, m.at);
    try {
      if (!(await isPlainDir(root, m.at)))
        throw new Error(`${target} is not a directory of the chroot (missing, or a symbolic link)`);
      const args = m.args(target);
      log.line(`$ mount ${args.join(' ')}`);
      const r = await exec('mount', args, { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`mount ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
      // a slave receives the host's mount events but sends none back: with / and /dev shared
      // (systemd), the dev/pts bind onto the chroot's dev would otherwise stack on the host's /dev/pts
      const slave = await exec('mount', ['--make-rslave', target], { timeoutMs: 60_000 });
      if (slave.code !== 0) throw new Error(`mount --make-rslave ${target} failed: ${slave.stderr.toString().trim()}`);
    } catch (err) {
      await unmountAll(root, log, spare);
      throw err;
    }
  }
}
