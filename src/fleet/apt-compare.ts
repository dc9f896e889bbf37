// The server's outdated answer for a machine against what the machine's own apt listed in its
// last report: what both list, what only one side lists, what has another candidate; and, where
// the server can show it from its own data, why they differ: an answer the server gives with its
// earlier snapshots of the same suites (the machine's lists are older than the server's).
import { outdated, type OutdatedEntry } from '../index/outdated.js';
import type { InstalledPackage } from '../index/status.js';
import type { AptUpgradable } from '../protocol/wire.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import type { ViewLoader, ViewSpec } from './views.js';

export interface OneSide {
  package: string;
  /** the installed version's architecture, as apt list prints it */
  architecture: string;
  installed: string;
  candidate: string;
  /** why, when the server can show it */
  cause?: string;
}

export interface OtherCandidate {
  package: string;
  architecture: string;
  installed: string;
  /** the candidate of the machine's apt */
  apt: string;
  /** the server's */
  server: string;
  cause?: string;
}

export interface AptComparison {
  /** upgradable for the machine's apt (its report) */
  apt: number;
  /** outdated in the server's answer */
  server: number;
  /** listed by both with the same candidate */
  same: number;
  onlyApt: OneSide[];
  onlyServer: OneSide[];
  different: OtherCandidate[];
  /** what the server knows about why they differ (nothing when it cannot show it) */
  causes: string[];
}

/** apt's list names the installed architecture; an Architecture: all package is the native instance. */
function aptInstance(u: AptUpgradable, nativeArch: string): string {
  return `${u.package}:${u.architecture === 'all' ? nativeArch : u.architecture}`;
}

export function compareWithApt(
  server: readonly OutdatedEntry[],
  apt: readonly AptUpgradable[],
  nativeArch: string,
): AptComparison {
  const ours = new Map(server.map((e) => [e.instance, e]));
  const theirs = new Map(apt.map((u) => [aptInstance(u, nativeArch), u]));
  const c: AptComparison = {
    apt: theirs.size,
    server: ours.size,
    same: 0,
    onlyApt: [],
    onlyServer: [],
    different: [],
    causes: [],
  };
  for (const [instance, u] of theirs) {
    const e = ours.get(instance);
    if (!e)
      c.onlyApt.push({
        package: u.package,
        architecture: u.architecture,
        installed: u.installed,
        candidate: u.candidate,
      });
    else if (e.candidateVersion === u.candidate) c.same++;
    else
      c.different.push({
        package: u.package,
        architecture: u.architecture,
        installed: u.installed,
        apt: u.candidate,
        server: e.candidateVersion,
      });
  }
  for (const [instance, e] of ours) {
    if (!theirs.has(instance))
      c.onlyServer.push({
        package: e.package,
        architecture: e.installedArchitecture ?? e.architecture,
        installed: e.installedVersion,
        candidate: e.candidateVersion,
      });
  }
  const byName = (a: { package: string; architecture: string }, b: { package: string; architecture: string }) =>
    a.package < b.package
      ? -1
      : a.package > b.package
        ? 1
        : a.architecture < b.architecture
          ? -1
          : a.architecture > b.architecture
            ? 1
            : 0;
  c.onlyApt.sort(byName);
  c.onlyServer.sort(byName);
  c.different.sort(byName);
  return c;
}

/** The "name version" lists of the first comparison format (machines show --json `disagreements`). */
export function disagreementStrings(c: AptComparison): { onlyApt: string[]; onlyServer: string[] } {
  return {
    onlyApt: [
      ...c.onlyApt.map((x) => `${x.package} ${x.candidate}`),
      ...c.different.map((x) => `${x.package} ${x.apt}`),
    ].sort(),
    onlyServer: [
      ...c.onlyServer.map((x) => `${x.package} ${x.candidate}`),
      ...c.different.map((x) => `${x.package} ${x.server}`),
    ].sort(),
  };
}

export function differences(c: AptComparison): number {
  return c.onlyApt.length + c.onlyServer.length + c.different.length;
}

export interface EarlierDeps {
  views: ViewLoader;
  snapshots: SnapshotStore;
  /** the machine's installed set (its profile) */
  installed: () => InstalledPackage[];
}

const day = (ms: number) => new Date(ms).toISOString().replace(/:\d\d\.\d{3}Z$/, 'Z');

/**
 * The view as it was before each of the last few snapshots its sources got (newest first): the
 * snapshot each source had then (the server records snapshots in order: their ids are its
 * history). States the server cannot rebuild (no snapshot that far back, Packages no longer
 * indexed) are left out.
 */
function earlierStates(
  deps: EarlierDeps,
  spec: ViewSpec,
  tries: number,
): Array<{ ids: number[]; changed: SnapshotRow[] }> {
  const current = deps.views.currentIds(spec);
  const history = spec.sources.map((src, i) => {
    const r = src.stage === undefined && current[i]! > 0 ? deps.snapshots.byId(current[i]!) : undefined;
    return r ? [r, ...deps.snapshots.before(r.backend, r.suite, r.kind, r.id, tries)] : [];
  });
  // a moment: a source moving to a snapshot whose predecessor the server knows
  const moments = [...new Set(history.flatMap((h) => h.slice(0, -1).map((r) => r.id)))]
    .sort((a, b) => b - a)
    .slice(0, tries);
  const out: Array<{ ids: number[]; changed: SnapshotRow[] }> = [];
  for (const moment of moments) {
    const ids = [...current];
    const changed: SnapshotRow[] = [];
    let complete = true;
    history.forEach((h, i) => {
      if (!h.length) return; // a stage, or no snapshot: as it is now
      const then = h.find((r) => r.id < moment);
      if (!then) {
        complete = false;
        return;
      }
      if (then.id !== ids[i]) {
        ids[i] = then.id;
        changed.push(then);
      }
    });
    if (complete && changed.length && deps.views.notReady(spec, ids) === undefined) out.push({ ids, changed });
  }
  return out;
}

/**
 * Gives a cause to each difference that the server's answer with its earlier snapshots of the
 * same suites accounts for (the apt side is what the server answered then), and a summary cause.
 * Loads up to `tries` earlier views: for one machine at a time (machines show), not for a list.
 */
export function explainByEarlierSnapshots(
  deps: EarlierDeps,
  spec: ViewSpec,
  c: AptComparison,
  nativeArch: string,
  tries = 3,
): void {
  if (!differences(c)) return;
  const inst = (x: { package: string; architecture: string }) =>
    `${x.package}:${x.architecture === 'all' ? nativeArch : x.architecture}`;
  let installed: InstalledPackage[] | undefined;
  const explainedBy = new Map<string, number>();
  for (const state of earlierStates(deps, spec, tries)) {
    installed ??= deps.installed();
    const loaded = deps.views.load(spec, state.ids);
    const then = new Map(
      outdated(installed, loaded.view, { pins: loaded.pins }).entries.map((e) => [e.instance, e.candidateVersion]),
    );
    const cause = `the server's answer with its earlier snapshot${state.changed.length > 1 ? 's' : ''} of ${state.changed.map((s) => `${s.backend}/${s.suite} (signed ${day(s.date)})`).join(', ')}`;
    const mark = (x: { cause?: string }) => {
      if (x.cause) return;
      x.cause = cause;
      explainedBy.set(cause, (explainedBy.get(cause) ?? 0) + 1);
    };
    for (const x of c.onlyApt) if (then.get(inst(x)) === x.candidate) mark(x);
    for (const x of c.onlyServer) if (!then.has(inst(x))) mark(x);
    for (const x of c.different) if (then.get(inst(x)) === x.apt) mark(x);
    if ([...c.onlyApt, ...c.onlyServer, ...c.different].every((x) => x.cause)) break;
  }
  for (const [cause, n] of explainedBy) {
    c.causes.push(
      `${n} of the ${differences(c)} differences are ${cause}: the machine's apt lists are older than the server's (apt update has not run there since)`,
    );
  }
}
