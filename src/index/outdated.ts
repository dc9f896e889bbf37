// outdated(installed set, view): the installed packages whose candidate (as apt chooses it) is
// newer than the installed version — exactly `apt list --upgradable` — and what `apt-get upgrade`
// would do with each of them (upgrade, keep back and why, held, deferred by phasing).
import { phaseExcludes, type PhasingOptions } from './phasing.js';
import { Policy, type Choice } from './policy.js';
import type { Pin } from './preferences.js';
import { isInstalledState, type InstalledPackage } from './status.js';
import { simulateUpgrade, type KeepReason, type UpgradeSlot } from './upgrade.js';
import { compareVersions } from './version.js';
import type { PackageFile, VersionInfo, View } from './view.js';

export interface OutdatedOptions {
  /** the machine's apt preferences, in the order apt reads them */
  pins?: readonly Pin[];
  /** phased updates (Ubuntu); without a machine id nothing is deferred, as apt does */
  phasing?: PhasingOptions;
  /** a Policy already built for this view and these pins (the server reuses one per view) */
  policy?: Policy;
}

export interface CandidateOrigin {
  backend: string | undefined;
  suite: string;
  origin: string | undefined;
  label: string | undefined;
  archive: string | undefined;
  codename: string | undefined;
  component: string;
}

export type UpgradeAction = 'upgrade' | 'held' | 'phased' | 'kept-back';

export interface OutdatedEntry {
  package: string;
  /** the candidate's Architecture field (amd64, i386, all), as `apt list` prints it */
  architecture: string;
  /** name:arch of the instance (Architecture: all belongs to the native architecture) */
  instance: string;
  installedVersion: string;
  candidateVersion: string;
  source: string;
  sourceVersion: string;
  priority: number;
  origins: CandidateOrigin[];
  /** the candidate, or a version between installed and candidate, comes from a security suite */
  security: boolean;
  held: boolean;
  /** what `apt-get upgrade` would do */
  action: UpgradeAction;
  keptBack?: { reason: KeepReason; because?: string };
}

export interface OutdatedResult {
  entries: OutdatedEntry[];
  counts: { installed: number; outdated: number; security: number; upgrade: number; held: number; keptBack: number; phased: number };
}

/** Debian-Security / *-security codename (Debian), or a *-security pocket (Ubuntu). */
export function isSecurityFile(f: PackageFile): boolean {
  return /security/i.test(f.label ?? '') || /-security$/i.test(f.codename ?? '') || /-security$/i.test(f.archive ?? '');
}

function statusInfo(p: InstalledPackage): VersionInfo {
  return {
    package: p.package, version: p.version, architecture: p.architecture, source: p.source, sourceVersion: p.sourceVersion,
    multiArch: p.multiArch, depends: p.depends, preDepends: p.preDepends, recommends: p.recommends,
    breaks: p.breaks, conflicts: p.conflicts, provides: p.provides,
  };
}

export function outdated(installed: readonly InstalledPackage[], view: View, opts: OutdatedOptions = {}): OutdatedResult {
  const policy = opts.policy ?? new Policy(view, opts.pins ?? []);
  const files = view.files;
  const slots: UpgradeSlot[] = [];
  const pending: Array<{ slot: number; p: InstalledPackage; cand: Choice; priority: number; choices: Choice[]; phased: boolean; security: boolean }> = [];
  const seen = new Set<string>();
  for (const p of installed) {
    if (!isInstalledState(p.state)) continue;
    const instArch = view.instanceArch(p.architecture);
    const key = `${p.package}:${instArch}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const choices = policy.choices(p.package, instArch, p.version);
    const c = policy.candidate(p.package, instArch, choices);
    const slot: UpgradeSlot = { name: p.package, instanceArch: instArch, info: statusInfo(p), candidate: undefined, keep: p.want === 'hold' };
    const index = slots.push(slot) - 1;
    if (!c || c.choice.installed || !c.choice.entry || compareVersions(c.choice.version, p.version) <= 0) continue;
    const cand = c.choice;
    slot.candidate = cand.entry;
    // versions strictly between the installed one and the candidate
    const between = choices.filter((x) => !x.installed && x !== cand && compareVersions(x.version, cand.version) < 0 && compareVersions(x.version, p.version) > 0);
    const security = cand.files.some((f) => isSecurityFile(files[f]!)) || between.some((x) => x.files.some((f) => isSecurityFile(files[f]!)));
    let phased = false;
    const pct = cand.entry!.phased;
    if (pct !== undefined && pct < 100 && opts.phasing) {
      // apt never defers a version when one between it and the installed one is from -security
      const aptSecurity = between.some((x) => x.files.some((f) => /-security$/.test(files[f]!.archive ?? '')));
      phased = !aptSecurity && phaseExcludes(cand.entry!.source, cand.entry!.sourceVersion, pct, opts.phasing);
    }
    if (phased) slot.keep = true;
    pending.push({ slot: index, p, cand, priority: c.priority, choices, phased, security });
  }

  const sim = simulateUpgrade(slots, view.nativeArch);
  const entries: OutdatedEntry[] = pending.map(({ slot, p, cand, priority, phased, security }) => {
    const e = cand.entry!;
    const held = p.want === 'hold';
    let action: UpgradeAction = 'upgrade';
    let keptBack: OutdatedEntry['keptBack'];
    if (held) action = 'held';
    else if (phased) action = 'phased';
    else if (!sim.upgraded[slot]) {
      action = 'kept-back';
      const r = sim.reasons.get(slot);
      const because = r?.because === undefined ? undefined : `${slots[r.because]!.name}:${slots[r.because]!.instanceArch}`;
      keptBack = { reason: r?.reason ?? 'blocked', ...(because ? { because } : {}) };
    }
    return {
      package: p.package,
      architecture: e.architecture,
      instance: `${p.package}:${slots[slot]!.instanceArch}`,
      installedVersion: p.version,
      candidateVersion: cand.version,
      source: e.source,
      sourceVersion: e.sourceVersion,
      priority,
      origins: cand.files.map((f) => {
        const pf = files[f]!;
        return { backend: pf.backend, suite: pf.dist, origin: pf.origin, label: pf.label, archive: pf.archive, codename: pf.codename, component: pf.component };
      }),
      security,
      held,
      action,
      ...(keptBack ? { keptBack } : {}),
    };
  });
  entries.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  return {
    entries,
    counts: {
      installed: slots.length,
      outdated: entries.length,
      security: entries.filter((e) => e.security).length,
      upgrade: entries.filter((e) => e.action === 'upgrade').length,
      held: entries.filter((e) => e.action === 'held').length,
      keptBack: entries.filter((e) => e.action === 'kept-back').length,
      phased: entries.filter((e) => e.action === 'phased').length,
    },
  };
}
