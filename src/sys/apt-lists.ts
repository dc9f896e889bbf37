// Builds a View from files on disk: an apt lists directory (/var/lib/apt/lists, as apt left it
// after `apt update`: its signatures were checked by apt then) or bare Packages files.
import { closeSync, openSync, readSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AptgateError, fail } from '../errors.js';
import { Deb822Parser, notText, parseParagraphs, type Paragraph } from '../index/deb822.js';
import { PACKAGES_FIELDS, toPackageEntry } from '../index/packages.js';
import { clearsignedText, isYes } from '../index/release.js';
import { PackageSelector } from '../index/select.js';
import { View, type PackageFile } from '../index/view.js';
import { compressionOf, openDecompressed, type Compression } from './decompress.js';

type ReleaseFields = Pick<
  PackageFile,
  'origin' | 'label' | 'archive' | 'codename' | 'releaseVersion' | 'notAutomatic' | 'butAutomaticUpgrades'
>;

const NO_RELEASE: ReleaseFields = {
  origin: undefined,
  label: undefined,
  archive: undefined,
  codename: undefined,
  releaseVersion: undefined,
  notAutomatic: false,
  butAutomaticUpgrades: false,
};
const NO_RELEASE_FILE = { fields: NO_RELEASE, readsAll: true };

// the hash lists (most of the file) are skipped, not kept
const RELEASE_FIELDS: ReadonlySet<string> = new Set([
  'origin',
  'label',
  'suite',
  'codename',
  'version',
  'notautomatic',
  'butautomaticupgrades',
  'architectures',
  'no-support-for-architecture-all',
]);

/** A (clearsigned or plain) Release file: what apt's policy reads, and whether apt reads its binary-all Packages. */
export function releaseOf(text: string): { fields: ReleaseFields; readsAll: boolean } {
  let body = text;
  if (text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    try {
      body = clearsignedText(text);
    } catch {
      // a damaged signature block: read the text as it is
    }
  }
  const p = parseParagraphs(body, { fields: RELEASE_FIELDS })[0] ?? {};
  const archs = p['architectures']?.split(/\s+/).filter(Boolean);
  return {
    fields: {
      origin: p['origin'],
      label: p['label'],
      archive: p['suite'],
      codename: p['codename'],
      releaseVersion: p['version'],
      notAutomatic: isYes(p['notautomatic']),
      butAutomaticUpgrades: isYes(p['butautomaticupgrades']),
    },
    // `apt update` drops binary-all when the archive lists its Architecture: all packages in each
    // architecture's Packages (Debian: no "all" in Architectures, or No-Support-for-Architecture-all)
    readsAll:
      (archs === undefined || archs.includes('all')) &&
      !(p['no-support-for-architecture-all'] ?? '').split(/\s+/).includes('Packages'),
  };
}

/** The fields apt's policy reads from a (clearsigned or plain) Release file. */
export function releaseFields(text: string): ReleaseFields {
  return releaseOf(text).fields;
}

/** What to read of each Packages index. */
export interface LoadOptions {
  /**
   * Only these package names (a machine's installed ones: nothing else decides what it finds
   * outdated); the other paragraphs are skipped without being parsed. Default: every package.
   */
  names?: ReadonlySet<string>;
  /**
   * apt's order of the suites (listsPrefix() of each source, as its sources files give them):
   * the package files are read in it, so that a version several suites offer lists them as apt
   * does. Files of other suites follow, by name. Default: by name.
   */
  suiteOrder?: readonly string[];
}

/**
 * The start of the names apt gives the lists of one source suite: apt's URItoFileName of
 * URI/dists/SUITE/ (no scheme or credentials, unsafe characters as %xx, '/' as '_').
 */
export function listsPrefix(uri: string, suite: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/]+)(\/[^?#]*)?$/i.exec(uri.trim());
  if (!m || suite.endsWith('/')) return undefined; // flat repositories are named otherwise
  const plain = `${m[1]}${(m[2] ?? '').replace(/\/+$/, '')}/dists/${suite}/`;
  const quote = (c: string) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return plain.replace(/[\x00-\x20\x7f-\u{10ffff}\\|{}[\]<>"^~_=!@#$%&*]/gu, quote).replace(/\//g, '_');
}

function addEntry(view: View, fileId: number, p: Paragraph): boolean {
  const e = toPackageEntry(p);
  if (!e) return false;
  view.add(fileId, {
    package: e.package,
    version: e.version,
    architecture: e.architecture,
    source: e.source,
    sourceVersion: e.sourceVersion,
    multiArch: e.multiArch,
    phased: e.phasedUpdatePercentage,
    depends: e.depends,
    preDepends: e.preDepends,
    recommends: e.recommends,
    breaks: e.breaks,
    conflicts: e.conflicts,
    provides: e.provides,
    aptHash: e.aptHash,
  });
  return true;
}

/** The decompressed content of an index, chunk by chunk (a plain file: one buffer, reused). */
async function* chunksOf(file: string, compression: Compression): AsyncGenerator<Buffer> {
  if (compression !== 'none') {
    for await (const chunk of openDecompressed(file, compression)) yield chunk as Buffer;
    return;
  }
  // read here, 1 MiB at a time (well under a millisecond each from the page cache): a thread
  // pool round trip per read left the one-shot command waiting idle for a tenth of its time
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

const PACKAGES_EXPECTED =
  'expected a Packages index (dists/SUITE/COMPONENT/binary-ARCH/Packages of a repository, plain or compressed)';
// status is read only to recognise a dpkg status given in a Packages file's place
const BARE_FIELDS: ReadonlySet<string> = new Set([...PACKAGES_FIELDS, 'status']);

/**
 * Parses one Packages file (any supported compression) into the view as package file `fileId`.
 * Binary data is refused; `bare` (a file named on the command line, not one apt stored) is also
 * refused when it has paragraphs but no installable package, or text but no paragraph (so it is
 * read whole: the selection of `names` applies to apt's own lists only).
 */
export async function loadPackagesFile(
  view: View,
  fileId: number,
  file: string,
  opts: LoadOptions & { bare?: boolean } = {},
): Promise<number> {
  const compression = compressionOf(file);
  if (compression === undefined) fail('LISTS_INVALID', `${file}: unsupported compression`);
  const notPackages = (why: string): never =>
    fail('LISTS_INVALID', `${file} is not a Packages index: ${why}; ${PACKAGES_EXPECTED}`, { file });
  let n = 0;
  let paragraphs = 0;
  let withStatus = 0;
  let text = false;
  const add = (p: Paragraph) => {
    if (addEntry(view, fileId, p)) n++;
  };
  const count = (p: Paragraph) => {
    paragraphs++;
    if (p['status'] !== undefined) withStatus++;
    add(p);
  };
  const reader = opts.bare
    ? new Deb822Parser(count, { fields: BARE_FIELDS })
    : opts.names
      ? new PackageSelector(opts.names, add, { fields: PACKAGES_FIELDS })
      : new Deb822Parser(add, { fields: PACKAGES_FIELDS });
  let start = true;
  try {
    for await (const chunk of chunksOf(file, compression)) {
      const binary = notText(chunk, start && compression === 'none');
      if (binary)
        notPackages(`it holds ${binary}${compression === 'none' ? '' : ` after ${compression} decompression`}`);
      start = false;
      if (opts.bare) text ||= /\S/.test(chunk.toString('latin1'));
      reader.write(chunk);
    }
  } catch (err) {
    if (err instanceof AptgateError) throw err;
    fail('LISTS_INVALID', `${file}: ${(err as Error).message}`, undefined, err);
  }
  reader.end();
  if (opts.bare && withStatus > 0 && n === 0)
    notPackages('its entries carry Status fields, as a dpkg status does (give that file as --status)');
  if (opts.bare && paragraphs > 0 && n === 0)
    notPackages(
      `none of its ${paragraphs} paragraphs is a package apt could install (Package, Version, Architecture, Filename, Size, SHA256)`,
    );
  if (opts.bare && paragraphs === 0 && text) notPackages('it holds no "Field: value" paragraphs');
  return n;
}

const PACKAGES_RE = /^(.*)_binary-([^_]+)_Packages(?:\.(?:xz|gz|lz4|zst))?$/;

function unescapeListName(s: string): string {
  // apt's URItoFileName: '/' became '_', a literal '_' is %5f
  return s.replace(/_/g, '/').replace(/%5f/gi, '_');
}

/** Reads every Packages index in an apt lists directory, paired with its suite's Release. */
export async function loadListsDir(
  view: View,
  dir: string,
  opts: LoadOptions = {},
): Promise<{ files: number; entries: number }> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    fail('LISTS_INVALID', `cannot read lists directory ${dir}: ${(err as Error).message}`, undefined, err);
  }
  // suite prefix → its Release file's name, then what it says once read
  const releases = new Map<string, string | ReturnType<typeof releaseOf>>();
  for (const n of names) {
    const m = /^(.*_)(InRelease|Release)$/.exec(n);
    if (!m) continue;
    if (m[2] === 'InRelease' || !releases.has(m[1]!)) releases.set(m[1]!, n);
  }
  const prefixes = [...releases.keys()].sort((a, b) => b.length - a.length);
  const rank = (n: string) => {
    const i = opts.suiteOrder?.findIndex((p) => n.startsWith(p)) ?? -1;
    return i === -1 ? Number.MAX_SAFE_INTEGER : i;
  };
  const indexes = names
    .filter((n) => PACKAGES_RE.test(n))
    .map((n) => ({ n, rank: rank(n) }))
    .sort((a, b) => a.rank - b.rank)
    .map((x) => x.n);
  let files = 0;
  let entries = 0;
  const seen = new Set<string>();
  for (const n of indexes) {
    const m = PACKAGES_RE.exec(n)!;
    const base = n.replace(/\.(xz|gz|lz4|zst)$/, '');
    if (seen.has(base)) continue; // the same index kept twice (plain and compressed)
    seen.add(base);
    const arch = m[2]!;
    if (!view.readsIndexArch(arch)) continue;
    const prefix = prefixes.find((p) => n.startsWith(p));
    let release = prefix ? releases.get(prefix) : NO_RELEASE_FILE;
    if (typeof release === 'string') {
      release = releaseOf(await readFile(path.join(dir, release), 'utf8'));
      releases.set(prefix!, release);
    }
    if (arch === 'all' && !release!.readsAll) continue;
    const rel = release!.fields;
    const site = n.slice(0, n.indexOf('_')).replace(/:\d+$/, '');
    const distMatch = prefix ? /_dists_(.*)_$/.exec(prefix) : null;
    const component = prefix ? unescapeListName(m[1]!.slice(prefix.length)) : '';
    const id = view.addFile({
      backend: undefined,
      dist: distMatch ? unescapeListName(distMatch[1]!) : '',
      site,
      component,
      architecture: arch,
      ...rel,
    });
    entries += await loadPackagesFile(view, id, path.join(dir, n), opts);
    files++;
  }
  if (files === 0) {
    const others = [...new Set(names.map((n) => PACKAGES_RE.exec(n)?.[2]).filter((a): a is string => a !== undefined))];
    fail(
      'LISTS_INVALID',
      others.length
        ? `${dir} has Packages indexes for ${others.join(', ')} only, none for the architectures asked for: give --arch (and --foreign-arch) as the machine has them`
        : `${dir} holds no Packages index (no file named like ..._dists_SUITE_COMPONENT_binary-ARCH_Packages): expected apt's lists directory (/var/lib/apt/lists of the machine, after apt update), or give Packages files with --packages`,
      { dir },
    );
  }
  return { files, entries };
}

/** A bare Packages file: a package file without Release (priority 500, no origin). */
export async function loadBarePackages(view: View, file: string, opts: LoadOptions = {}): Promise<number> {
  const id = view.addFile({ backend: undefined, dist: '', site: '', component: '', architecture: '', ...NO_RELEASE });
  return loadPackagesFile(view, id, file, { ...opts, bare: true });
}
