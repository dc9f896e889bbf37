// Synthetic fleet for bench:fleet: dpkg-like installed sets (valid InstalledPackage records,
// canonical text of src/index/profile-record.ts), profiles that share most of their packages as
// machines of one release do, machines with their facts and report extras. Deterministic.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AptUpgradable, CollectedExtras } from '../src/agent/types.js';
import { packagesText } from '../src/index/profile-record.js';
import type { InstalledPackage } from '../src/index/status.js';
// the test helpers' seeded PRNG: every run generates the same fleet
import { prng as rng } from '../test/helpers/statusgen.js';

const SYL = [
  'acl',
  'apt',
  'attr',
  'audit',
  'avahi',
  'bind',
  'blk',
  'brotli',
  'bz',
  'cairo',
  'cap',
  'cbor',
  'cdio',
  'colord',
  'crypt',
  'cups',
  'curl',
  'dbus',
  'dconf',
  'drm',
  'dw',
  'edit',
  'elf',
  'epoxy',
  'exif',
  'expat',
  'fdisk',
  'ffi',
  'flac',
  'font',
  'fribidi',
  'gcrypt',
  'gd',
  'gdbm',
  'gif',
  'glib',
  'gmp',
  'gnutls',
  'gpgme',
  'graph',
  'gsm',
  'gtk',
  'gudev',
  'harf',
  'hogweed',
  'hunspell',
  'icu',
  'idn',
  'jansson',
  'jbig',
  'jpeg',
  'json',
  'k5',
  'kmod',
  'krb',
  'lcms',
  'ldap',
  'lz',
  'lzma',
  'magic',
  'mnl',
  'mount',
  'mpc',
  'mpfr',
  'ncurses',
  'netfilter',
  'nettle',
  'nghttp',
  'nl',
  'nspr',
  'nss',
  'ogg',
  'opus',
  'orc',
  'pam',
  'pango',
  'pcre',
  'pixman',
  'png',
  'poppler',
  'popt',
  'proc',
  'psl',
  'pulse',
  'rsvg',
  'rtmp',
  'sasl',
  'seccomp',
  'selinux',
  'semanage',
  'sepol',
  'smart',
  'snappy',
  'sndfile',
  'soup',
  'sqlite',
  'ssh',
  'ssl',
  'systemd',
  'tasn',
  'tdb',
  'theora',
  'tiff',
  'unistring',
  'usb',
  'uuid',
  'vorbis',
  'vpx',
  'wayland',
  'webp',
  'x11',
  'xau',
  'xcb',
  'xdmcp',
  'xext',
  'xml',
  'xslt',
  'xtables',
  'yaml',
  'zstd',
];
const WORD = [
  'agent',
  'archive',
  'backup',
  'bridge',
  'cache',
  'check',
  'client',
  'common',
  'config',
  'core',
  'daemon',
  'data',
  'desktop',
  'doc',
  'driver',
  'editor',
  'engine',
  'extra',
  'filter',
  'firmware',
  'fonts',
  'gui',
  'helper',
  'indexer',
  'keyring',
  'locale',
  'manager',
  'monitor',
  'notify',
  'panel',
  'plugin',
  'policy',
  'portal',
  'printer',
  'runtime',
  'scanner',
  'server',
  'session',
  'shell',
  'sync',
  'tools',
  'utils',
  'viewer',
  'wrapper',
];

export interface PkgSpec {
  name: string;
  arch: 'amd64' | 'all';
  multiArch: string | undefined;
  source: string;
  essential: boolean;
  /** [current, older, older still] */
  versions: [string, string, string];
  /** binNMU: the binary version is the source version + "+b1" */
  binNmu: boolean;
  depends: string | undefined;
  preDepends: string | undefined;
  recommends: string | undefined;
  breaks: string | undefined;
  conflicts: string | undefined;
  provides: string | undefined;
  aptHash: [number, number, number];
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function versionsOf(r: () => number): [string, string, string] {
  const epoch = r() < 0.08 ? `${1 + Math.floor(r() * 3)}:` : '';
  const maj = Math.floor(r() * 12);
  const min = Math.floor(r() * 40);
  const style = r();
  const up = (p: number) =>
    style < 0.6
      ? `${maj}.${min}.${p}`
      : style < 0.8
        ? `${maj}.${min + p}`
        : style < 0.9
          ? `${maj}.${min}.${p}~dfsg`
          : `${2019 + (maj % 5)}${String(1 + (min % 12)).padStart(2, '0')}${String(1 + p).padStart(2, '0')}`;
  const rev = 1 + Math.floor(r() * 6);
  const native = r() < 0.05;
  const v = (p: number, u: number) => `${epoch}${up(p)}${native ? '' : `-${rev}${u ? `+deb12u${u}` : ''}`}`;
  const p = 1 + Math.floor(r() * 9);
  return [v(p, 2), v(p, 1), v(p - 1, 0)];
}

function relationList(r: () => number, libs: readonly PkgSpec[], n: number): string {
  const out = new Set<string>();
  for (let i = 0; i < n && libs.length; i++) {
    const d = pick(r, libs);
    const x = r();
    if (x < 0.55) out.add(`${d.name} (>= ${d.versions[2].replace(/-[^-]*$/, '')})`);
    else if (x < 0.65) out.add(`${d.name} (= ${d.versions[0]})`);
    else if (x < 0.72) out.add(`${d.name} | ${pick(r, libs).name}`);
    else out.add(d.name);
  }
  return [...out].join(', ');
}

/** A pool of distinct package specs; `libs` are what their Depends name. */
function makePool(r: () => number, n: number, taken: Set<string>, libs: PkgSpec[], prefix: string): PkgSpec[] {
  const out: PkgSpec[] = [];
  while (out.length < n) {
    const k = r();
    const a = pick(r, SYL);
    const b = pick(r, SYL);
    const w = pick(r, WORD);
    let name: string;
    if (k < 0.45) name = `lib${a}${r() < 0.5 ? b : ''}${Math.floor(r() * 10)}${r() < 0.15 ? 't64' : ''}`;
    else if (k < 0.55) name = `${a}-${w}`;
    else if (k < 0.65) name = `python3-${a}${r() < 0.3 ? `-${w}` : ''}`;
    else if (k < 0.72) name = `lib${a}-${w}`;
    else if (k < 0.78) name = `fonts-${a}${b}`;
    else if (k < 0.84) name = `${prefix}${a}${b}`;
    else if (k < 0.9) name = `gir1.2-${a}-${1 + Math.floor(r() * 4)}.0`;
    else name = `${a}${b}-${w}`;
    if (taken.has(name)) continue;
    taken.add(name);
    const isLib = name.startsWith('lib') && !name.includes('-');
    const arch = isLib || r() < 0.65 ? 'amd64' : 'all';
    const deps = relationList(r, libs, isLib ? 1 + Math.floor(r() * 4) : 2 + Math.floor(r() * 8));
    const spec: PkgSpec = {
      name,
      arch,
      multiArch: isLib ? 'same' : arch === 'all' && r() < 0.4 ? 'foreign' : r() < 0.05 ? 'allowed' : undefined,
      source:
        r() < 0.55
          ? name
          : name
              .replace(/^lib/, '')
              .replace(/[0-9]+(t64)?$/, '')
              .replace(/-(common|data|doc|tools|utils)$/, '') || name,
      essential: r() < 0.01,
      versions: versionsOf(r),
      binNmu: arch === 'amd64' && r() < 0.05,
      depends: deps || undefined,
      preDepends: r() < 0.06 ? 'init-system-helpers (>= 1.54~)' : r() < 0.05 ? 'libc6 (>= 2.34)' : undefined,
      recommends: r() < 0.25 ? relationList(r, libs, 1 + Math.floor(r() * 3)) || undefined : undefined,
      breaks: r() < 0.05 ? `${pick(r, libs).name} (<< ${pick(r, libs).versions[1]})` : undefined,
      conflicts: r() < 0.03 ? pick(r, libs).name : undefined,
      provides: r() < 0.05 ? `${name.replace(/[0-9]+(t64)?$/, '')}-abi-${1 + Math.floor(r() * 9)}` : undefined,
      aptHash: [Math.floor(r() * 2 ** 32), Math.floor(r() * 2 ** 32), Math.floor(r() * 2 ** 32)],
    };
    out.push(spec);
    if (isLib) libs.push(spec);
  }
  return out;
}

export function record(s: PkgSpec, v: 0 | 1 | 2): InstalledPackage {
  const version = s.binNmu ? `${s.versions[v]}+b1` : s.versions[v];
  return {
    package: s.name,
    architecture: s.arch,
    version,
    want: 'install',
    ok: true,
    state: 'installed',
    multiArch: s.multiArch,
    source: s.source,
    sourceVersion: s.versions[v],
    essential: s.essential,
    depends: s.depends,
    preDepends: s.preDepends,
    recommends: s.recommends,
    breaks: s.breaks,
    conflicts: s.conflicts,
    provides: s.provides,
    aptHash: s.aptHash[v],
  };
}

export interface Profile {
  index: number;
  installed: InstalledPackage[];
  /** canonical packages text and its hash (what the agent sends) */
  text: string;
  hash: string;
  /** gzip of text, as the agent sends it in `full` */
  gz: Buffer;
  /** core packages installed at an older version: what apt can upgrade */
  upgradable: AptUpgradable[];
}

export interface FleetShape {
  profiles: number;
  /** packages every profile has (a few at an older version) */
  core: number;
  /** packages each profile picks from a wider pool */
  optionalPool: number;
  optionalPerProfile: [number, number];
  /** chance a core package is at an older version in a profile */
  olderShare: number;
}

export const DEFAULT_SHAPE: FleetShape = {
  profiles: 200,
  core: 1800,
  optionalPool: 4000,
  optionalPerProfile: [150, 250],
  olderShare: 0.01,
};

/** The packages the profiles are made of: every profile has the core, and some of the optional ones. */
export function makePackages(shape: FleetShape, seed = 42): { core: PkgSpec[]; optional: PkgSpec[] } {
  const r = rng(seed);
  const taken = new Set<string>();
  const libs: PkgSpec[] = [];
  const core = makePool(r, shape.core, taken, libs, '');
  const optional = makePool(r, shape.optionalPool, taken, libs, 'x');
  return { core, optional };
}

export function makeProfiles(shape: FleetShape, seed = 42): Profile[] {
  const { core, optional } = makePackages(shape, seed);
  const out: Profile[] = [];
  for (let p = 0; p < shape.profiles; p++) {
    const pr = rng(seed * 1000 + p + 1);
    const installed: InstalledPackage[] = [];
    const upgradable: AptUpgradable[] = [];
    for (const s of core) {
      const older = pr() < shape.olderShare;
      const rec = record(s, older ? 1 : 0);
      installed.push(rec);
      if (older)
        upgradable.push({
          package: s.name,
          architecture: s.arch,
          installed: rec.version,
          candidate: record(s, 0).version,
          security: pr() < 0.4,
        });
    }
    // padding when the core has few older versions: the agent's list then names other packages
    for (let i = 0; upgradable.length < 20; i++) {
      const s = core[(p * 37 + i * 101) % core.length]!;
      if (!upgradable.some((u) => u.package === s.name))
        upgradable.push({
          package: s.name,
          architecture: s.arch,
          installed: record(s, 0).version,
          candidate: `${record(s, 0).version}.1`,
          security: false,
        });
    }
    const [lo, hi] = shape.optionalPerProfile;
    const want = lo + Math.floor(pr() * (hi - lo + 1));
    const chosen = new Set<number>();
    while (chosen.size < want) chosen.add(Math.floor(pr() * optional.length));
    for (const i of chosen) installed.push(record(optional[i]!, pr() < 0.1 ? 1 : 0));
    const t = packagesText(installed);
    out.push({ index: p, installed, text: t.text, hash: t.hash, gz: gzipSync(t.text), upgradable });
  }
  return out;
}

/** Share of package records two profiles have in common (mean over some pairs). */
export function sharedShare(profiles: readonly Profile[], pairs = 50): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < pairs && i + 1 < profiles.length; i++) {
    const a = new Set(profiles[i]!.text.split('\n'));
    const b = profiles[(i * 7 + 1) % profiles.length]!.text.split('\n');
    if (profiles[(i * 7 + 1) % profiles.length] === profiles[i]) continue;
    const common = b.filter((l) => l && a.has(l)).length;
    sum += common / Math.max(a.size - 1, b.length - 1);
    n++;
  }
  return n ? sum / n : 1;
}

export interface SimMachine {
  index: number;
  machineId: string;
  hostname: string;
  profile: Profile;
  extras: CollectedExtras;
  /** what the agent computes: sha256(packages hash + "\n" + JSON of the extras) */
  state: string;
  /** given at enrolment */
  id: number;
  secret: string;
  /** the last signed timestamp: the next must be larger */
  lastTs: number;
}

const SITES = ['ber', 'muc', 'ham', 'fra', 'lon', 'par', 'ams', 'vie'];

/** The name the agents reach the server by (their Host header), and their remap-mode sources name. */
export const SERVER_HOST = 'aptgate.bench.example:3142';

function sourcesFiles(): CollectedExtras['sources'] {
  return [
    {
      path: '/etc/apt/sources.list',
      content:
        `# managed by configuration management\ndeb http://${SERVER_HOST}/debian bookworm main contrib non-free-firmware\n` +
        `deb http://${SERVER_HOST}/debian bookworm-updates main contrib non-free-firmware\n`,
    },
    {
      path: '/etc/apt/sources.list.d/debian-security.sources',
      content:
        `Types: deb\nURIs: http://${SERVER_HOST}/debian-security\nSuites: bookworm-security\nComponents: main contrib non-free-firmware\n` +
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    },
  ];
}

export function makeMachines(n: number, profiles: readonly Profile[], seed = 7): SimMachine[] {
  const r = rng(seed);
  const out: SimMachine[] = [];
  for (let i = 0; i < n; i++) {
    // the first profiles.length machines have one profile each: they create the profiles
    const profile = profiles[i % profiles.length]!;
    const nUp = Math.floor(r() * 21);
    const extras: CollectedExtras = {
      holds: [],
      sources: sourcesFiles(),
      preferences: [],
      aptUpgradable: profile.upgradable.slice(0, nUp),
      reboot: { required: false, packages: [] },
      dpkg: { audit: '', interrupted: false },
    };
    out.push({
      index: i,
      machineId: createHash('sha256').update(`bench-fleet-machine-${seed}-${i}`).digest('hex').slice(0, 32),
      hostname: `ws-${SITES[i % SITES.length]}-${String(i).padStart(6, '0')}.bench.example.org`,
      profile,
      extras,
      state: createHash('sha256')
        .update(`${profile.hash}\n${JSON.stringify(extras)}`)
        .digest('hex'),
      id: 0,
      secret: '',
      lastTs: 0,
    });
  }
  return out;
}

export function factsOf(m: SimMachine): Record<string, unknown> {
  return {
    hostname: m.hostname,
    machineId: m.machineId,
    architecture: 'amd64',
    foreignArchitectures: m.index % 10 === 0 ? ['i386'] : [],
    distribution: 'Debian GNU/Linux 12 (bookworm)',
    codename: 'bookworm',
    kernel: '6.1.0-28-amd64',
    agentVersion: 'aptgate-agent 0.1.0',
  };
}
