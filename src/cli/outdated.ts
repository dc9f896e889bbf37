// `aptgate outdated`: the outdated computation from files (a dpkg status and an apt lists
// directory or Packages files), no server needed; the same index/ code the server runs.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fail, isAptgateError } from '../errors.js';
import { notText } from '../index/deb822.js';
import { outdated, type OutdatedEntry, type OutdatedResult } from '../index/outdated.js';
import { isPreferencesPartName, parsePreferences, type Pin } from '../index/preferences.js';
import { readStatus, type InstalledPackage } from '../index/status.js';
import { View } from '../index/view.js';
import { listsPrefix, loadBarePackages, loadListsDir } from '../sys/apt-lists.js';
import { parseSourcesFile } from '../index/sources.js';
import { visible } from '../term/visible.js';

export interface OutdatedFromFilesOptions {
  status: string;
  lists?: string;
  /** sources.list files and sources.list.d directories: apt's order of the suites */
  sources?: string[];
  packages?: string[];
  preferences?: string[];
  arch?: string;
  foreignArch?: string[];
  machineId?: string;
}

const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;

/** Debian's name for the architecture Node runs on. */
export function nativeDebianArch(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    ia32: 'i386',
    arm: 'armhf',
    ppc64: 'ppc64el',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips64el: 'mips64el',
  };
  return map[process.arch] ?? process.arch;
}

/** Pins from files and directories, in the order given (a directory: apt's preferences.d rules). */
export async function readPins(paths: readonly string[]): Promise<{ pins: Pin[]; warnings: string[] }> {
  const pins: Pin[] = [];
  const warnings: string[] = [];
  for (const p of paths) {
    let files = [p];
    try {
      if ((await stat(p)).isDirectory())
        files = (await readdir(p))
          .filter(isPreferencesPartName)
          .sort()
          .map((f) => path.join(p, f));
    } catch (err) {
      fail('PREFERENCES_INVALID', `cannot read ${p}: ${(err as Error).message}`);
    }
    for (const f of files) {
      const parsed = parsePreferences(await readFile(f, 'utf8'), f);
      pins.push(...parsed.pins);
      warnings.push(...parsed.warnings);
    }
  }
  return { pins, warnings };
}

const STATUS_EXPECTED = 'expected a dpkg status file (/var/lib/dpkg/status of the machine, or a copy of it)';

/**
 * The installed packages of a dpkg status file, refusing a file that is not one: binary or
 * compressed data, paragraphs without Package and Status (a Packages index), or no paragraph
 * at all. dpkg itself accepts an empty status (a new, empty admin directory), but a machine
 * that runs apt has at least dpkg, apt and libc6 installed: an empty file here is the wrong
 * file (/dev/null, a copy that failed), and "0 of 0 upgradable" would hide that.
 */
export async function readStatusFile(file: string): Promise<InstalledPackage[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    fail('STATUS_INVALID', `cannot read status file ${file}: ${(err as Error).message}; ${STATUS_EXPECTED}`, { file });
  }
  const notStatus: (why: string) => never = (why) =>
    fail('STATUS_INVALID', `${file} is not a dpkg status file: ${why}; ${STATUS_EXPECTED}`, { file });
  const binary = notText(bytes);
  if (binary) notStatus(`it holds ${binary}${binary.includes('compressed') ? ' (decompress it first)' : ''}`);
  let read: ReturnType<typeof readStatus>;
  try {
    read = readStatus(bytes);
  } catch (err) {
    if (!isAptgateError(err, 'STATUS_INVALID')) throw err;
    notStatus(err.message);
  }
  if (read.paragraphs === 0)
    notStatus(
      bytes.toString('latin1').trim()
        ? 'it holds no "Field: value" paragraphs'
        : 'it is empty (a machine that runs apt has at least dpkg, apt and libc6 installed)',
    );
  return read.entries;
}

/** apt's order of the suites its sources name: the lists name prefix of each (uri, suite). */
export async function readSuiteOrder(paths: readonly string[]): Promise<string[]> {
  const order: string[] = [];
  for (const p of paths) {
    let files = [p];
    try {
      // sources.list.d: *.list and *.sources, in name order
      if ((await stat(p)).isDirectory())
        files = (await readdir(p))
          .filter((f) => /^[A-Za-z0-9_.-]+\.(?:list|sources)$/.test(f))
          .sort()
          .map((f) => path.join(p, f));
      for (const f of files) {
        for (const e of parseSourcesFile(f, await readFile(f, 'utf8'))) {
          if (!e.types.includes('deb')) continue;
          for (const uri of e.uris)
            for (const suite of e.suites) {
              const prefix = listsPrefix(uri, suite);
              if (prefix !== undefined && !order.includes(prefix)) order.push(prefix);
            }
        }
      }
    } catch (err) {
      fail('LISTS_INVALID', `cannot read sources ${p}: ${(err as Error).message}`);
    }
  }
  return order;
}

export async function outdatedFromFiles(
  o: OutdatedFromFilesOptions,
): Promise<{ result: OutdatedResult; warnings: string[]; indexFiles: number }> {
  if (!o.lists && !(o.packages && o.packages.length)) fail('USAGE', 'give --lists DIR or --packages FILE...');
  if (o.lists && o.packages && o.packages.length) fail('USAGE', '--lists and --packages exclude each other');
  if (o.sources?.length && !o.lists) fail('USAGE', '--sources orders the suites of --lists');
  const arch = o.arch ?? nativeDebianArch();
  for (const a of [arch, ...(o.foreignArch ?? [])])
    if (!ARCH_RE.test(a)) fail('USAGE', `"${a}" is not an architecture name`);
  if (o.machineId !== undefined && !/^[0-9a-f]{32}$/i.test(o.machineId))
    fail('USAGE', '--machine-id takes the 32 hex digits of /etc/machine-id');
  const installed = await readStatusFile(o.status);
  const view = new View(arch, o.foreignArch ?? []);
  // only the installed names decide what is outdated: the rest of each index is skipped unparsed
  const load = { names: new Set(installed.map((p) => p.package)), suiteOrder: await readSuiteOrder(o.sources ?? []) };
  let indexFiles = 0;
  if (o.lists) indexFiles = (await loadListsDir(view, o.lists, load)).files;
  for (const f of o.packages ?? []) {
    await loadBarePackages(view, f, load);
    indexFiles++;
  }
  view.seal();
  const { pins, warnings } = await readPins(o.preferences ?? []);
  const result = outdated(installed, view, { pins, phasing: { machineId: o.machineId } });
  return { result, warnings, indexFiles };
}

/** The `--json` document (README: format 1, fields are only ever added). */
export function outdatedJson(r: OutdatedResult): {
  format: 1;
  counts: OutdatedResult['counts'];
  packages: OutdatedResult['entries'];
} {
  return { format: 1, counts: r.counts, packages: r.entries };
}

/**
 * One entry as `apt list --upgradable` prints it (apt-private/private-output.cc): name, the
 * archives (Release `Suite:`) offering the candidate, the candidate version, the *installed*
 * version's architecture, and the installed version.
 */
export function aptListLine(e: OutdatedEntry): string {
  // one per package file offering it, as apt prints them (a version in binary-amd64 and binary-i386 twice)
  const suites = e.origins.map((o) => o.archive ?? 'unknown').join(',');
  return `${e.package}/${suites} ${e.candidateVersion} ${e.installedArchitecture} [upgradable from: ${e.installedVersion}]`;
}

/** What aptgate adds to apt's line: a security update, and what `apt-get upgrade` would not do. */
function notes(e: OutdatedEntry): string[] {
  const n: string[] = [];
  if (e.security) n.push('security');
  if (e.action === 'held') n.push('held');
  else if (e.action === 'phased') n.push('phased: deferred on this machine');
  else if (e.action === 'kept-back')
    n.push(`kept back: ${e.keptBack!.reason}${e.keptBack!.because ? ` (${e.keptBack!.because})` : ''}`);
  return n;
}

/**
 * `apt list --upgradable`'s lines, in its order (by name:arch), each followed by aptgate's notes
 * in brackets when there are any; the last line counts them.
 */
export function formatOutdated(r: OutdatedResult): string {
  // apt sorts by the full name, name:arch, as bytes ("libfoo-dev:amd64" before "libfoo:amd64")
  const sorted = [...r.entries].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  // names, versions and suites come from a machine's files and mirrors' indexes
  const lines = sorted.map((e) => {
    const n = notes(e);
    return visible(aptListLine(e)) + (n.length ? `  [${visible(n.join(', '))}]` : '');
  });
  const c = r.counts;
  const summary = `${c.outdated} of ${c.installed} installed packages upgradable (${c.security} security); apt-get upgrade: ${c.upgrade} upgraded, ${c.keptBack} kept back, ${c.held} held, ${c.phased} deferred by phasing`;
  return [...lines, summary, ''].join('\n');
}
