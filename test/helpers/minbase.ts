// The minbase .debs of Debian bookworm that test/fetch-minbase.sh caches once per architecture
// outside the repository (see helpers/chroot.ts): where they are, loading and checking them, and
// merging the caches of several architectures (their Architecture: all packages published once).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { field, parseControlParagraphs, type ControlFields } from './debs.js';
import { exec } from './exec.js';

export const CHROOT_SUITE = 'bookworm';
/** the default architecture (of the worlds and of the chroots) */
export const CHROOT_ARCH = 'amd64';
/** the architectures test/fetch-minbase.sh caches by default, hence those a chroot can have */
export const CHROOT_ARCHS = ['amd64', 'i386'] as const;
export type ChrootArch = (typeof CHROOT_ARCHS)[number];
/** the aptgate backend the chroot's sources go to */
export const CHROOT_BACKEND = 'debian';
/** host/path clients use in proxy mode; `.invalid` never resolves (RFC 2606) */
export const CHROOT_ALIAS = 'deb.aptgate-test.invalid/debian';

const FETCH_HINT = "run `npm test` (its set-up fetches them: test/fetch-minbase.sh; needs Debian's mirror once)";

/**
 * Where test/fetch-minbase.sh keeps the minbase .debs of an architecture (like it does):
 * $APTGATE_TEST_MINBASE for amd64 when set, else
 * ${APTGATE_TEST_MINBASE_DIR:-/var/cache/aptgate-test}/minbase-bookworm-<arch>.
 */
export function minbaseCacheDir(arch: string = CHROOT_ARCH): string {
  if (arch === 'amd64' && process.env.APTGATE_TEST_MINBASE) return process.env.APTGATE_TEST_MINBASE;
  return path.join(
    process.env.APTGATE_TEST_MINBASE_DIR || '/var/cache/aptgate-test',
    `minbase-${CHROOT_SUITE}-${arch}`,
  );
}

/** one .deb of a minbase cache */
export interface MinbaseDeb {
  name: string;
  version: string;
  /** the cache's architecture or 'all' */
  arch: string;
  /** absolute path */
  path: string;
  /** from SHA256SUMS (which loadMinbaseCache has checked) */
  sha256: string;
  /** the archive's Packages fields, without Filename, Size and checksums */
  fields: ControlFields;
}

export interface MinbaseCache {
  /** the architecture it is the minbase of */
  arch: string;
  dir: string;
  /** absolute paths of the .debs */
  debs: string[];
  /**
   * the archive's Packages fields per `name version arch`, without Filename, Size and checksums
   * (the FixtureRepo computes those for its own pool)
   */
  fields: Map<string, ControlFields>;
  /** the same .debs, one record each */
  packages: MinbaseDeb[];
}

function missing(arch: string, dir: string, why: string): Error {
  const hint = (CHROOT_ARCHS as readonly string[]).includes(arch)
    ? FETCH_HINT
    : `run \`bash test/fetch-minbase.sh ${arch}\` (it fetches only ${CHROOT_ARCHS.join(' and ')} unless told; needs Debian's mirror once)`;
  return new Error(`the minbase .debs for ${arch} are missing: ${hint}. (${dir}: ${why})`);
}

const FILE_FIELDS = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512']);
const checked = new Map<string, Promise<MinbaseCache>>();

/**
 * Checks the cache of an architecture (sha256sum -c SHA256SUMS, that Packages and debs/ describe
 * the same set, that every package is for `arch` or 'all') and reads it. Throws the "missing: run
 * test/fetch-minbase.sh" Error when it is absent or incomplete. Checked once per process,
 * architecture and directory.
 */
export function loadMinbaseCache(
  arch: string = CHROOT_ARCH,
  dir: string = minbaseCacheDir(arch),
): Promise<MinbaseCache> {
  const key = `${arch} ${dir}`;
  let p = checked.get(key);
  if (!p) {
    p = readMinbaseCache(arch, dir);
    checked.set(key, p);
  }
  return p;
}

/** Throws the Error that says how to fetch the .debs unless the minbase cache of arch is complete. */
export async function checkMinbaseCache(
  arch: string = CHROOT_ARCH,
  dir: string = minbaseCacheDir(arch),
): Promise<void> {
  await loadMinbaseCache(arch, dir);
}

async function readMinbaseCache(cacheArch: string, dir: string): Promise<MinbaseCache> {
  if (!/^[a-z0-9]+$/.test(cacheArch) || cacheArch === 'all')
    throw new Error(`loadMinbaseCache: not an architecture: ${JSON.stringify(cacheArch)}`);
  let sums: string;
  let packages: string;
  try {
    sums = await readFile(path.join(dir, 'SHA256SUMS'), 'utf8');
    packages = await readFile(path.join(dir, 'Packages'), 'utf8');
  } catch (err) {
    throw missing(
      cacheArch,
      dir,
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no SHA256SUMS or Packages' : String(err),
    );
  }
  const check = await exec('sha256sum', ['--quiet', '--strict', '-c', 'SHA256SUMS'], {
    cwd: dir,
    env: { ...process.env, LC_ALL: 'C' },
    timeoutMs: 120_000,
  });
  if (check.code !== 0) {
    const out = `${check.stdout.toString('utf8')}${check.stderr.toString('utf8')}`
      .trim()
      .split('\n')
      .slice(0, 5)
      .join('; ');
    throw missing(cacheArch, dir, `sha256sum -c SHA256SUMS fails: ${out}`);
  }
  // file -> sha256
  const summed = new Map<string, string>();
  for (const l of sums.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(l);
    if (m) summed.set(m[2]!, m[1]!);
  }
  if (!summed.has('Packages')) throw missing(cacheArch, dir, 'SHA256SUMS does not cover Packages');
  const onDisk = (await readdir(path.join(dir, 'debs')).catch(() => [] as string[])).filter((f) => f.endsWith('.deb'));
  const debs: string[] = [];
  const fields = new Map<string, ControlFields>();
  const records: MinbaseDeb[] = [];
  for (const stanza of parseControlParagraphs(packages)) {
    const name = field(stanza, 'Package');
    const version = field(stanza, 'Version');
    const arch = field(stanza, 'Architecture');
    const filename = field(stanza, 'Filename');
    if (!name || !version || !arch || !filename)
      throw missing(
        cacheArch,
        dir,
        `a Packages stanza without Package/Version/Architecture/Filename: ${JSON.stringify(stanza.slice(0, 3))}`,
      );
    if (arch !== cacheArch && arch !== 'all') {
      throw new Error(
        `${dir} is not the minbase cache of ${cacheArch}: it holds ${name} ${version} for ${arch} (APTGATE_TEST_MINBASE is the amd64 one; see test/fetch-minbase.sh)`,
      );
    }
    const rel = `debs/${path.posix.basename(filename)}`;
    const sha256 = summed.get(rel);
    if (!sha256) throw missing(cacheArch, dir, `${rel} (${name} ${version}) is not in SHA256SUMS`);
    const key = `${name} ${version} ${arch}`;
    if (fields.has(key)) throw missing(cacheArch, dir, `two Packages stanzas for ${key}`);
    const own = stanza.filter(([k]) => !FILE_FIELDS.has(k.toLowerCase()));
    debs.push(path.join(dir, rel));
    fields.set(key, own);
    records.push({ name, version, arch, path: path.join(dir, rel), sha256, fields: own });
  }
  if (debs.length === 0) throw missing(cacheArch, dir, 'Packages lists no package');
  if (onDisk.length !== debs.length)
    throw missing(cacheArch, dir, `${onDisk.length} .debs in debs/ but ${debs.length} stanzas in Packages`);
  return { arch: cacheArch, dir, debs, fields, packages: records };
}

function sameFields(a: ControlFields, b: ControlFields): boolean {
  return a.length === b.length && a.every(([k, v], i) => b[i]![0] === k && b[i]![1] === v);
}

/**
 * The .debs and Packages fields of several architectures' caches, each package once: the
 * Architecture: all ones every cache holds are taken from the first, after checking that the
 * others' files are the same (sha256) with the same archive stanza. Throws when they are not, and
 * when the caches hold different versions of an Architecture: all package (fetched from different
 * states of the archive; test/fetch-minbase.sh fetches such caches again).
 */
export function mergeMinbaseCaches(caches: readonly MinbaseCache[]): {
  debs: string[];
  fields: Map<string, ControlFields>;
} {
  const byKey = new Map<string, { deb: MinbaseDeb; from: MinbaseCache }>();
  const allVersion = new Map<string, { deb: MinbaseDeb; from: MinbaseCache }>();
  const debs: string[] = [];
  const fields = new Map<string, ControlFields>();
  const disagree = (what: string) =>
    new Error(
      `the minbase caches of ${caches.map((c) => c.arch).join(', ')} disagree: ${what}; ${FETCH_HINT} (it fetches disagreeing caches again)`,
    );
  for (const cache of caches) {
    for (const deb of cache.packages) {
      const key = `${deb.name} ${deb.version} ${deb.arch}`;
      if (deb.arch === 'all') {
        const other = allVersion.get(deb.name);
        if (other && other.deb.version !== deb.version) {
          throw disagree(
            `${deb.name} (all) is ${other.deb.version} in ${other.from.dir} but ${deb.version} in ${cache.dir}`,
          );
        }
        if (!other) allVersion.set(deb.name, { deb, from: cache });
      }
      const prev = byKey.get(key);
      if (!prev) {
        byKey.set(key, { deb, from: cache });
        debs.push(deb.path);
        fields.set(key, deb.fields);
        continue;
      }
      if (prev.deb.sha256 !== deb.sha256) {
        throw disagree(
          `${key}: ${prev.deb.path} (sha256 ${prev.deb.sha256}) and ${deb.path} (sha256 ${deb.sha256}) differ`,
        );
      }
      if (!sameFields(prev.deb.fields, deb.fields)) {
        throw disagree(
          `${key}: the archive's stanza in ${prev.from.dir}/Packages differs from the one in ${cache.dir}/Packages`,
        );
      }
    }
  }
  return { debs, fields };
}
