// Builds a View from files on disk: an apt lists directory (/var/lib/apt/lists, as apt left it
// after `apt update`: its signatures were checked by apt then) or bare Packages files.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AptgateError, fail } from '../errors.js';
import { Deb822Parser, notText, parseParagraphs } from '../index/deb822.js';
import { PACKAGES_FIELDS, toPackageEntry } from '../index/packages.js';
import { clearsignedText, isYes } from '../index/release.js';
import { View, type PackageFile } from '../index/view.js';
import { compressionOf, openDecompressed } from './decompress.js';

type ReleaseFields = Pick<PackageFile, 'origin' | 'label' | 'archive' | 'codename' | 'releaseVersion' | 'notAutomatic' | 'butAutomaticUpgrades'>;

const NO_RELEASE: ReleaseFields = {
  origin: undefined, label: undefined, archive: undefined, codename: undefined, releaseVersion: undefined,
  notAutomatic: false, butAutomaticUpgrades: false,
};

/** The fields apt's policy reads from a (clearsigned or plain) Release file. */
export function releaseFields(text: string): ReleaseFields {
  let body = text;
  if (text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) {
    try {
      body = clearsignedText(text);
    } catch {
      // a damaged signature block: read the text as it is
    }
  }
  const p = parseParagraphs(body)[0] ?? {};
  return {
    origin: p['origin'],
    label: p['label'],
    archive: p['suite'],
    codename: p['codename'],
    releaseVersion: p['version'],
    notAutomatic: isYes(p['notautomatic']),
    butAutomaticUpgrades: isYes(p['butautomaticupgrades']),
  };
}

const PACKAGES_EXPECTED = 'expected a Packages index (dists/SUITE/COMPONENT/binary-ARCH/Packages of a repository, plain or compressed)';
// status is read only to recognise a dpkg status given in a Packages file's place
const FIELDS: ReadonlySet<string> = new Set([...PACKAGES_FIELDS, 'status']);

/**
 * Parses one Packages file (any supported compression) into the view as package file `fileId`.
 * Binary data is refused; `bare` (a file named on the command line, not one apt stored) is also
 * refused when it has paragraphs but no installable package, or text but no paragraph.
 */
export async function loadPackagesFile(view: View, fileId: number, file: string, bare = false): Promise<number> {
  const compression = compressionOf(file);
  if (compression === undefined) fail('LISTS_INVALID', `${file}: unsupported compression`);
  const notPackages = (why: string): never => fail('LISTS_INVALID', `${file} is not a Packages index: ${why}; ${PACKAGES_EXPECTED}`, { file });
  let n = 0;
  let paragraphs = 0;
  let withStatus = 0;
  let text = false;
  const parser = new Deb822Parser((p) => {
    paragraphs++;
    if (p['status'] !== undefined) withStatus++;
    const e = toPackageEntry(p);
    if (!e) return;
    n++;
    view.add(fileId, {
      package: e.package, version: e.version, architecture: e.architecture, source: e.source, sourceVersion: e.sourceVersion,
      multiArch: e.multiArch, phased: e.phasedUpdatePercentage, depends: e.depends, preDepends: e.preDepends,
      recommends: e.recommends, breaks: e.breaks, conflicts: e.conflicts, provides: e.provides, aptHash: e.aptHash,
    });
  }, { fields: FIELDS });
  let start = true;
  try {
    for await (const chunk of openDecompressed(file, compression)) {
      const binary = notText(chunk as Buffer, start && compression === 'none');
      if (binary) notPackages(`it holds ${binary}${compression === 'none' ? '' : ` after ${compression} decompression`}`);
      start = false;
      text ||= /\S/.test((chunk as Buffer).toString('latin1'));
      parser.write(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof AptgateError) throw err;
    fail('LISTS_INVALID', `${file}: ${(err as Error).message}`, undefined, err);
  }
  parser.end();
  if (bare && withStatus > 0 && n === 0) notPackages('its entries carry Status fields, as a dpkg status does (give that file as --status)');
  if (bare && paragraphs > 0 && n === 0) notPackages(`none of its ${paragraphs} paragraphs is a package apt could install (Package, Version, Architecture, Filename, Size, SHA256)`);
  if (bare && paragraphs === 0 && text) notPackages('it holds no "Field: value" paragraphs');
  return n;
}

const PACKAGES_RE = /^(.*)_binary-([^_]+)_Packages(?:\.(?:xz|gz|lz4|zst))?$/;

function unescapeListName(s: string): string {
  // apt's URItoFileName: '/' became '_', a literal '_' is %5f
  return s.replace(/_/g, '/').replace(/%5f/gi, '_');
}

/** Reads every Packages index in an apt lists directory, paired with its suite's Release. */
export async function loadListsDir(view: View, dir: string): Promise<{ files: number; entries: number }> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name).sort();
  } catch (err) {
    fail('LISTS_INVALID', `cannot read lists directory ${dir}: ${(err as Error).message}`, undefined, err);
  }
  const releases = new Map<string, string>();
  for (const n of names) {
    const m = /^(.*_)(InRelease|Release)$/.exec(n);
    if (!m) continue;
    if (m[2] === 'InRelease' || !releases.has(m[1]!)) releases.set(m[1]!, n);
  }
  const prefixes = [...releases.keys()].sort((a, b) => b.length - a.length);
  let files = 0;
  let entries = 0;
  const seen = new Set<string>();
  for (const n of names) {
    const m = PACKAGES_RE.exec(n);
    if (!m) continue;
    const base = n.replace(/\.(xz|gz|lz4|zst)$/, '');
    if (seen.has(base)) continue; // the same index kept twice (plain and compressed)
    seen.add(base);
    const arch = m[2]!;
    if (!view.readsIndexArch(arch)) continue;
    const prefix = prefixes.find((p) => n.startsWith(p));
    const rel = prefix ? releaseFields(await readFile(path.join(dir, releases.get(prefix)!), 'utf8')) : NO_RELEASE;
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
    entries += await loadPackagesFile(view, id, path.join(dir, n));
    files++;
  }
  if (files === 0) {
    const others = [...new Set(names.map((n) => PACKAGES_RE.exec(n)?.[2]).filter((a): a is string => a !== undefined))];
    fail('LISTS_INVALID', others.length
      ? `${dir} has Packages indexes for ${others.join(', ')} only, none for the architectures asked for: give --arch (and --foreign-arch) as the machine has them`
      : `${dir} holds no Packages index (no file named like ..._dists_SUITE_COMPONENT_binary-ARCH_Packages): expected apt's lists directory (/var/lib/apt/lists of the machine, after apt update), or give Packages files with --packages`, { dir });
  }
  return { files, entries };
}

/** A bare Packages file: a package file without Release (priority 500, no origin). */
export async function loadBarePackages(view: View, file: string): Promise<number> {
  const id = view.addFile({ backend: undefined, dist: '', site: '', component: '', architecture: '', ...NO_RELEASE });
  return loadPackagesFile(view, id, file, true);
}
