/**
 * Puts the same inputs in front of the real apt and of aptgate's outdated computation: an apt
 * lists directory written the way `apt update` leaves it (InRelease + uncompressed Packages under
 * apt's URI-derived names), a dpkg status file, preferences; then collects apt's answers
 * (`apt list --upgradable`, `apt-get -s upgrade` / `dist-upgrade`).
 */
import { copyFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { aptEnv, runApt, runAptOk, type AptEnv } from './apt.js';
import { execOk } from './exec.js';
import { Deb822Parser, type Paragraph } from '../../src/index/deb822.js';

export interface ListsSuite {
  /** dists/<suite> directory of a repository on disk */
  distsDir: string;
  /** URI the sources entry names, e.g. http://deb.debian.org/debian */
  uri: string;
  suite: string;
  components?: string[];
}

function listName(uri: string, rest: string): string {
  const u = new URL(uri);
  const base = `${u.host}${u.pathname.replace(/\/$/, '')}`;
  return `${base}/${rest}`.replace(/_/g, '%5f').replace(/\//g, '_');
}

/** Copies InRelease and every binary-<arch>/Packages(.xz/.gz) of each suite into apt's lists dir. */
export async function writeLists(listsDir: string, suites: readonly ListsSuite[]): Promise<void> {
  for (const s of suites) {
    await copyFile(
      path.join(s.distsDir, 'InRelease'),
      path.join(listsDir, listName(s.uri, `dists/${s.suite}/InRelease`)),
    );
    for (const component of s.components ?? ['main']) {
      const compDir = path.join(s.distsDir, component);
      for (const d of await readdir(compDir)) {
        if (!d.startsWith('binary-')) continue;
        const files = await readdir(path.join(compDir, d));
        const target = path.join(listsDir, listName(s.uri, `dists/${s.suite}/${component}/${d}/Packages`));
        if (files.includes('Packages')) await copyFile(path.join(compDir, d, 'Packages'), target);
        else if (files.includes('Packages.xz'))
          await writeFile(
            target,
            await execOk('xz', ['-dc', path.join(compDir, d, 'Packages.xz')], { timeoutMs: 60_000 }),
          );
        else if (files.includes('Packages.gz'))
          await writeFile(
            target,
            await execOk('gzip', ['-dc', path.join(compDir, d, 'Packages.gz')], { timeoutMs: 60_000 }),
          );
      }
    }
  }
}

export interface CompareEnv {
  apt: AptEnv;
  /** writes the status file apt and aptgate read */
  setStatus(text: string): Promise<void>;
  /** writes <etc>/preferences */
  setPreferences(text: string): Promise<void>;
  preferencesFile: string;
}

export async function compareEnv(
  dir: string,
  suites: readonly ListsSuite[],
  opts: { architecture?: string; architectures?: string[]; sourcesFields?: Record<string, string> } = {},
): Promise<CompareEnv> {
  const apt = await aptEnv(dir, {
    ...(opts.architecture ? { architecture: opts.architecture } : {}),
    ...(opts.architectures ? { architectures: opts.architectures } : {}),
    // these lists were not fetched by this apt: trust them as `apt update` would have
    sources: suites.map((s) => ({
      uri: s.uri,
      suites: [s.suite],
      components: s.components ?? ['main'],
      fields: { Trusted: 'yes', ...(opts.sourcesFields ?? {}) },
    })),
  });
  await writeLists(apt.listsDir, suites);
  const preferencesFile = path.join(apt.dir, 'etc', 'preferences');
  return {
    apt,
    preferencesFile,
    setStatus: (text) => writeFile(apt.statusFile, text),
    setPreferences: (text) => writeFile(preferencesFile, text),
  };
}

/** `apt list --upgradable` as a set of "name arch version" (any isolated apt: a CompareEnv or { apt }). */
export async function aptUpgradable(env: { apt: AptEnv }, options: Record<string, string> = {}): Promise<Set<string>> {
  const r = await runAptOk(['list', '--upgradable'], { apt: env.apt, command: 'apt', options });
  const out = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+?)\/\S+ (\S+) (\S+) \[upgradable from: /.exec(line);
    if (m) out.add(`${m[1]} ${m[3]} ${m[2]}`);
  }
  return out;
}

export interface Simulation {
  /** "name arch version" of every upgraded (already installed) package */
  upgraded: Set<string>;
  /** names of newly installed packages */
  installed: Set<string>;
  removed: Set<string>;
  stdout: string;
}

/** `apt-get -s upgrade|dist-upgrade`, parsed from the Inst/Remv lines. */
export async function aptSimulate(
  env: CompareEnv,
  action: 'upgrade' | 'dist-upgrade',
  options: Record<string, string> = {},
): Promise<Simulation> {
  const r = await runApt(['-s', action], { apt: env.apt, options });
  if (r.code !== 0) throw new Error(`apt-get -s ${action} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  const upgraded = new Set<string>();
  const installed = new Set<string>();
  const removed = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const inst = /^Inst (\S+) (?:\[(\S+)\] )?\((\S+) .*\[(\S+)\]\)/.exec(line);
    if (inst) {
      const name = inst[1]!.replace(/:\S+$/, '');
      if (inst[2] !== undefined) upgraded.add(`${name} ${inst[4]} ${inst[3]}`);
      else installed.add(inst[1]!);
      continue;
    }
    const remv = /^Remv (\S+)/.exec(line);
    if (remv) removed.add(remv[1]!);
  }
  return { upgraded, installed, removed, stdout: r.stdout };
}

/** Elements of a not in b and of b not in a, for readable assertion failures. */
export function setDiff(a: Set<string>, b: Set<string>): { onlyApt: string[]; onlyAptgate: string[] } {
  return { onlyApt: [...a].filter((x) => !b.has(x)).sort(), onlyAptgate: [...b].filter((x) => !a.has(x)).sort() };
}

const NOT_IN_STATUS = new Set(['filename', 'size', 'md5sum', 'sha256', 'description-md5']);

/**
 * dpkg status paragraphs for Packages entries, as dpkg would write them after installing those
 * very versions (same relations and Installed-Size, so apt sees the same versions).
 * `statusOf` returns the Status value for an entry, or undefined to leave it out.
 */
export function statusFromPackages(packages: Buffer | string, statusOf: (p: Paragraph) => string | undefined): string {
  const paragraphs: Paragraph[] = [];
  const parser = new Deb822Parser((p) => paragraphs.push(p));
  parser.write(packages);
  parser.end();
  const out: string[] = [];
  const seen = new Set<string>();
  for (const p of paragraphs) {
    const st = statusOf(p);
    const key = `${p['package']}:${p['architecture']}`;
    if (st === undefined || seen.has(key)) continue;
    seen.add(key);
    const lines = [`Package: ${p['package']}`, `Status: ${st}`];
    for (const [k, v] of Object.entries(p)) {
      if (k === 'package' || NOT_IN_STATUS.has(k)) continue;
      const name = k.replace(/(^|-)([a-z])/g, (_m, a: string, c: string) => a + c.toUpperCase());
      lines.push(`${name}: ${v.replace(/\n/g, '\n ')}`);
    }
    out.push(lines.join('\n'));
  }
  return `${out.join('\n\n')}\n`;
}
