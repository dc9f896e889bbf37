// outdated(installed set, view): the installed packages whose candidate (as apt chooses it) is
// newer than the installed version — exactly `apt list --upgradable` — and what `apt-get upgrade`
// would do with each of them (upgrade, keep back and why, held, deferred by phasing).
import { phaseExcludes, type PhasingOptions } from './phasing.js';
import { Policy } from './policy.js';
import type { Pin } from './preferences.js';
import { isInstalledState, type InstalledPackage } from './status.js';
import { InstalledIndex, type Slot } from './deps.js';
import { runSteps, simulateUpgradeSteps, STEP, type KeepReason } from './upgrade.js';
import type { PackageFile, VersionInfo, View, ViewVersion } from './view.js';

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
  /** the candidate's Architecture field (amd64, i386, all): candidateArchitecture, kept for format 1 */
  architecture: string;
  /** the installed version's Architecture field (dpkg's status): what `apt list --upgradable` prints */
  installedArchitecture: string;
  /** the candidate's Architecture field; differs when a package moves between all and an architecture */
  candidateArchitecture: string;
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
  counts: {
    installed: number;
    outdated: number;
    security: number;
    upgrade: number;
    held: number;
    keptBack: number;
    phased: number;
  };
}

// per view: which package files are security suites, and each file's origin as reported
// (shared by every answer; callers get them read-only)
const facts = new WeakMap<View, { securityFile: Uint8Array; origins: CandidateOrigin[] }>();

function fileFacts(view: View): { securityFile: Uint8Array; origins: CandidateOrigin[] } {
  let f = facts.get(view);
  if (!f || f.origins.length !== view.files.length) {
    f = {
      securityFile: Uint8Array.from(view.files, (pf) => (isSecurityFile(pf) ? 1 : 0)),
      origins: view.files.map((pf) =>
        Object.freeze({
          backend: pf.backend,
          suite: pf.dist,
          origin: pf.origin,
          label: pf.label,
          archive: pf.archive,
          codename: pf.codename,
          component: pf.component,
        }),
      ),
    };
    facts.set(view, f);
  }
  return f;
}

/** Debian-Security / *-security codename (Debian), or a *-security pocket (Ubuntu). */
export function isSecurityFile(f: PackageFile): boolean {
  return /security/i.test(f.label ?? '') || /-security$/i.test(f.codename ?? '') || /-security$/i.test(f.archive ?? '');
}

interface Prepared {
  nativeArch: string;
  /** the installed instances apt counts (installed states, one per name and architecture) */
  packages: InstalledPackage[];
  index: InstalledIndex;
  /** per slot: held (the hold selection), on the native architecture */
  held: Uint8Array;
  native: Uint8Array;
  /** slot indexes in output order (name, then architecture) */
  order: Int32Array;
}

// The per-installed-set part of the work, kept while the caller keeps the array.
const prepared = new WeakMap<readonly InstalledPackage[], Prepared>();

function* prepare(installed: readonly InstalledPackage[], view: View): Generator<void, Prepared> {
  const hit = prepared.get(installed);
  if (hit && hit.nativeArch === view.nativeArch) return hit;
  const packages: InstalledPackage[] = [];
  const slots: Slot[] = [];
  const seen = new Set<string>();
  for (const p of installed) {
    if (!isInstalledState(p.state)) continue;
    const instArch = view.instanceArch(p.architecture);
    const key = `${p.package}:${instArch}`;
    if (seen.has(key)) continue;
    seen.add(key);
    packages.push(p);
    // an InstalledPackage carries every field of a VersionInfo
    slots.push({ name: p.package, instanceArch: instArch, info: p });
    if (packages.length % STEP === 0) yield;
  }
  const index = new InstalledIndex(slots, true);
  for (let i = 0; i < slots.length; i++) {
    index.indexSlot(i);
    if (i % (STEP / 4) === 0) yield;
  }
  yield;
  const prep: Prepared = {
    nativeArch: view.nativeArch,
    packages,
    index,
    held: Uint8Array.from(packages, (p) => (p.want === 'hold' ? 1 : 0)),
    native: Uint8Array.from(slots, (s) => (s.instanceArch === view.nativeArch ? 1 : 0)),
    order: Int32Array.from(
      slots
        .map((s, i) => [s.name, s.instanceArch, i] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
        .map((x) => x[2]),
    ),
  };
  prepared.set(installed, prep);
  return prep;
}

export function outdated(
  installed: readonly InstalledPackage[],
  view: View,
  opts: OutdatedOptions = {},
): OutdatedResult {
  return runSteps(outdatedSteps(installed, view, opts));
}

/**
 * outdated() as a resumable computation (index/upgrade.ts runSteps): it pauses every few
 * hundred packages, so that a server can compute a large installed set in slices.
 */
export function* outdatedSteps(
  installed: readonly InstalledPackage[],
  view: View,
  opts: OutdatedOptions = {},
): Generator<void, OutdatedResult> {
  const policy = opts.policy ?? new Policy(view, opts.pins ?? []);
  const files = view.files;
  const { packages, index, held, native, order } = yield* prepare(installed, view);
  const slots = index.slots;
  const candidates: Array<VersionInfo | undefined> = new Array(slots.length);
  const keep: boolean[] = Array.from(held, (h) => h === 1);
  const pending: Array<{
    slot: number;
    p: InstalledPackage;
    cand: ViewVersion;
    priority: number;
    phased: boolean;
    security: boolean;
  }> = [];
  const { securityFile, origins } = fileFacts(view);
  for (let i = 0; i < slots.length; i++) {
    if (i % STEP === STEP - 1) yield;
    // fast path by number: the installed version is the index's highest native one
    if (native[i] === 1 && view.topNativeVersionId(index.nameIds[i]!) === index.versionIds[i]) continue;
    const p = packages[i]!;
    // apt's Upgradable(): a candidate that comes before the installed version in apt's order
    const u = policy.upgrade(p.package, slots[i]!.instanceArch, p);
    if (!u) continue;
    const cand = u.cand;
    candidates[i] = cand;
    // versions strictly between the installed one and the candidate
    const between = u.between;
    const security =
      cand.files.some((f) => securityFile[f] === 1) || between.some((x) => x.files.some((f) => securityFile[f] === 1));
    let phased = false;
    const pct = cand.phased;
    if (pct !== undefined && pct < 100 && opts.phasing) {
      // apt never defers a version when one between it and the installed one is from -security
      const aptSecurity = between.some((x) => x.files.some((f) => /-security$/.test(files[f]!.archive ?? '')));
      phased = !aptSecurity && phaseExcludes(cand.source, cand.sourceVersion, pct, opts.phasing);
    }
    if (phased) keep[i] = true;
    pending.push({ slot: i, p, cand, priority: u.priority, phased, security });
  }

  const sim = yield* simulateUpgradeSteps(index, candidates, keep, view.nativeArch);
  // in output order: the per-set order of slots, no sort per answer
  const bySlot: Array<(typeof pending)[number] | undefined> = new Array(slots.length);
  for (const x of pending) bySlot[x.slot] = x;
  const ordered: typeof pending = [];
  for (const i of order) if (bySlot[i]) ordered.push(bySlot[i]!);
  const entries: OutdatedEntry[] = [];
  for (const { slot, p, cand, priority, phased, security } of ordered) {
    if (entries.length % STEP === STEP - 1) yield;
    const e = cand;
    const held = p.want === 'hold';
    let action: UpgradeAction = 'upgrade';
    let keptBack: OutdatedEntry['keptBack'];
    if (held) action = 'held';
    else if (phased) action = 'phased';
    else if (!sim.upgraded[slot]) {
      action = 'kept-back';
      const r = sim.reasons.get(slot);
      const because =
        r?.because === undefined ? undefined : `${slots[r.because]!.name}:${slots[r.because]!.instanceArch}`;
      keptBack = { reason: r?.reason ?? 'blocked', ...(because ? { because } : {}) };
    }
    entries.push({
      package: p.package,
      architecture: e.architecture,
      installedArchitecture: p.architecture,
      candidateArchitecture: e.architecture,
      instance: `${p.package}:${slots[slot]!.instanceArch}`,
      installedVersion: p.version,
      candidateVersion: cand.version,
      source: e.source,
      sourceVersion: e.sourceVersion,
      priority,
      origins: cand.files.map((f) => origins[f]!),
      security,
      held,
      action,
      ...(keptBack ? { keptBack } : {}),
    });
  }
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
