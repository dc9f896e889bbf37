// Paths inside a chroot as the chroot sees them: symbolic links are followed the way the kernel
// would after chroot(2) (absolute targets start again at the chroot's root, ".." stops there),
// so reading etc/os-release or writing usr/sbin/policy-rc.d never reaches the host's files.
import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

const MAX_LINKS = 40;

/**
 * The host path of `rel` inside `root`, every link resolved within `root`. Missing components
 * are kept as they are (the path may not exist). Throws on a link loop.
 */
export async function resolveIn(root: string, rel: string): Promise<string> {
  const todo = rel.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const here = path.join(root, ...done, c);
    const st = await lstat(here).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new Error(`too many symbolic links under ${path.join(root, rel)}`);
      const target = await readlink(here);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    done.push(c);
  }
  return path.join(root, ...done);
}

/** Whether `rel` inside `root` is a real directory reached without any symbolic link. */
export async function isPlainDir(root: string, rel: string): Promise<boolean> {
  const lexical = path.join(root, rel);
  if ((await resolveIn(root, rel)) !== lexical) return false;
  return lstat(lexical).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** A file's text inside the chroot ('' when it does not exist or its links loop). */
export async function readIn(root: string, rel: string): Promise<string> {
  return resolveIn(root, rel)
    .then((p) => readFile(p, 'utf8'))
    .catch(() => '');
}

/** The path apt inside the chroot sees for a host path under `root`. */
export function insidePath(root: string, hostPath: string): string {
  const r = path.relative(root, hostPath);
  return r.startsWith('..') ? hostPath : `/${r}`;
}
