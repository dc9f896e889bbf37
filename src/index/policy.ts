// apt's candidate selection (apt 2.6 pkgPolicy): package-file priorities (500, NotAutomatic 1,
// NotAutomatic + ButAutomaticUpgrades 100, the dpkg status file 100, `Package: *` pins),
// per-version pins (first matching record wins), then GetCandidateVer: the highest priority,
// ties to the highest version, never below the installed version unless priority >= 1000.
import { expressionMatches, isPattern } from './glob.js';
import { NEVER_PIN, type Pin, type PinMatch, type ReleaseSpec } from './preferences.js';
import type { PackageFile, VersionInfo, View, ViewVersion } from './view.js';
import { compareValid } from './version.js';

const NO_FILES: readonly number[] = Object.freeze([]);

/** The dpkg status file as a package file (apt's archive "now"). */
export const STATUS_FILE = -1;

/** One version of an instance as apt's cache has it. */
export interface Choice {
  version: string;
  /** the index entry, undefined when the version is only known from the status file */
  entry: ViewVersion | undefined;
  /** package files offering it (indexes into View.files) */
  files: readonly number[];
  /** the installed version (it is then also in the status file) */
  installed: boolean;
}

interface SpecificPin {
  order: number;
  pin: Pin;
  name: string;
  source: boolean;
  pattern: boolean;
  /** undefined: the native architecture */
  arch: string | undefined;
}

function matchVer(value: string | undefined, want: string, prefix: boolean): boolean {
  if (value === undefined) return false;
  if (prefix ? value.length < want.length : value.length !== want.length) return false;
  return value.slice(0, want.length).toLowerCase() === want.toLowerCase();
}

export class Policy {
  private readonly filePrio: Int32Array;
  private readonly statusPrio: number;
  private readonly literal = new Map<string, SpecificPin[]>();
  private readonly bySource = new Map<string, SpecificPin[]>();
  private readonly patterns: SpecificPin[] = [];

  constructor(
    private readonly view: View,
    pins: readonly Pin[] = [],
  ) {
    const n = view.files.length;
    this.filePrio = new Int32Array(n);
    const fixed = new Uint8Array(n + 1);
    for (let i = 0; i < n; i++) this.filePrio[i] = this.basePriority(view.files[i]!);
    let status = 100;
    for (const pin of pins) {
      if (pin.names !== null) continue;
      for (let i = 0; i < n; i++) {
        if (
          (fixed[i] === 0 || pin.priority === NEVER_PIN) &&
          this.filePrio[i] !== NEVER_PIN &&
          this.fileMatches(pin.match, i)
        ) {
          this.filePrio[i] = pin.priority;
          fixed[i] = 1;
        }
      }
      if (
        (fixed[n] === 0 || pin.priority === NEVER_PIN) &&
        status !== NEVER_PIN &&
        this.fileMatches(pin.match, STATUS_FILE)
      ) {
        status = pin.priority;
        fixed[n] = 1;
      }
    }
    this.statusPrio = status;
    this.anyPackagePin = pins.some((p) => p.names !== null);
    pins.forEach((pin, order) => {
      if (pin.names === null) return;
      for (let token of pin.names) {
        const source = token.startsWith('src:');
        if (source) token = token.slice(4);
        const colon = token.lastIndexOf(':');
        const arch = colon === -1 ? undefined : token.slice(colon + 1);
        const name = colon === -1 ? token : token.slice(0, colon);
        if (!name) continue;
        const sp: SpecificPin = { order, pin, name, source, pattern: isPattern(name), arch };
        if (sp.pattern) this.patterns.push(sp);
        else {
          const map = source ? this.bySource : this.literal;
          const list = map.get(name);
          if (list) list.push(sp);
          else map.set(name, [sp]);
        }
      }
    });
  }

  private anyPackagePin = false;

  /** Whether the highest version of an instance is apt's version of what is installed. */
  static sameVersion(installed: Pick<VersionInfo, 'version' | 'aptHash' | 'multiArch'>, v: VersionInfo): boolean {
    return (
      installed.version === v.version &&
      (installed.aptHash === undefined || v.aptHash === undefined || installed.aptHash === v.aptHash) &&
      (installed.multiArch ?? '') === (v.multiArch ?? '')
    );
  }

  private basePriority(f: PackageFile): number {
    if (f.butAutomaticUpgrades && f.notAutomatic) return 100;
    if (f.butAutomaticUpgrades) return 100;
    if (f.notAutomatic) return 1;
    return 500;
  }

  /** Priority of a package file after `Package: *` pins (STATUS_FILE for the status file). */
  filePriority(file: number): number {
    return file === STATUS_FILE ? this.statusPrio : this.filePrio[file]!;
  }

  /** pkgVersionMatch::FileMatch for release and origin pins. */
  fileMatches(m: PinMatch, file: number): boolean {
    if (m.type === 'version') return false;
    if (file === STATUS_FILE) {
      // the status file has no Release: only archive/bare-release "now" and c=/b= can match
      if (m.type === 'origin') return false;
      const s = m.spec;
      if (s.matchAll) return true;
      if (s.archive !== undefined && !expressionMatches(s.archive, 'now')) return false;
      if (s.release !== undefined && !expressionMatches(s.release, 'now')) return false;
      if (s.origin !== undefined || s.label !== undefined || s.version !== undefined || s.codename !== undefined)
        return false;
      if (s.component !== undefined && !expressionMatches(s.component, 'now')) return false;
      return s.architecture === undefined;
    }
    const f = this.view.files[file]!;
    if (m.type === 'origin') return expressionMatches(m.site, f.site);
    return releaseMatches(m.spec, f);
  }

  private versionMatches(m: PinMatch, c: Choice): boolean {
    if (m.type === 'version')
      return (
        matchVer(c.version, m.version, m.prefix) || expressionMatches(m.version + (m.prefix ? '*' : ''), c.version)
      );
    for (const f of c.files) if (this.fileMatches(m, f)) return true;
    return c.installed && this.fileMatches(m, STATUS_FILE);
  }

  private archMatches(sp: SpecificPin, instanceArch: string): boolean {
    if (sp.arch === undefined || sp.arch === 'native') return instanceArch === this.view.nativeArch;
    if (sp.arch === 'any') return true;
    return sp.arch === instanceArch;
  }

  /** The per-version pin apt would attach: the first record (in file order) that matches. */
  versionPin(name: string, instanceArch: string, c: Choice): Pin | undefined {
    if (!this.anyPackagePin) return undefined;
    let best: SpecificPin | undefined;
    const consider = (sp: SpecificPin) => {
      if (best !== undefined && best.order <= sp.order) return;
      if (!this.archMatches(sp, instanceArch)) return;
      if (!this.versionMatches(sp.pin.match, c)) return;
      best = sp;
    };
    for (const sp of this.literal.get(name) ?? []) consider(sp);
    const source = c.entry?.source;
    if (source !== undefined) for (const sp of this.bySource.get(source) ?? []) consider(sp);
    for (const sp of this.patterns) {
      const subject = sp.source ? source : name;
      if (subject !== undefined && expressionMatches(sp.name, subject)) consider(sp);
    }
    return best?.pin;
  }

  /** pkgPolicy::GetPriority(Ver, ConsiderFiles = true). */
  priority(name: string, instanceArch: string, c: Choice): number {
    const pin = this.versionPin(name, instanceArch, c);
    if (pin) {
      if (pin.priority === NEVER_PIN) return NEVER_PIN;
      for (const f of c.files) if (this.filePriority(f) !== NEVER_PIN) return pin.priority;
      if (c.installed && this.statusPrio !== NEVER_PIN) return pin.priority;
    }
    let prio = -Infinity;
    for (const f of c.files) prio = Math.max(prio, this.filePriority(f));
    if (c.installed) prio = Math.max(prio, this.statusPrio);
    return prio === -Infinity ? 0 : prio;
  }

  /**
   * apt's candidate (GetCandidateVer) and Upgradable() in one pass over the instance's versions in
   * apt's order, the installed one included: the installed version is the index's version only
   * when apt would merge them (same string, VersionHash and Multi-Arch), otherwise a version of
   * its own after the index versions with the same string (apt parses the status file last).
   * Returns the candidate when it comes before the installed version, with the versions between
   * the two; undefined when nothing is an upgrade.
   */
  upgrade(
    name: string,
    instanceArch: string,
    installed: Pick<VersionInfo, 'version' | 'aptHash' | 'multiArch'>,
  ): { cand: ViewVersion; priority: number; between: readonly ViewVersion[] } | undefined {
    const versions = this.view.versions(name, instanceArch);
    let merged = -1;
    let insertAt = versions.length;
    for (let k = 0; k < versions.length; k++) {
      const c = compareValid(installed.version, versions[k]!.version);
      if (c === 0 && Policy.sameVersion(installed, versions[k]!)) {
        merged = k;
        break;
      }
      if (c > 0) {
        insertAt = k;
        break;
      }
    }
    const at = merged !== -1 ? merged : insertAt;
    const scratch = this.scratch;
    let cand = -2; // -1: the installed version known only from the status file
    let candPriority = -1;
    for (let k = 0; k <= versions.length; k++) {
      if (merged === -1 && k === insertAt) {
        scratch.version = installed.version;
        scratch.entry = undefined;
        scratch.files = NO_FILES;
        scratch.installed = true;
        const p = this.priority(name, instanceArch, scratch);
        if (p !== 0 && p > candPriority) {
          candPriority = p;
          cand = -1;
        }
      }
      if (k === versions.length) break;
      const v = versions[k]!;
      scratch.version = v.version;
      scratch.entry = v;
      scratch.files = v.files;
      scratch.installed = k === merged;
      const p = this.priority(name, instanceArch, scratch);
      if (p === 0 || p <= candPriority) continue;
      // never below the installed version: only what comes after it in apt's order can be
      if (p < 1000 && k !== merged && k >= at && compareValid(v.version, installed.version) < 0) continue;
      candPriority = p;
      cand = k;
    }
    if (cand < 0 || cand >= at) return undefined;
    return { cand: versions[cand]!, priority: candPriority, between: versions.slice(cand + 1, at) };
  }

  private readonly scratch: Choice = { version: '', entry: undefined, files: [], installed: false };
}

export function releaseMatches(s: ReleaseSpec, f: PackageFile): boolean {
  if (s.matchAll) return true;
  if (
    s.version === undefined &&
    s.origin === undefined &&
    s.archive === undefined &&
    s.label === undefined &&
    s.release === undefined &&
    s.codename === undefined &&
    s.component === undefined &&
    s.architecture === undefined
  )
    return false;
  if (
    s.version !== undefined &&
    !matchVer(f.releaseVersion, s.version, s.versionPrefix ?? false) &&
    !expressionMatches(s.version, f.releaseVersion)
  )
    return false;
  if (s.origin !== undefined && !expressionMatches(s.origin, f.origin)) return false;
  if (s.archive !== undefined && !expressionMatches(s.archive, f.archive)) return false;
  if (s.codename !== undefined && !expressionMatches(s.codename, f.codename)) return false;
  if (s.release !== undefined && !expressionMatches(s.release, f.archive) && !expressionMatches(s.release, f.codename))
    return false;
  if (s.label !== undefined && !expressionMatches(s.label, f.label)) return false;
  if (s.component !== undefined && !expressionMatches(s.component, f.component)) return false;
  if (s.architecture !== undefined && !expressionMatches(s.architecture, f.architecture)) return false;
  return true;
}
