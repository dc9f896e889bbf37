// Builds a View from files on disk: an apt lists directory (/var/lib/apt/lists, as apt left it
// after `apt update`: its signatures were checked by apt then) or bare Packages files.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AptgateError, fail } from '../errors.js';
import { Deb822Parser, parseParagraphs } from '../index/deb822.js';
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

/** Parses one Packages file (any supported compression) into the view as package file `fileId`. */
export async function loadPackagesFile(view: View, fileId: number, file: string): Promise<number> {
  const compression = compressionOf(file);
  if (compression === undefined) fail('LISTS_INVALID', `${file}: unsupported compression`);
  let n = 0;
  const parser = new Deb822Parser((p) => {
    const e = toPackageEntry(p);
    if (!e) return;
    n++;
    view.add(fileId, {
      package: e.package, version: e.version, architecture: e.architecture, source: e.source, sourceVersion: e.sourceVersion,
      multiArch: e.multiArch, phased: e.phasedUpdatePercentage, depends: e.depends, preDepends: e.preDepends,
      recommends: e.recommends, breaks: e.breaks, conflicts: e.conflicts, provides: e.provides, aptHash: e.aptHash,
    });
  }, { fields: PACKAGES_FIELDS });
  try {
    for await (const chunk of openDecompressed(file, compression)) parser.write(chunk as Buffer);
  } catch (err) {
    if (err instanceof AptgateError) throw err;
    fail('LISTS_INVALID', `${file}: ${(err as Error).message}`, undefined, err);
  }
  parser.end();
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
  if (files === 0) fail('LISTS_INVALID', `no Packages index for the configured architectures in ${dir}`);
  return { files, entries };
}

/** A bare Packages file: a package file without Release (priority 500, no origin). */
export async function loadBarePackages(view: View, file: string): Promise<number> {
  const id = view.addFile({ backend: undefined, dist: '', site: '', component: '', architecture: '', ...NO_RELEASE });
  return loadPackagesFile(view, id, file);
}
