/** aptgate's outdated answers in the shapes apt prints, for comparisons with helpers/compare.ts. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { OutdatedResult } from '../../src/index/outdated.js';
import { outdatedFromFiles } from '../../src/cli/outdated.js';
import type { CompareEnv } from './compare.js';

export interface OursOptions {
  architecture?: string;
  foreignArchs?: string[];
  machineId?: string;
}

/** Runs the same computation as `aptgate outdated --status --lists --preferences` on a compare env. */
export async function ours(env: CompareEnv, opts: OursOptions = {}): Promise<OutdatedResult> {
  let prefs: string[] = [];
  try {
    await readFile(env.preferencesFile);
    prefs = [env.preferencesFile];
  } catch {
    // no preferences file
  }
  const { result } = await outdatedFromFiles({
    status: env.apt.statusFile,
    lists: env.apt.listsDir,
    // apt's order of the suites (a candidate offered by several lists them in it)
    sources: [path.dirname(env.apt.sourcesFile)],
    preferences: [...prefs, path.join(env.apt.dir, 'etc', 'preferences.d')],
    arch: opts.architecture ?? 'amd64',
    foreignArch: opts.foreignArchs ?? [],
    ...(opts.machineId ? { machineId: opts.machineId } : {}),
  });
  return result;
}

/** As `apt list --upgradable` names them: the installed version's architecture (aptUpgradable()). */
export function upgradableSet(r: OutdatedResult): Set<string> {
  return new Set(r.entries.map((e) => `${e.package} ${e.installedArchitecture} ${e.candidateVersion}`));
}

/** As `apt-get -s upgrade` names them (Inst lines): the candidate's architecture. */
export function upgradeSet(r: OutdatedResult): Set<string> {
  return new Set(
    r.entries.filter((e) => e.action === 'upgrade').map((e) => `${e.package} ${e.architecture} ${e.candidateVersion}`),
  );
}
