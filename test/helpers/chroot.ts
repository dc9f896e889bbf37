/**
 * A real LTSP-style chroot for tests: `debootstrap --variant=minbase` of Debian bookworm amd64,
 * made THROUGH aptgate in proxy mode from a local, test-signed copy of the packages it needs.
 *
 * The .debs come from a cache outside the repository that test/fetch-minbase.sh fills once (CI's
 * .ci/run does it on its install step; it needs Debian's mirror that one time): <cache>/debs/*.deb,
 * <cache>/Packages (the archive's stanzas of those packages: debootstrap picks the minbase set by
 * the archive's Priority, which differs from some .debs' own) and <cache>/SHA256SUMS. Tests never
 * touch the internet; without the cache they fail with an Error saying how to make it (no skip).
 *
 * makeChrootWorld() serves those .debs (plus any DebSpecs) as the signed suite `bookworm` of a
 * FixtureRepo behind FixtureUpstream at /debian. Clients name it by `alias`, a host that does not
 * resolve (deb.aptgate-test.invalid/debian), which world.tweak declares as an alias of the aptgate
 * backend 'debian': a debootstrap that succeeds got every byte through the proxy.
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
import { applySetting, type Config } from '../../src/config.js';
import { field, parseControlParagraphs, type ControlFields, type DebSpec } from './debs.js';
import { exec } from './exec.js';
import { disposeTestKey, loadTestKey, type TestKey } from './gpg.js';
import { FixtureRepo, type PublishOptions, type Published } from './repo.js';
import type { BackendSpec } from './server.js';
import { FixtureUpstream } from './upstream.js';

export const CHROOT_SUITE = 'bookworm';
export const CHROOT_ARCH = 'amd64';
/** the aptgate backend the chroot's sources go to */
export const CHROOT_BACKEND = 'debian';
/** host/path clients use in proxy mode; `.invalid` never resolves (RFC 2606) */
export const CHROOT_ALIAS = 'deb.aptgate-test.invalid/debian';

const FETCH_HINT = 'run `bash test/fetch-minbase.sh` (CI\'s .ci/run does; needs Debian\'s mirror once)';

// ---------------------------------------------------------------------------------------------
// the minbase cache

/** Where test/fetch-minbase.sh keeps the minbase .debs: $APTGATE_TEST_MINBASE or the CI default. */
export function minbaseCacheDir(): string {
  return process.env.APTGATE_TEST_MINBASE || '/var/cache/aptgate-test/minbase-bookworm-amd64';
}

export interface MinbaseCache {
  dir: string;
  /** absolute paths of the .debs */
  debs: string[];
  /**
   * the archive's Packages fields per `name version arch`, without Filename, Size and checksums
   * (the FixtureRepo computes those for its own pool)
   */
  fields: Map<string, ControlFields>;
}

function missing(dir: string, why: string): Error {
  return new Error(`the minbase .debs are missing: ${FETCH_HINT}. (${dir}: ${why})`);
}

const FILE_FIELDS = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512']);
const checked = new Map<string, Promise<MinbaseCache>>();

/**
 * Checks the cache (sha256sum -c SHA256SUMS, and that Packages and debs/ describe the same set)
 * and reads it. Throws the "missing: run test/fetch-minbase.sh" Error when it is absent or
 * incomplete. Checked once per process and directory.
 */
export function loadMinbaseCache(dir: string = minbaseCacheDir()): Promise<MinbaseCache> {
  let p = checked.get(dir);
  if (!p) {
    p = readMinbaseCache(dir);
    checked.set(dir, p);
  }
  return p;
}

/** Throws the Error that says how to fetch the .debs unless the minbase cache is complete. */
export async function checkMinbaseCache(dir: string = minbaseCacheDir()): Promise<void> {
  await loadMinbaseCache(dir);
}

async function readMinbaseCache(dir: string): Promise<MinbaseCache> {
  let sums: string;
  let packages: string;
  try {
    sums = await readFile(path.join(dir, 'SHA256SUMS'), 'utf8');
    packages = await readFile(path.join(dir, 'Packages'), 'utf8');
  } catch (err) {
    throw missing(dir, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no SHA256SUMS or Packages' : String(err));
  }
  const check = await exec('sha256sum', ['--quiet', '--strict', '-c', 'SHA256SUMS'], { cwd: dir, env: { ...process.env, LC_ALL: 'C' }, timeoutMs: 120_000 });
  if (check.code !== 0) {
    const out = `${check.stdout.toString('utf8')}${check.stderr.toString('utf8')}`.trim().split('\n').slice(0, 5).join('; ');
    throw missing(dir, `sha256sum -c SHA256SUMS fails: ${out}`);
  }
  const summed = new Set(
    sums.split('\n').filter((l) => l.trim() !== '').map((l) => l.replace(/^[0-9a-f]{64} [ *]/, '')),
  );
  if (!summed.has('Packages')) throw missing(dir, 'SHA256SUMS does not cover Packages');
  const onDisk = (await readdir(path.join(dir, 'debs')).catch(() => [] as string[])).filter((f) => f.endsWith('.deb'));
  const debs: string[] = [];
  const fields = new Map<string, ControlFields>();
  for (const stanza of parseControlParagraphs(packages)) {
    const name = field(stanza, 'Package');
    const version = field(stanza, 'Version');
    const arch = field(stanza, 'Architecture');
    const filename = field(stanza, 'Filename');
    if (!name || !version || !arch || !filename) throw missing(dir, `a Packages stanza without Package/Version/Architecture/Filename: ${JSON.stringify(stanza.slice(0, 3))}`);
    const rel = `debs/${path.posix.basename(filename)}`;
    if (!summed.has(rel)) throw missing(dir, `${rel} (${name} ${version}) is not in SHA256SUMS`);
    debs.push(path.join(dir, rel));
    fields.set(`${name} ${version} ${arch}`, stanza.filter(([k]) => !FILE_FIELDS.has(k.toLowerCase())));
  }
  if (debs.length === 0) throw missing(dir, 'Packages lists no package');
  if (onDisk.length !== debs.length) throw missing(dir, `${onDisk.length} .debs in debs/ but ${debs.length} stanzas in Packages`);
  return { dir, debs, fields };
}

// ---------------------------------------------------------------------------------------------
// the world

export interface ChrootWorld {
  dir: string;
  key: TestKey;
  repo: FixtureRepo;
  upstream: FixtureUpstream;
  minbase: MinbaseCache;
  /** the first publish of the suite (the minbase debs plus opts.debs) */
  gen1: Published;
  /** for testConfig(dir, { [CHROOT_BACKEND]: world.backend }, world.tweak) */
  backend: BackendSpec;
  /** CHROOT_ALIAS: host/path of the repository as clients name it (never resolves) */
  alias: string;
  /** `http://${alias}`: the mirror URL in debootstrap's command line and the chroot's sources.list */
  mirror: string;
  /** declares `alias` as an alias of the backend 'debian' in a server config (a testConfig tweak) */
  tweak(config: Config): void;
  /** republishes `bookworm`: the minbase debs plus these (e.g. a v2 of a package) */
  publish(debs: DebSpec[], opts?: Omit<PublishOptions, 'extraDebs' | 'packagesFields'>): Promise<Published>;
  /**
   * stops the upstream and the key's agent and deletes dir (chroots made inside it included);
   * refuses to delete anything while a mount remains under dir
   */
  close(): Promise<void>;
}

/**
 * A temp dir, the 'archive' test key, a FixtureRepo whose suite `bookworm` holds the cached minbase
 * .debs (published with the archive's Packages fields) plus opts.debs (built with dpkg-deb), served
 * by FixtureUpstream at /debian. Fails with the "run test/fetch-minbase.sh" Error without the cache.
 */
export async function makeChrootWorld(opts: { debs?: DebSpec[] } = {}): Promise<ChrootWorld> {
  const minbase = await loadMinbaseCache();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-chroot-'));
  let key: TestKey | undefined;
  let upstream: FixtureUpstream | undefined;
  try {
    key = await loadTestKey(dir, 'archive');
    const repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
    const publish = (debs: DebSpec[], popts: Omit<PublishOptions, 'extraDebs' | 'packagesFields'> = {}) =>
      repo.publish(CHROOT_SUITE, debs, {
        ...popts,
        extraDebs: minbase.debs,
        packagesFields: (d) => minbase.fields.get(`${d.name} ${d.version} ${d.arch}`),
      });
    const gen1 = await publish(opts.debs ?? []);
    upstream = await FixtureUpstream.start(repo.root, { prefix: '/debian' });
    const up = upstream;
    const k = key;
    return {
      dir, key, repo, upstream, minbase, gen1,
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

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below dir (by its real path), from /proc/self/mountinfo, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch {
    real = path.resolve(dir);
  }
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => unescapeMountinfo(l.split(' ')[4] ?? ''))
    .filter((m) => m === real || m.startsWith(`${real}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
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
}

interface RunResult { code: number | null; signal: NodeJS.Signals | null; output: string; timedOut: boolean }

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
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (!parts.includes(d)) parts.push(d);
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
 * `debootstrap --variant=minbase --arch=amd64 --keyring=<world's key> bookworm TARGET http://<alias>`
 * with http_proxy=proxyUrl (aptgate in proxy mode) and no no_proxy: alias does not resolve, so a
 * success means every byte came through the proxy. Then TARGET/etc/apt/sources.list is
 * `deb http://<alias> bookworm main`. targetDir must be absent or empty; it is left in place on
 * failure (the Error names it and holds debootstrap's output). Must run as root. Afterwards no
 * mount may remain under TARGET: any that does is unmounted (so the host is not left with them) and
 * the call fails, naming it.
 */
export async function bootstrapChroot(world: ChrootWorld, proxyUrl: string, targetDir: string, opts: BootstrapOptions = {}): Promise<Chroot> {
  if (process.getuid?.() !== 0) throw new Error(`bootstrapChroot must run as root (debootstrap chroots, mknods and mounts; the CI runs as root), uid is ${process.getuid?.()}`);
  const target = path.resolve(targetDir);
  await mkdir(target, { recursive: true });
  if ((await readdir(target)).length > 0) throw new Error(`bootstrapChroot: ${target} is not empty`);
  const before = await mountsUnder(target);
  if (before.length > 0) throw new Error(`bootstrapChroot: already mounted under ${target}: ${before.join(', ')}`);

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'ftp_proxy', 'FTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY']) delete env[k];
  env.http_proxy = proxyUrl;
  env.LC_ALL = 'C';
  env.DEBIAN_FRONTEND = 'noninteractive';
  env.PATH = withSbin(env.PATH);
  const args = [
    '--variant=minbase', `--arch=${CHROOT_ARCH}`, `--keyring=${world.key.keyring}`,
    CHROOT_SUITE, target, world.mirror,
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
        (left.length > 0 ? `\n--- and it left mounts under ${target}: ${left.join(', ')}${unmountErrors.length ? ` (umount failed: ${unmountErrors.join('; ')})` : ' (unmounted now)'}` : ''),
    );
  }
  if (left.length > 0) {
    throw new Error(`${cmd} succeeded but left mounts under ${target}: ${left.join(', ')}${unmountErrors.length ? ` (umount failed: ${unmountErrors.join('; ')})` : ' (unmounted now)'}\n${r.output}`);
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
 * bootstrapChroot into <world.dir>/chroot, memoised per (world, proxyUrl) within this process: the
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
  let p = byProxy.get(proxyUrl);
  if (!p) {
    const n = byProxy.size;
    p = bootstrapChroot(world, proxyUrl, path.join(world.dir, n === 0 ? 'chroot' : `chroot-${n}`), opts);
    byProxy.set(proxyUrl, p);
  }
  return p;
}
