/**
 * Runs the real apt-get / apt-cache / apt-config fully isolated from the machine's apt state.
 *
 * Isolation: apt reads /etc/apt/apt.conf.d/* and /etc/apt/apt.conf in pkgInitConfig() BEFORE it parses
 * the command line, so `-o Dir::Etc::Parts=...` alone is too late to keep the host's configuration
 * out (e.g. Post-Invoke hooks, GzipIndexes, proxies). The only earlier hook is the APT_CONFIG
 * environment variable: runApt() points it at <dir>/apt.conf, which redirects every Dir::Etc::* entry
 * (config parts, sources, preferences, trusted keys, auth.conf) and all state/cache/log directories
 * into <dir>. The same settings are also passed as `-o` options (AptEnv.options) so that the command
 * line shows them. Proxy variables (http_proxy, ...) are removed from the environment.
 */
import { mkdir, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { exec } from './exec.js';

export interface AptSource {
  /** repository base URI, e.g. upstream.base or a proxy URL */
  uri: string;
  /** default ['stable'] */
  suites?: string[];
  /** default ['main'] */
  components?: string[];
  /** keyring file (binary or .asc), e.g. TestKey.keyring */
  signedBy?: string;
  architectures?: string[];
  /** default 'deb' */
  types?: string;
  /** further deb822 fields, e.g. { 'Check-Valid-Until': 'no' } */
  fields?: Record<string, string>;
}

export interface AptEnvOptions {
  sources?: AptSource[];
  /** APT::Architecture (native architecture); default 'amd64' whatever the host is */
  architecture?: string;
  /** APT::Architectures (all enabled architectures); default [architecture] */
  architectures?: string[];
  /** Acquire::http::Proxy for every run (runApt's opts.proxy wins) */
  proxy?: string;
  /** further config for every run, e.g. { 'Acquire::Retries': '0' } (written to <dir>/apt.conf and passed as -o) */
  config?: Record<string, string>;
}

export interface AptEnv {
  dir: string;
  /** the file runApt passes as APT_CONFIG */
  configFile: string;
  /** the deb822 sources file (<dir>/etc/sources.list.d/aptgate.sources) */
  sourcesFile: string;
  /** the (initially empty) dpkg status file */
  statusFile: string;
  listsDir: string;
  /** where `install --download-only` puts .debs */
  archivesDir: string;
  /** ['-o', 'Dir=...', '-o', ...]: the isolation settings as command-line options */
  options: string[];
  /** environment for apt processes (APT_CONFIG set, proxy variables removed, LC_ALL=C) */
  env: NodeJS.ProcessEnv;
  proxy: string | undefined;
  /** rewrites the sources file */
  setSources(sources: AptSource[]): Promise<void>;
}

function quote(v: string): string {
  if (/["\n]/.test(v)) throw new Error(`cannot put ${JSON.stringify(v)} into apt.conf`);
  return `"${v}"`;
}

export function renderSources(sources: AptSource[]): string {
  return sources
    .map((s) => {
      const lines = [
        `Types: ${s.types ?? 'deb'}`,
        `URIs: ${s.uri}`,
        `Suites: ${(s.suites ?? ['stable']).join(' ')}`,
        `Components: ${(s.components ?? ['main']).join(' ')}`,
      ];
      if (s.signedBy) lines.push(`Signed-By: ${path.resolve(s.signedBy)}`);
      if (s.architectures) lines.push(`Architectures: ${s.architectures.join(' ')}`);
      for (const [k, v] of Object.entries(s.fields ?? {})) lines.push(`${k}: ${v}`);
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}

const PROXY_VARS = ['http_proxy', 'https_proxy', 'ftp_proxy', 'all_proxy', 'no_proxy'];

/** Creates the isolated apt tree under dir (created if needed) and returns how to run apt in it. */
export async function aptEnv(dir: string, opts: AptEnvOptions = {}): Promise<AptEnv> {
  const root = path.resolve(dir);
  const etc = path.join(root, 'etc');
  const p = {
    etc,
    parts: path.join(etc, 'apt.conf.d'),
    sourceParts: path.join(etc, 'sources.list.d'),
    prefParts: path.join(etc, 'preferences.d'),
    trustedParts: path.join(etc, 'trusted.gpg.d'),
    authParts: path.join(etc, 'auth.conf.d'),
    state: path.join(root, 'state'),
    lists: path.join(root, 'lists'),
    cache: path.join(root, 'cache'),
    archives: path.join(root, 'cache', 'archives'),
    log: path.join(root, 'log'),
  };
  for (const d of [
    p.parts,
    p.sourceParts,
    p.prefParts,
    p.trustedParts,
    p.authParts,
    p.state,
    path.join(p.lists, 'partial'),
    path.join(p.archives, 'partial'),
    p.log,
  ]) {
    await mkdir(d, { recursive: true });
  }
  const statusFile = path.join(root, 'status');
  await writeFile(statusFile, '');
  const arch = opts.architecture ?? 'amd64';
  const archs = opts.architectures ?? [arch];

  const settings: Array<[string, string]> = [
    ['Dir', `${root}/`],
    ['Dir::Etc', `${etc}/`],
    ['Dir::Etc::Main', path.join(etc, 'apt.conf')],
    ['Dir::Etc::Parts', `${p.parts}/`],
    ['Dir::Etc::SourceList', path.join(etc, 'sources.list')],
    ['Dir::Etc::SourceParts', `${p.sourceParts}/`],
    ['Dir::Etc::Preferences', path.join(etc, 'preferences')],
    ['Dir::Etc::PreferencesParts', `${p.prefParts}/`],
    ['Dir::Etc::Trusted', path.join(etc, 'trusted.gpg')],
    ['Dir::Etc::TrustedParts', `${p.trustedParts}/`],
    ['Dir::Etc::netrc', path.join(etc, 'auth.conf')],
    ['Dir::Etc::netrcparts', `${p.authParts}/`],
    ['Dir::State', `${p.state}/`],
    ['Dir::State::Lists', `${p.lists}/`],
    ['Dir::State::status', statusFile],
    ['Dir::State::extended_states', path.join(p.state, 'extended_states')],
    ['Dir::Cache', `${p.cache}/`],
    ['Dir::Cache::Archives', `${p.archives}/`],
    ['Dir::Log', `${p.log}/`],
    ['APT::Architecture', arch],
    ['APT::Sandbox::User', 'root'],
    ['Debug::NoLocking', '1'],
    ['Acquire::Languages', 'none'],
    ['APT::Get::Assume-Yes', 'true'],
    ['quiet', '1'],
    ...Object.entries(opts.config ?? {}),
  ];
  const configFile = path.join(root, 'apt.conf');
  const conf = [
    '// generated by test/helpers/apt.ts: isolates apt from the host (read via APT_CONFIG)',
    ...settings.map(([k, v]) => `${k} ${quote(v)};`),
    `APT::Architectures { ${archs.map((a) => `${quote(a)};`).join(' ')} };`,
    '',
  ].join('\n');
  await writeFile(configFile, conf);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    APT_CONFIG: configFile,
    LC_ALL: 'C',
    DEBIAN_FRONTEND: 'noninteractive',
  };
  for (const k of Object.keys(env)) if (PROXY_VARS.includes(k.toLowerCase())) delete env[k];

  const sourcesFile = path.join(p.sourceParts, 'aptgate.sources');
  const aptenv: AptEnv = {
    dir: root,
    configFile,
    sourcesFile,
    statusFile,
    listsDir: p.lists,
    archivesDir: p.archives,
    options: settings.flatMap(([k, v]) => ['-o', `${k}=${v}`]),
    env,
    proxy: opts.proxy,
    setSources: (sources) => writeFile(sourcesFile, renderSources(sources)),
  };
  await aptenv.setSources(opts.sources ?? []);
  return aptenv;
}

export interface RunAptOptions {
  /** the environment from aptEnv() */
  apt: AptEnv;
  /** default 'apt-get'; also 'apt-cache', 'apt-config', '/usr/lib/apt/apt-helper', ... */
  command?: string;
  /** Acquire::http::Proxy for this run (overrides AptEnv.proxy); 'DIRECT' disables it */
  proxy?: string;
  /** extra -o options: { key: value } or raw 'Key=Value' strings */
  options?: Record<string, string> | string[];
  cwd?: string;
  /** default 120 s */
  timeoutMs?: number;
}

export interface AptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `<command> <isolation -o options> [-o Acquire::http::Proxy=...] [extra -o] args...`; never rejects on a non-zero
 * exit.
 */
export async function runApt(args: string[], opts: RunAptOptions): Promise<AptResult> {
  const extra = Array.isArray(opts.options)
    ? opts.options
    : Object.entries(opts.options ?? {}).map(([k, v]) => `${k}=${v}`);
  const proxy = opts.proxy ?? opts.apt.proxy;
  const argv = [
    ...opts.apt.options,
    ...(proxy !== undefined ? ['-o', `Acquire::http::Proxy=${proxy}`] : []),
    ...extra.flatMap((o) => ['-o', o]),
    ...args,
  ];
  const r = await exec(opts.command ?? 'apt-get', argv, {
    env: opts.apt.env,
    cwd: opts.cwd ?? opts.apt.dir,
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** Like runApt but throws with apt's output unless it exits 0. */
export async function runAptOk(args: string[], opts: RunAptOptions): Promise<AptResult> {
  const r = await runApt(args, opts);
  if (r.code !== 0)
    throw new Error(
      `${opts.command ?? 'apt-get'} ${args.join(' ')} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  return r;
}

/** .deb files currently in the archives dir (what `install --download-only` fetched). */
export async function downloadedDebs(env: AptEnv): Promise<string[]> {
  return (await readdir(env.archivesDir)).filter((f) => f.endsWith('.deb')).sort();
}
