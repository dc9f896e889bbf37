// Serialising with `ltsp image`: while it compresses a chroot it holds an fcntl lock on the
// chroot's var/lib/dpkg/lock (as apt and dpkg do). Node cannot take fcntl locks, but the kernel
// lists every held one in /proc/locks (device and inode), which is enough to wait until the
// chroot is free and to name who holds it.
import { readFile, stat } from 'node:fs/promises';
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

/** PIDs holding a POSIX or OFD lock on the file `key` (lockKey) in a /proc/locks text. */
export function holdersIn(locks: string, key: string): number[] {
  const out: number[] = [];
  for (const line of locks.split('\n')) {
    const f = line.trim().split(/\s+/);
    // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters are "1: -> POSIX ..."
    if (f[1] === '->' || f.length < 6) continue;
    if ((f[1] === 'POSIX' || f[1] === 'OFDLCK') && f[5] === key) out.push(Number(f[4]));
  }
  return out.filter((p) => p > 0);
}

/** Who holds the chroot's dpkg lock now (undefined when it is free or does not exist). */
export async function dpkgLockHolder(root: string): Promise<LockHolder | undefined> {
  const st = await stat(path.join(root, 'var/lib/dpkg/lock'), { bigint: true }).catch(() => undefined);
  if (!st) return undefined;
  const [pid] = holdersIn(await readFile('/proc/locks', 'utf8').catch(() => ''), lockKey(st.dev, st.ino));
  if (pid === undefined) return undefined;
  const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return { pid, command: cmd.split('\0').filter(Boolean).join(' ').slice(0, 200) || '?' };
}

/**
 * Waits until nobody holds the chroot's dpkg lock, up to `timeoutS`; the holder when it is
 * still held then. Polls once a second: there is no notification for a released fcntl lock.
 */
export async function waitDpkgLock(root: string, timeoutS: number, signal?: AbortSignal): Promise<LockHolder | undefined> {
  const end = Date.now() + timeoutS * 1000;
  for (;;) {
    const h = await dpkgLockHolder(root);
    if (!h || Date.now() >= end || signal?.aborted) return h;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
