// What the agent reports about a machine besides its installed packages: holds, apt sources and
// preferences as apt reads them, what its own apt considers upgradable, reboot and dpkg health.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fail } from '../errors.js';
import { parseParagraphs } from '../index/deb822.js';
import { isFile } from '../sys/fs.js';
import { runCommand } from './run.js';
import { osReleaseOf } from './chroot/inspect.js';
import { resolveIn } from './chroot/paths.js';
import { adminDir, aptCommand, aptPath, dpkgCommand } from './target.js';
import type { AptTarget, AptUpgradable, CollectedState, SourceFile } from './types.js';

/** A file of the target (inside a chroot: links resolved inside it), when it is one. */
async function readIfFile(target: AptTarget, file: string): Promise<SourceFile | undefined> {
  const p = target.chroot ? await resolveIn(target.root, path.relative(target.root, file)) : file;
  return (await isFile(p)) ? { path: p, content: await readFile(p, 'utf8') } : undefined;
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** "name:arch" of every status entry selected for hold. */
export function holdsOf(statusText: string): string[] {
  const out: string[] = [];
  for (const p of parseParagraphs(statusText)) {
    const name = p['package'];
    if (name && /^hold\s/.test(p['status'] ?? '')) out.push(`${name}:${p['architecture'] ?? 'all'}`);
  }
  return out.sort();
}

/** Every *.sources and *.list file of sourcesDir, after the main sources.list when it exists. */
export async function collectSources(target: AptTarget): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  const main = await readIfFile(target, target.sourcesList);
  if (main) out.push(main);
  for (const n of await namesIn(target.sourcesDir)) {
    if (!/^[A-Za-z0-9_.-]+\.(?:sources|list)$/.test(n)) continue;
    const f = await readIfFile(target, path.join(target.sourcesDir, n));
    if (f) out.push(f);
  }
  return out;
}

/** apt reads preferences.d files named [A-Za-z0-9_.-]+ with no extension or the extension ".pref". */
export function isPreferencesName(name: string): boolean {
  return /^[A-Za-z0-9_.-]+$/.test(name) && (name.endsWith('.pref') || !name.includes('.'));
}

export async function collectPreferences(target: AptTarget): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  const main = await readIfFile(target, target.preferencesFile);
  if (main) out.push(main);
  for (const n of await namesIn(target.preferencesDir)) {
    if (!isPreferencesName(n)) continue;
    const f = await readIfFile(target, path.join(target.preferencesDir, n));
    if (f) out.push(f);
  }
  return out;
}

/** `apt list --upgradable` lines: "name/archive[,archive] candidate arch [upgradable from: installed]". */
export function parseAptList(text: string): Array<Omit<AptUpgradable, 'security'>> {
  const out: Array<Omit<AptUpgradable, 'security'>> = [];
  const re = /^([a-z0-9][a-z0-9+.-]*)\/(\S*) (\S+) (\S+) \[upgradable from: ([^\]\s]+)\]/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ package: m[1]!, architecture: m[4]!, installed: m[5]!, candidate: m[3]! });
  }
  return out;
}

/** Release fields of one package file, as `apt-cache policy` prints them ("release o=..,a=..,n=..,l=.."). */
export interface PackageFileRelease {
  archive?: string;
  codename?: string;
  label?: string;
  origin?: string;
}

/** The "Package files:" part of `apt-cache policy`: package file line → its release fields. */
export function parsePolicyFiles(text: string): Map<string, PackageFileRelease> {
  const out = new Map<string, PackageFileRelease>();
  const re = /^ *-?\d+ (\S.*)\n +release (.*)$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const r: PackageFileRelease = {};
    // values may contain commas only in theory; apt escapes nothing, so split on ",x=" boundaries
    for (const part of m[2]!.split(/,(?=[a-z]=)/)) {
      const eq = part.indexOf('=');
      const k = part.slice(0, eq);
      const v = part.slice(eq + 1);
      if (k === 'a') r.archive = v;
      else if (k === 'n') r.codename = v;
      else if (k === 'l') r.label = v;
      else if (k === 'o') r.origin = v;
    }
    out.set(m[1]!.trim(), r);
  }
  return out;
}

/** For each "name:arch" of `apt-cache policy name:arch...`: the package file lines of its candidate. */
export function parsePolicyCandidates(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const blocks = text.split(/^(?=\S[^\n]*:\n)/m);
  for (const b of blocks) {
    const head = /^(\S+):\n/.exec(b);
    const cand = /^ {2}Candidate: (\S+)$/m.exec(b);
    if (!head || !cand) continue;
    const files: string[] = [];
    let inCandidate = false;
    for (const line of b.split('\n')) {
      const ver = /^ (?:\*\*\*| {3}) (\S+) -?\d+(?: .*)?$/.exec(line);
      if (ver) {
        inCandidate = ver[1] === cand[1];
        continue;
      }
      const file = /^ {8}-?\d+ (\S.*)$/.exec(line);
      if (file && inCandidate) files.push(file[1]!.trim());
    }
    out.set(head[1]!, files);
  }
  return out;
}

/**
 * A security suite: Debian's "<codename>-security" (and old "<codename>/updates"), Ubuntu's "<series>-security", labels
 * like Debian-Security.
 */
export function isSecurityRelease(r: PackageFileRelease): boolean {
  return (
    [r.archive, r.codename].some((s) => s !== undefined && (/-security$/.test(s) || /\/updates$/.test(s))) ||
    (r.label !== undefined && /security/i.test(r.label))
  );
}

/** What the target's own apt considers upgradable, and whether each candidate comes from a security suite. */
export async function aptUpgradable(target: AptTarget): Promise<AptUpgradable[]> {
  const list = await runCommand(aptCommand(target, 'apt', ['list', '--upgradable']));
  if (list.code !== 0)
    fail('EXEC_FAILED', `apt list --upgradable exited ${list.code}: ${list.output.trim().slice(-500)}`);
  const rows = parseAptList(list.stdout);
  if (rows.length === 0) return [];
  // apt-cache policy names native packages (and Architecture: all ones) without ":arch"
  const key = (r: { package: string; architecture: string }) =>
    r.architecture === 'all' ? r.package : `${r.package}:${r.architecture}`;
  const [files, cands] = await Promise.all([
    runCommand(aptCommand(target, 'apt-cache', ['policy'])),
    runCommand(aptCommand(target, 'apt-cache', ['policy', ...rows.map(key)])),
  ]);
  const releases = parsePolicyFiles(files.stdout);
  const candidates = parsePolicyCandidates(cands.stdout);
  return rows.map((r) => {
    const lines = candidates.get(key(r)) ?? candidates.get(r.package) ?? [];
    return {
      ...r,
      security: lines.some((l) => {
        const rel = releases.get(l);
        return rel !== undefined && isSecurityRelease(rel);
      }),
    };
  });
}

/** dpkg's journal has entries: dpkg stopped before it finished (apt refuses to run then). */
export async function dpkgInterrupted(target: AptTarget): Promise<boolean> {
  return (await namesIn(path.join(adminDir(target), 'updates'))).some((n) => /^\d+$/.test(n));
}

export async function collectState(target: AptTarget): Promise<CollectedState> {
  const statusText = await readFile(target.statusFile, 'utf8');
  const rebootPkgs = await readIfFile(target, `${target.rebootRequiredFile}.pkgs`);
  const audit = await runCommand(dpkgCommand(target, ['--audit']));
  const interrupted = await dpkgInterrupted(target);
  const rel = await osReleaseOf(target.root);
  // paths as the machine sees them (inside a chroot: from its root)
  const seen = (files: SourceFile[]) => files.map((f) => ({ ...f, path: aptPath(target, f.path) }));
  return {
    statusText,
    extras: {
      holds: holdsOf(statusText),
      sources: seen(await collectSources(target)),
      preferences: seen(await collectPreferences(target)),
      aptUpgradable: await aptUpgradable(target),
      reboot: {
        required: await isFile(target.rebootRequiredFile),
        packages: [
          ...new Set(
            (rebootPkgs?.content ?? '')
              .split('\n')
              .map((l) => l.trim())
              .filter(Boolean),
          ),
        ],
      },
      dpkg: { audit: audit.stdout, interrupted: interrupted || /dpkg was interrupted/.test(audit.output) },
      os: {
        distribution: (rel['ID'] ?? '').replace(/[^A-Za-z0-9._+~-]/g, '').slice(0, 64),
        codename: (rel['VERSION_CODENAME'] ?? '')
          .toLowerCase()
          .replace(/[^a-z0-9.-]/g, '')
          .slice(0, 40),
      },
    },
  };
}
