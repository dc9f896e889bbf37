// Serialising with `ltsp image`: while it compresses a chroot it holds an fcntl lock on the
// chroot's var/lib/dpkg/lock (as apt and dpkg do). Node cannot take fcntl locks, but the kernel
// lists every held one in /proc/locks (device and inode), which is enough to wait until the
// chroot is free and to name who holds it.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export interface LockHolder {
  pid: number;
  /** the holder's command line, for people */
  command: string;
}

/** "maj:min:inode" as /proc/locks prints a file (major and minor in hex). */
export function lockKey(dev: bigint, ino: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
}

/** PIDs holding a POSIX or OFD lock on an inode `ino` in a /proc/locks text, with the device each names. */
export function holdersIn(locks: string, ino: bigint): Array<{ pid: number; key: string }> {
  const out: Array<{ pid: number; key: string }> = [];
  for (const line of locks.split('\n')) {
    const f = line.trim().split(/\s+/);
    // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters are "1: -> POSIX ..."
    if (f[1] === '->' || f.length < 6 || (f[1] !== 'POSIX' && f[1] !== 'OFDLCK')) continue;
    const key = f[5]!;
    if (key.slice(key.lastIndexOf(':') + 1) === String(ino) && Number(f[4]) > 0) out.push({ pid: Number(f[4]), key });
  }
  return out;
}

/** Whether the process has the file (device and inode) open. */
async function hasOpen(pid: number, dev: bigint, ino: bigint): Promise<boolean> {
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
    const st = await stat(`/proc/${pid}/fd/${fd}`, { bigint: true }).catch(() => undefined);
    if (st && st.dev === dev && st.ino === ino) return true;
  }
  return false;
}

/** Who holds the chroot's dpkg lock now (undefined when it is free or does not exist). */
export async function dpkgLockHolder(root: string): Promise<LockHolder | undefined> {
  const st = await stat(path.join(root, 'var/lib/dpkg/lock'), { bigint: true }).catch(() => undefined);
  if (!st) return undefined;
  const key = lockKey(st.dev, st.ino);
  // /proc/locks names the superblock's device, which on btrfs is not the one stat() gives: an
  // entry with the same inode counts when the device matches or the process has the file open
  let pid: number | undefined;
  for (const h of holdersIn(await readFile('/proc/locks', 'utf8').catch(() => ''), st.ino)) {
    if (h.key === key || (await hasOpen(h.pid, st.dev, st.ino))) {
      pid = h.pid;
      break;
    }
  }
  if (pid === undefined) return undefined;
  const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return { pid, command: cmd.split('\0').filter(Boolean).join(' ').slice(0, 200) || '?' };
}

/**
 * Waits until nobody holds the chroot's dpkg lock, up to `timeoutS`; the holder when it is
 * still held then. Polls once a second: there is no notification for a released fcntl lock.
 */
export async function waitDpkgLock(
  root: string,
  timeoutS: number,
  signal?: AbortSignal,
): Promise<LockHolder | undefined> {
  const end = Date.now() + timeoutS * 1000;
  for (;;) {
    const h = await dpkgLockHolder(root);
    if (!h || Date.now() >= end || signal?.aborted) return h;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
