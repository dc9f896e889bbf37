/**
 * A separate root for real apt-get and dpkg runs: <dir>/root gets its own dpkg database, apt
 * configuration, sources, lists, caches and logs, and packages really unpack and configure into it.
 * The machine's own /var/lib/dpkg is never touched.
 *
 * How apt and dpkg are pointed at it:
 * - APT_CONFIG=<dir>/apt.conf (read before /etc/apt/apt.conf.d, which it thereby replaces):
 *   `Dir "<root>/"` moves every relative apt path (etc/apt, var/lib/apt, var/cache/apt, var/log/apt)
 *   into the root, `Dir::State::status` the dpkg status file; programs (Dir::Bin::*, the methods)
 *   stay absolute host paths. The file lives outside <root>/etc/apt on purpose: a file that is both
 *   APT_CONFIG and Dir::Etc::Main is read twice, and list options (DPkg::Options) then double.
 * - dpkg gets `--root=<root>` (instdir <root>, admindir <root>/var/lib/dpkg); apt passes it on as
 *   `DPkg::Options::=--root=<root>` (the AptTarget's dpkgOptions, and also in apt.conf as a safety
 *   net). No DPkg::Chroot-Directory, no --force-not-root: dpkg 1.21 --root unpacks and configures
 *   packages without maintainer scripts without complaint. Packages with maintainer scripts would
 *   run them chrooted into <root>, which has no shell: fixture packages have none.
 * - apt's locks are where the status file is: <root>/var/lib/dpkg/lock-frontend and lock (fcntl
 *   locks), <root>/var/lib/apt/lists/lock, <root>/var/cache/apt/archives/lock.
 * - APT::Sandbox::User "root" (the temp dir is not reachable for _apt), Acquire::Languages none,
 *   Acquire::Retries 0, APT::Architecture amd64 whatever the host is.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AptTarget } from '../../src/agent/types.js';
import { renderSources, type AptSource } from './apt.js';
import { exec } from './exec.js';

export interface TestRoot {
  /** the root directory (what dpkg --root gets) */
  root: string;
  target: AptTarget;
  configFile: string;
  listsDir: string;
  /** the sources file the root starts with (<root>/etc/apt/sources.list.d/fixture.sources) */
  sourcesFile: string;
  /** runs apt-get (or `program`) with the target's options; never rejects on a non-zero exit */
  apt(args: string[], program?: string): Promise<{ code: number | null; output: string }>;
  /** the root's dpkg status text */
  status(): Promise<string>;
  /** version of an installed package in the root, with its Status; undefined when absent */
  installed(name: string): Promise<{ version: string; status: string } | undefined>;
}

function q(v: string): string {
  if (/["\n]/.test(v)) throw new Error(`cannot put ${JSON.stringify(v)} into apt.conf`);
  return `"${v}"`;
}

export interface TestRootOptions {
  sources?: AptSource[];
  /** default 'amd64' */
  architecture?: string;
  /** further apt.conf settings */
  config?: Record<string, string>;
}

/** Creates <dir>/root and <dir>/apt.conf; returns the AptTarget that acts inside the root. */
export async function createTestRoot(dir: string, opts: TestRootOptions = {}): Promise<TestRoot> {
  const base = path.resolve(dir);
  const root = path.join(base, 'root');
  const p = (rel: string) => path.join(root, rel);
  for (const d of [
    'var/lib/dpkg/info',
    'var/lib/dpkg/updates',
    'var/lib/dpkg/triggers',
    'etc/apt/apt.conf.d',
    'etc/apt/sources.list.d',
    'etc/apt/preferences.d',
    'etc/apt/trusted.gpg.d',
    'etc/apt/auth.conf.d',
    'var/lib/apt/lists/partial',
    'var/cache/apt/archives/partial',
    'var/log/apt',
    'var/run',
  ]) {
    await mkdir(p(d), { recursive: true });
  }
  const statusFile = p('var/lib/dpkg/status');
  await writeFile(statusFile, '');
  const arch = opts.architecture ?? 'amd64';
  const settings: Array<[string, string]> = [
    ['Dir', `${root}/`],
    ['Dir::State::status', statusFile],
    ['APT::Architecture', arch],
    ['APT::Sandbox::User', 'root'],
    ['Acquire::Languages', 'none'],
    ['Acquire::Retries', '0'],
    ...Object.entries(opts.config ?? {}),
  ];
  const configFile = path.join(base, 'apt.conf');
  await writeFile(
    configFile,
    [
      '// test/helpers/root.ts: apt and dpkg act inside a separate root (read via APT_CONFIG)',
      ...settings.map(([k, v]) => `${k} ${q(v)};`),
      `APT::Architectures { ${q(arch)}; };`,
      // dpkg logs to the host's /var/log/dpkg.log whatever its --root: the root keeps its own
      `DPkg::Options { ${q(`--root=${root}`)}; ${q(`--log=${p('var/log/dpkg.log')}`)}; };`,
      '',
    ].join('\n'),
  );
  const sourcesFile = p('etc/apt/sources.list.d/fixture.sources');
  await writeFile(sourcesFile, renderSources(opts.sources ?? []));

  const target: AptTarget = {
    root,
    aptOptions: [
      ['Dir', `${root}/`],
      ['Dir::State::status', statusFile],
    ],
    env: { APT_CONFIG: configFile },
    statusFile,
    sourcesDir: p('etc/apt/sources.list.d'),
    sourcesList: p('etc/apt/sources.list'),
    preferencesDir: p('etc/apt/preferences.d'),
    preferencesFile: p('etc/apt/preferences'),
    rebootRequiredFile: p('var/run/reboot-required'),
    dpkgOptions: [`--root=${root}`, `--log=${p('var/log/dpkg.log')}`],
  };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    LC_ALL: 'C.UTF-8',
    DEBIAN_FRONTEND: 'noninteractive',
    APT_CONFIG: configFile,
  };
  const status = () => readFile(statusFile, 'utf8');
  return {
    root,
    target,
    configFile,
    listsDir: p('var/lib/apt/lists'),
    sourcesFile,
    async apt(args, program = 'apt-get') {
      const opt = target.aptOptions.flatMap(([k, v]) => ['-o', `${k}=${v}`]);
      const r = await exec(program, [...opt, ...args], { env, timeoutMs: 120_000 });
      return { code: r.code, output: r.stdout.toString('utf8') + r.stderr.toString('utf8') };
    },
    status,
    async installed(name) {
      for (const para of (await status()).split(/\n\n+/)) {
        if (!new RegExp(`^Package: ${name.replace(/[.+]/g, '\\$&')}$`, 'm').test(para)) continue;
        const version = /^Version: (.*)$/m.exec(para)?.[1];
        const st = /^Status: (.*)$/m.exec(para)?.[1];
        if (version && st && !/ (not-installed|config-files)$/.test(st)) return { version, status: st };
      }
      return undefined;
    },
  };
}
