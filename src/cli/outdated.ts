// `aptgate outdated`: the outdated computation from files (a dpkg status and an apt lists
// directory or Packages files), no server needed; the same index/ code the server runs.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fail } from '../errors.js';
import { outdated, type OutdatedResult } from '../index/outdated.js';
import { isPreferencesPartName, parsePreferences, type Pin } from '../index/preferences.js';
import { parseStatus } from '../index/status.js';
import { View } from '../index/view.js';
import { loadBarePackages, loadListsDir } from '../sys/apt-lists.js';
import { visible } from './visible.js';

export interface OutdatedFromFilesOptions {
  status: string;
  lists?: string;
  packages?: string[];
  preferences?: string[];
  arch?: string;
  foreignArch?: string[];
  machineId?: string;
}

const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;

/** Debian's name for the architecture Node runs on. */
export function nativeDebianArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: 'i386', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64el' };
  return map[process.arch] ?? process.arch;
}

/** Pins from files and directories, in the order given (a directory: apt's preferences.d rules). */
export async function readPins(paths: readonly string[]): Promise<{ pins: Pin[]; warnings: string[] }> {
  const pins: Pin[] = [];
  const warnings: string[] = [];
  for (const p of paths) {
    let files = [p];
    try {
      if ((await stat(p)).isDirectory()) files = (await readdir(p)).filter(isPreferencesPartName).sort().map((f) => path.join(p, f));
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

export async function outdatedFromFiles(o: OutdatedFromFilesOptions): Promise<{ result: OutdatedResult; warnings: string[]; indexFiles: number }> {
  if (!o.lists && !(o.packages && o.packages.length)) fail('USAGE', 'give --lists DIR or --packages FILE...');
  if (o.lists && o.packages && o.packages.length) fail('USAGE', '--lists and --packages exclude each other');
  const arch = o.arch ?? nativeDebianArch();
  for (const a of [arch, ...(o.foreignArch ?? [])]) if (!ARCH_RE.test(a)) fail('USAGE', `"${a}" is not an architecture name`);
  if (o.machineId !== undefined && !/^[0-9a-f]{32}$/i.test(o.machineId)) fail('USAGE', '--machine-id takes the 32 hex digits of /etc/machine-id');
  let statusText: string;
  try {
    statusText = await readFile(o.status, 'utf8');
  } catch (err) {
    fail('STATUS_INVALID', `cannot read status file ${o.status}: ${(err as Error).message}`);
  }
  const installed = parseStatus(statusText);
  const view = new View(arch, o.foreignArch ?? []);
  // only the installed names decide what is outdated: the rest of each index is skipped unparsed
  const load = { names: new Set(installed.map((p) => p.package)) };
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
export function outdatedJson(r: OutdatedResult): { format: 1; counts: OutdatedResult['counts']; packages: OutdatedResult['entries'] } {
  return { format: 1, counts: r.counts, packages: r.entries };
}

/** A table like `apt list --upgradable`, with what `apt-get upgrade` would do. */
export function formatOutdated(r: OutdatedResult): string {
  const rows = r.entries.map((e) => [
    e.package, e.architecture, e.installedVersion, e.candidateVersion,
    [...new Set(e.origins.map((o) => o.archive ?? o.suite))].join(',') || '-',
    e.security ? 'security' : '',
    e.action === 'kept-back' ? `kept back (${e.keptBack!.reason}${e.keptBack!.because ? `: ${e.keptBack!.because}` : ''})` : e.action,
  ].map(visible)); // names and versions from a machine's files and mirrors' indexes
  const head = ['PACKAGE', 'ARCH', 'INSTALLED', 'CANDIDATE', 'FROM', 'SECURITY', 'APT-GET UPGRADE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const c = r.counts;
  const summary = `${c.outdated} of ${c.installed} installed packages upgradable (${c.security} security); apt-get upgrade: ${c.upgrade} upgraded, ${c.keptBack} kept back, ${c.held} held, ${c.phased} deferred by phasing`;
  return (rows.length ? [line(head), ...rows.map(line), ''] : []).join('\n') + summary + '\n';
}
