// Where apt and dpkg act (the machine itself, or another root) and how to call them there: every
// command is an argument vector with a clean environment, never a shell line.
import path from 'node:path';
import { insidePath } from './chroot/paths.js';
import type { AptTarget } from './types.js';

/** A program to run: file, argument vector and the whole environment. */
export interface Command {
  file: string;
  args: string[];
  env: Record<string, string>;
}

export type AptProgram = 'apt-get' | 'apt-cache' | 'apt-mark' | 'apt';

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A clean base environment (no proxy variables, no locale surprises: apt's messages stay English
 * so that failures can be classified) merged with target.env.
 */
export function targetEnv(target: AptTarget): Record<string, string> {
  const env: Record<string, string> = {
    PATH: BASE_PATH,
    HOME: process.env['HOME'] ?? '/root',
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    APT_LISTCHANGES_FRONTEND: 'none',
    NEEDRESTART_MODE: 'a',
    ...target.env,
  };
  for (const k of Object.keys(env)) {
    if (/^(http|https|ftp|all|no)_proxy$/i.test(k)) delete env[k];
  }
  return env;
}

/** A target whose files are the usual ones under `root` (the machine, a test root, a chroot). */
export function targetAt(
  root: string,
  o: Pick<AptTarget, 'aptOptions' | 'env' | 'dpkgOptions'> & Partial<Pick<AptTarget, 'chroot'>>,
): AptTarget {
  const r = (p: string) => path.join(root, p);
  return {
    root,
    ...o,
    statusFile: r('var/lib/dpkg/status'),
    sourcesDir: r('etc/apt/sources.list.d'),
    sourcesList: r('etc/apt/sources.list'),
    preferencesDir: r('etc/apt/preferences.d'),
    preferencesFile: r('etc/apt/preferences'),
    rebootRequiredFile: r('var/run/reboot-required'),
  };
}

/** The program run where the target is: directly, or inside its chroot (`[linux32] chroot DIR file args`). */
function located(target: AptTarget, file: string, args: string[]): { file: string; args: string[] } {
  if (!target.chroot) return { file, args };
  const inner = ['chroot', target.root, file, ...args];
  return target.chroot.linux32 ? { file: 'linux32', args: inner } : { file: 'chroot', args: inner.slice(1) };
}

/** A host path of the target as apt and dpkg see it (inside a chroot: relative to its root). */
export function aptPath(target: AptTarget, hostPath: string): string {
  return target.chroot ? insidePath(target.root, hostPath) : hostPath;
}

/** `-o Key=Value` pairs as argv. */
export function optionArgs(options: ReadonlyArray<readonly [string, string]>): string[] {
  return options.flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

/**
 * apt-get / apt-cache / apt-mark / apt with the target's options (target.aptOptions, then each
 * dpkgOption as `DPkg::Options::=...`), then `options`, then `args`.
 */
export function aptCommand(
  target: AptTarget,
  program: AptProgram,
  args: readonly string[],
  options: ReadonlyArray<readonly [string, string]> = [],
): Command {
  return {
    ...located(target, program, [
      ...optionArgs(target.aptOptions),
      ...optionArgs(target.dpkgOptions.map((o) => ['DPkg::Options::', o] as const)),
      ...optionArgs(options),
      ...args,
    ]),
    env: targetEnv(target),
  };
}

/** dpkg with target.dpkgOptions before `args`. */
export function dpkgCommand(target: AptTarget, args: readonly string[]): Command {
  return { ...located(target, 'dpkg', [...target.dpkgOptions, ...args]), env: targetEnv(target) };
}

/** The dpkg database directory of the target (the directory of its status file). */
export function adminDir(target: AptTarget): string {
  const i = target.statusFile.lastIndexOf('/');
  return i <= 0 ? '/' : target.statusFile.slice(0, i);
}

/** A command as people read it in a transcript (arguments with blanks or quotes are quoted). */
export function commandLine(c: { file: string; args: readonly string[] }): string {
  return [c.file, ...c.args]
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
