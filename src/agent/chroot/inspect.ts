// Finding LTSP chroots and telling what they are without running anything in them: the
// architecture from dpkg's own status entry (or the ELF header of its binary), the release from
// os-release, and whether this host can execute it (natively, or i386 on amd64 under linux32).
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseParagraphs } from '../../index/deb822.js';
import { CHROOT_NAME_RE } from '../../protocol/wire.js';
import { readIn, resolveIn } from './paths.js';

/** LTSP 5 kept chroots in /opt/ltsp/<name>, modern LTSP in /srv/ltsp/<name>. */
export const DEFAULT_CHROOT_BASES = ['/opt/ltsp', '/srv/ltsp'];

export type RunMode = 'native' | 'linux32' | 'unsupported';

export interface ChrootInfo {
  name: string;
  /** the chroot directory (symbolic links resolved) */
  path: string;
  /** dpkg's architecture of the chroot; '' when it cannot be told */
  architecture: string;
  /** os-release ID and VERSION_CODENAME ('' when absent) */
  distribution: string;
  codename: string;
  /** os-release PRETTY_NAME */
  release: string;
  run: RunMode;
  /** why it cannot be run (run = unsupported) */
  reason?: string;
}

/** Debian's architecture name of this host (what node runs on). */
export function hostArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    ia32: 'i386',
    arm64: 'arm64',
    arm: 'armhf',
    ppc64: 'ppc64el',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mipsel: 'mipsel',
    mips64el: 'mips64el',
  };
  return map[arch] ?? arch;
}

/** How a chroot of `arch` runs on a host of `host`. */
export function runModeOf(arch: string, host: string): { run: RunMode; reason?: string } {
  if (!arch)
    return {
      run: 'unsupported',
      reason: 'its architecture cannot be told (no dpkg status entry, no readable dpkg binary)',
    };
  if (arch === host) return { run: 'native' };
  if (host === 'amd64' && arch === 'i386') return { run: 'linux32' };
  return { run: 'unsupported', reason: `this ${host} host cannot execute ${arch} programs` };
}

const ELF_MACHINES: Record<number, (is64: boolean, le: boolean) => string> = {
  0x03: () => 'i386',
  0x3e: (is64) => (is64 ? 'amd64' : 'x32'),
  0xb7: () => 'arm64',
  0x28: () => 'armhf',
  0x15: (_is64, le) => (le ? 'ppc64el' : 'ppc64'),
  0x14: () => 'powerpc',
  0x16: () => 's390x',
  0xf3: (is64) => (is64 ? 'riscv64' : 'riscv32'),
  0x08: (is64, le) => (is64 ? (le ? 'mips64el' : 'mips64') : le ? 'mipsel' : 'mips'),
  0x102: () => 'loong64',
};

/** Debian's architecture of an ELF file from its header ('' when it is not ELF or unknown). */
export function elfArchitecture(header: Buffer): string {
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return '';
  const is64 = header[4] === 2;
  const le = header[5] === 1;
  const machine = le ? header.readUInt16LE(18) : header.readUInt16BE(18);
  return ELF_MACHINES[machine]?.(is64, le) ?? '';
}

async function elfOf(root: string, rel: string): Promise<string> {
  const p = await resolveIn(root, rel).catch(() => undefined);
  const fh = p === undefined ? undefined : await open(p, 'r').catch(() => undefined);
  if (!fh) return '';
  try {
    const b = Buffer.alloc(20);
    const { bytesRead } = await fh.read(b, 0, 20, 0);
    return elfArchitecture(b.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** The chroot's dpkg architecture: dpkg's own status entry, else its binary's ELF header. */
export async function chrootArchitecture(root: string): Promise<string> {
  for (const p of parseParagraphs(await readIn(root, 'var/lib/dpkg/status'))) {
    if (p['package'] === 'dpkg' && /installed$/.test(p['status'] ?? '') && p['architecture']) return p['architecture'];
  }
  for (const f of ['usr/bin/dpkg', 'bin/sh']) {
    const a = await elfOf(root, f);
    if (a) return a;
  }
  return '';
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(?:"([^"]*)"|'([^']*)'|(\S*))\s*$/.exec(line.trim());
    if (m) out[m[1]!] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return out;
}

/** os-release of a root (etc/os-release, else usr/lib/os-release), links resolved inside it. */
export async function osReleaseOf(root: string): Promise<Record<string, string>> {
  return parseOsRelease((await readIn(root, 'etc/os-release')) || (await readIn(root, 'usr/lib/os-release')));
}

export async function inspectChroot(
  dir: string,
  name = path.basename(dir),
  host = hostArchitecture(),
): Promise<ChrootInfo> {
  const real = await realpath(dir);
  const architecture = await chrootArchitecture(real);
  const rel = await osReleaseOf(real);
  const clean = (s: string | undefined) => (s ?? '').replace(/[^A-Za-z0-9 ._+~:/()-]/g, '').slice(0, 120);
  return {
    name,
    path: real,
    architecture,
    distribution: clean(rel['ID']),
    codename: clean(rel['VERSION_CODENAME']).toLowerCase(),
    release: clean(rel['PRETTY_NAME']),
    ...runModeOf(architecture, host),
  };
}

const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/** A chroot directory: a directory holding proc/ (what LTSP itself recognises). */
export async function isChrootDir(dir: string): Promise<boolean> {
  return (await isDir(dir)) && (await isDir(path.join(dir, 'proc')));
}

/** Directories to look at: chroot directories themselves, or bases whose subdirectories are chroots. */
export async function findChrootDirs(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) {
    if (await isChrootDir(d)) {
      out.push(d);
      continue;
    }
    const names = await readdir(d).catch(() => [] as string[]);
    for (const n of names.sort()) {
      if (n === 'images' || !CHROOT_NAME_RE.test(n)) continue;
      const p = path.join(d, n);
      if (await isChrootDir(p)) out.push(p);
    }
  }
  return out;
}

/**
 * The chroots to manage: the directories given, else the configured ones, else the LTSP
 * defaults. Names must be unique (they name the chroot's machine and its state directory).
 */
export async function discoverChroots(
  given: readonly string[],
  configured: readonly string[],
): Promise<{ chroots: ChrootInfo[]; problems: string[] }> {
  const explicit = given.length ? given : configured;
  const problems: string[] = [];
  for (const d of explicit) if (!(await isDir(d))) problems.push(`${d}: not a directory`);
  const dirs = await findChrootDirs(explicit.length ? explicit : DEFAULT_CHROOT_BASES);
  const chroots: ChrootInfo[] = [];
  const seen = new Map<string, string>();
  for (const d of dirs) {
    const name = path.basename(d);
    if (!CHROOT_NAME_RE.test(name)) {
      problems.push(`${d}: "${name}" is not usable as a chroot name (letters, digits, . _ -)`);
      continue;
    }
    let info: ChrootInfo;
    try {
      info = await inspectChroot(d, name);
    } catch (err) {
      problems.push(`${d}: ${(err as Error).message}`);
      continue;
    }
    const other = seen.get(name);
    if (other !== undefined) {
      if (other !== info.path)
        problems.push(`${d}: another chroot is already named ${name} (${other}); configure one of them only`);
      continue;
    }
    seen.set(name, info.path);
    chroots.push(info);
  }
  return { chroots, problems };
}
