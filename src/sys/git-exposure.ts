// Whether a path lies in a git work tree that does not ignore it: one `git add .` from being
// published. Secrets (the database, the signing key) are never created in such a place.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { exec } from './exec.js';

export type Exposure = { exposed: false } | { exposed: true; worktree: string; why: string };

/** The work tree containing `target` (which may not exist yet): the nearest ancestor with a .git. */
export function workTreeOf(target: string): string | undefined {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export async function gitExposure(target: string): Promise<Exposure> {
  const worktree = workTreeOf(target);
  if (!worktree) return { exposed: false };
  // --no-index: the ignore rules decide, whether or not the path exists or is tracked
  // no fsmonitor: a repository's own configuration never runs a program of its choosing here
  const args = [
    '-c',
    'core.fsmonitor=false',
    '-C',
    worktree,
    'check-ignore',
    '-q',
    '--no-index',
    '--',
    path.resolve(target),
  ];
  const r = await exec('git', args, {
    timeoutMs: 10_000,
    env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
  }).catch(() => undefined);
  if (!r) return { exposed: true, worktree, why: 'git is not installed: cannot tell whether it is ignored' };
  if (r.code === 0) return { exposed: false };
  if (r.code === 1) return { exposed: true, worktree, why: 'not ignored' };
  if (/dubious ownership/.test(r.stderr.toString('utf8'))) {
    return {
      exposed: true,
      worktree,
      why: 'git will not read it (another user owns it): cannot tell whether it is ignored',
    };
  }
  // 128: not a work tree after all (a stray .git file or a bare directory): nothing to publish from
  return { exposed: false };
}
