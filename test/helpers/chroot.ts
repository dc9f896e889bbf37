/**
 * A real LTSP-style chroot for tests: `debootstrap --variant=minbase` of Debian bookworm amd64 (or
 * i386, run on this amd64 host under `linux32`), made THROUGH aptgate in proxy mode from a local,
 * test-signed copy of the packages it needs.
 *
 * The .debs come from one cache per architecture outside the repository that test/fetch-minbase.sh
 * fills once (CI's .ci/run does it on its install step; it needs Debian's mirror that one time):
 * <cache>/debs/*.deb, <cache>/Packages (the archive's stanzas of those packages: debootstrap picks
 * the minbase set by the archive's Priority, which differs from some .debs' own) and
 * <cache>/SHA256SUMS; see minbaseCacheDir() for where. Tests never touch the internet; without the
 * cache they fail with an Error saying how to make it (no skip).
 *
 * makeChrootWorld() serves those .debs (plus any DebSpecs) as the signed suite `bookworm` of a
 * FixtureRepo behind FixtureUpstream at /debian, with a Packages file per architecture asked for
 * (binary-amd64 by default; binary-i386 too with architectures: ['amd64', 'i386']): one repository,
 * one aptgate backend. The Architecture: all .debs, which every architecture's cache holds, are
 * published once. Clients name the repository by `alias`, a host that does not resolve
 * (deb.aptgate-test.invalid/debian), which world.tweak declares as an alias of the aptgate backend
 * 'debian': a debootstrap that succeeds got every byte through the proxy.
 *
 * bootstrapChroot() runs debootstrap as root (the CI runs as root). It removes nothing on the host;
 * afterwards no mount may remain under the target (it fails loudly if one does). Delete chroots
 * with removeChroot(), which refuses while anything is mounted below them and never leaves their
 * file system.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mountsUnder as mountsBelow } from '../../src/agent/chroot/mounts.js';
import { applySetting, type Config } from '../../src/config.js';
import type { DebSpec } from './debs.js';
import { exec } from './exec.js';
import { disposeTestKey, loadTestKey, type TestKey } from './gpg.js';
import { FixtureRepo, type PublishOptions, type Published } from './repo.js';
import type { BackendSpec } from './server.js';
import { FixtureUpstream } from './upstream.js';

import {
  CHROOT_ALIAS,
  CHROOT_ARCH,
  CHROOT_BACKEND,
  CHROOT_SUITE,
  loadMinbaseCache,
  mergeMinbaseCaches,
  type ChrootArch,
  type MinbaseCache,
} from './minbase.js';

export {
  CHROOT_ALIAS,
  CHROOT_ARCH,
  CHROOT_ARCHS,
  CHROOT_BACKEND,
  CHROOT_SUITE,
  checkMinbaseCache,
  loadMinbaseCache,
  mergeMinbaseCaches,
  minbaseCacheDir,
  type ChrootArch,
  type MinbaseCache,
} from './minbase.js';

// ---------------------------------------------------------------------------------------------
// the world

export interface ChrootWorld {
  dir: string;
  key: TestKey;
  repo: FixtureRepo;
  upstream: FixtureUpstream;
  /** the architectures published (binary-<arch>), e.g. ['amd64'] (the default) or ['amd64', 'i386'] */
  architectures: string[];
  /** the minbase cache of architectures[0] (amd64 by default) */
  minbase: MinbaseCache;
  /** the minbase cache of every published architecture */
  minbases: ReadonlyMap<string, MinbaseCache>;
  /** the first publish of the suite (the minbase debs of every architecture plus opts.debs) */
  gen1: Published;
  /** for testConfig(dir, { [CHROOT_BACKEND]: world.backend }, world.tweak) */
  backend: BackendSpec;
  /** CHROOT_ALIAS: host/path of the repository as clients name it (never resolves) */
  alias: string;
  /** `http://${alias}`: the mirror URL in debootstrap's command line and the chroot's sources.list */
  mirror: string;
  /** declares `alias` as an alias of the backend 'debian' in a server config (a testConfig tweak) */
  tweak(config: Config): void;
  /**
   * republishes `bookworm` for the same architectures: the minbase debs plus these (e.g. a v2 of a
   * package; each DebSpec keeps its own arch, amd64 when it names none)
   */
  publish(debs: DebSpec[], opts?: WorldPublishOptions): Promise<Published>;
  /**
   * stops the upstream and the key's agent and deletes dir (chroots made inside it included);
   * refuses to delete anything while a mount remains under dir
   */
  close(): Promise<void>;
}

/** PublishOptions of world.publish: the world supplies the architectures and the minbase debs */
export type WorldPublishOptions = Omit<PublishOptions, 'extraDebs' | 'packagesFields' | 'architectures'>;

export interface ChrootWorldOptions {
  /** test packages (built with dpkg-deb), each for its own arch (amd64 when it names none; 'all', 'i386', ...) */
  debs?: DebSpec[];
  /** the binary-<arch> Packages to publish, each with its minbase; default [CHROOT_ARCH] (amd64) */
  architectures?: string[];
}

/**
 * A temp dir, the 'archive' test key, a FixtureRepo whose suite `bookworm` holds, for each of
 * opts.architectures, the cached minbase .debs (published with the archive's Packages fields; the
 * Architecture: all ones once, see mergeMinbaseCaches) plus opts.debs (built with dpkg-deb), served
 * by FixtureUpstream at /debian. Fails with the "run test/fetch-minbase.sh" Error without the cache
 * of one of the architectures.
 */
export async function makeChrootWorld(opts: ChrootWorldOptions = {}): Promise<ChrootWorld> {
  const architectures = [...(opts.architectures ?? [CHROOT_ARCH])];
  if (architectures.length === 0) throw new Error('makeChrootWorld: architectures must not be empty');
  if (new Set(architectures).size !== architectures.length)
    throw new Error(`makeChrootWorld: architectures repeat one: ${architectures.join(', ')}`);
  const caches = await Promise.all(architectures.map((a) => loadMinbaseCache(a)));
  const merged = mergeMinbaseCaches(caches);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-chroot-'));
  let key: TestKey | undefined;
  let upstream: FixtureUpstream | undefined;
  try {
    key = await loadTestKey(dir, 'archive');
    const repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
    const publish = (debs: DebSpec[], popts: WorldPublishOptions = {}) =>
      repo.publish(CHROOT_SUITE, debs, {
        ...popts,
        architectures,
        extraDebs: merged.debs,
        packagesFields: (d) => merged.fields.get(`${d.name} ${d.version} ${d.arch}`),
      });
    const gen1 = await publish(opts.debs ?? []);
    upstream = await FixtureUpstream.start(repo.root, { prefix: '/debian' });
    const up = upstream;
    const k = key;
    return {
      dir,
      key,
      repo,
      upstream,
      architectures,
      minbase: caches[0]!,
      minbases: new Map(caches.map((c) => [c.arch, c])),
      gen1,
      backend: { mirrors: [upstream.base], keyring: key.keyring },
      alias: CHROOT_ALIAS,
      mirror: `http://${CHROOT_ALIAS}`,
      tweak: (config) => applySetting(config, `backend.${CHROOT_BACKEND}.aliases`, CHROOT_ALIAS),
      publish,
      close: async () => {
        await up.close();
        await disposeTestKey(k);
        await removeTree(dir);
      },
    };
  } catch (err) {
    await upstream?.close();
    if (key) await disposeTestKey(key);
    await removeTree(dir).catch(() => undefined);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// mounts and removal

/** Mount points at or below dir (by its real path), from /proc/self/mountinfo, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  return mountsBelow(await realpath(dir).catch(() => path.resolve(dir)));
}

async function removeTree(dir: string): Promise<void> {
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`refusing to delete ${dir}: still mounted below it: ${left.join(', ')}`);
  // rm -rf --one-file-system: even a mount that appeared since is never descended into
  const r = await exec('rm', ['-rf', '--one-file-system', '--', dir], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`rm -rf ${dir} failed: ${r.stderr.toString('utf8')}`);
}

/** Deletes a chroot; refuses (throws) while anything is mounted under it. */
export function removeChroot(target: string): Promise<void> {
  return removeTree(target);
}

// ---------------------------------------------------------------------------------------------
// debootstrap

export interface Chroot {
  /** absolute path of the chroot */
  target: string;
  /** debootstrap's stdout and stderr, interleaved */
  output: string;
  /** wall time of debootstrap */
  ms: number;
}

export interface BootstrapOptions {
  /** default 15 min; debootstrap then gets SIGTERM (it unmounts on that), SIGKILL 30 s later */
  timeoutMs?: number;
  /**
   * debootstrap's --arch, default CHROOT_ARCH (amd64); the world must publish it. An i386 chroot
   * runs on this amd64 host as is (debootstrap runs its binaries), under `linux32` to look like one.
   */
  arch?: ChrootArch;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
}

function runDebootstrap(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('debootstrap', args, { env, stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    const chunks: Buffer[] = [];
    let timedOut = false;
    let kill: NodeJS.Timeout | undefined;
    const term = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', (e) => {
      clearTimeout(term);
      if (kill) clearTimeout(kill);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(term);
      if (kill) clearTimeout(kill);
      resolve({ code, signal, output: Buffer.concat(chunks).toString('utf8'), timedOut });
    });
  });
}

function withSbin(p: string | undefined): string {
  const parts = (p ?? '').split(':').filter((x) => x !== '');
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])
    if (!parts.includes(d)) parts.push(d);
  return parts.join(':');
}

async function tailOf(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

/**
 * `debootstrap --variant=minbase --arch=<opts.arch: amd64> --keyring=<world's key> bookworm TARGET http://<alias>`
 * with http_proxy=proxyUrl (aptgate in proxy mode) and no no_proxy: alias does not resolve, so a
 * success means every byte came through the proxy. Then TARGET/etc/apt/sources.list is
 * `deb http://<alias> bookworm main`. targetDir must be absent or empty; it is left in place on
 * failure (the Error names it and holds debootstrap's output). Must run as root. Afterwards no
 * mount may remain under TARGET: any that does is unmounted (so the host is not left with them) and
 * the call fails, naming it.
 */
export async function bootstrapChroot(
  world: ChrootWorld,
  proxyUrl: string,
  targetDir: string,
  opts: BootstrapOptions = {},
): Promise<Chroot> {
  if (process.getuid?.() !== 0)
    throw new Error(
      `bootstrapChroot must run as root (debootstrap chroots, mknods and mounts; the CI runs as root), uid is ${process.getuid?.()}`,
    );
  const arch = opts.arch ?? CHROOT_ARCH;
  if (!world.architectures.includes(arch)) {
    throw new Error(
      `bootstrapChroot: the world publishes ${world.architectures.join(', ')}, not ${arch} (makeChrootWorld({ architectures: [..., '${arch}'] }))`,
    );
  }
  const target = path.resolve(targetDir);
  await mkdir(target, { recursive: true });
  if ((await readdir(target)).length > 0) throw new Error(`bootstrapChroot: ${target} is not empty`);
  const before = await mountsUnder(target);
  if (before.length > 0) throw new Error(`bootstrapChroot: already mounted under ${target}: ${before.join(', ')}`);

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [
    'http_proxy',
    'HTTP_PROXY',
    'https_proxy',
    'HTTPS_PROXY',
    'ftp_proxy',
    'FTP_PROXY',
    'all_proxy',
    'ALL_PROXY',
    'no_proxy',
    'NO_PROXY',
  ])
    delete env[k];
  env.http_proxy = proxyUrl;
  env.LC_ALL = 'C';
  env.DEBIAN_FRONTEND = 'noninteractive';
  env.PATH = withSbin(env.PATH);
  const args = [
    '--variant=minbase',
    `--arch=${arch}`,
    `--keyring=${world.key.keyring}`,
    CHROOT_SUITE,
    target,
    world.mirror,
  ];

  const started = Date.now();
  const r = await runDebootstrap(args, env, opts.timeoutMs ?? 15 * 60_000);
  const ms = Date.now() - started;

  const left = await mountsUnder(target);
  const unmountErrors: string[] = [];
  for (const m of left) {
    const u = await exec('umount', [m], { timeoutMs: 60_000 });
    if (u.code !== 0) unmountErrors.push(`${m}: ${u.stderr.toString('utf8').trim()}`);
  }
  const cmd = `http_proxy=${proxyUrl} debootstrap ${args.join(' ')}`;
  if (r.code !== 0) {
    const how = r.timedOut ? `timed out after ${ms} ms` : r.signal ? `was killed by ${r.signal}` : `exited ${r.code}`;
    throw new Error(
      `${cmd} ${how} (chroot left in ${target}):\n${r.output}\n--- ${target}/debootstrap/debootstrap.log (tail) ---\n${await tailOf(path.join(target, 'debootstrap', 'debootstrap.log'), 60)}` +
        (left.length > 0
          ? `\n--- and it left mounts under ${target}: ${left.join(', ')}${unmountErrors.length ? ` (umount failed: ${unmountErrors.join('; ')})` : ' (unmounted now)'}`
          : ''),
    );
  }
  if (left.length > 0) {
    throw new Error(
      `${cmd} succeeded but left mounts under ${target}: ${left.join(', ')}${unmountErrors.length ? ` (umount failed: ${unmountErrors.join('; ')})` : ' (unmounted now)'}\n${r.output}`,
    );
  }

  const sources = path.join(target, 'etc', 'apt', 'sources.list');
  const want = `deb ${world.mirror} ${CHROOT_SUITE} main\n`;
  const have = await readFile(sources, 'utf8').catch(() => '');
  if (have.trim() !== want.trim()) await writeFile(sources, want, { mode: 0o644 });
  await stat(path.join(target, 'var', 'lib', 'dpkg', 'status'));
  return { target, output: r.output, ms };
}

// ---------------------------------------------------------------------------------------------
// one chroot per world and proxy, per process

const shared = new WeakMap<ChrootWorld, Map<string, Promise<Chroot>>>();

/**
 * bootstrapChroot into <world.dir>/chroot (the first; then chroot-1, ...), memoised per (world,
 * proxyUrl, opts.arch) within this process: the
 * tests of one file that share a world and a server share one chroot (debootstrap runs once; a
 * failure is memoised too, so every test reports the same Error instead of bootstrapping again).
 * Tests that change the chroot must therefore leave it usable for the others. world.close()
 * removes it.
 */
export function sharedChroot(world: ChrootWorld, proxyUrl: string, opts: BootstrapOptions = {}): Promise<Chroot> {
  let byProxy = shared.get(world);
  if (!byProxy) {
    byProxy = new Map();
    shared.set(world, byProxy);
  }
  const key = `${opts.arch ?? CHROOT_ARCH} ${proxyUrl}`;
  let p = byProxy.get(key);
  if (!p) {
    const n = byProxy.size;
    p = bootstrapChroot(world, proxyUrl, path.join(world.dir, n === 0 ? 'chroot' : `chroot-${n}`), opts);
    byProxy.set(key, p);
  }
  return p;
}
