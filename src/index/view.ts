// A view: the package files (one Packages index of one suite each) a machine's apt would read,
// with every version they offer grouped per package instance (name + architecture) the way
// apt's cache groups them: `Architecture: all` belongs to the native architecture, the same
// version string offered by several files is one version with several files.
import { nameId, versionId } from './intern.js';
import { compareValid } from './version.js';

/** One Packages index of one suite, with its Release's fields (apt's package file). */
export interface PackageFile {
  /** aptgate backend the suite comes from, when known */
  backend: string | undefined;
  /** the suite as sources.list names it (`bookworm-security`) */
  dist: string;
  /** host of the source URI (`Pin: origin`) */
  site: string;
  origin: string | undefined;
  label: string | undefined;
  /** Release `Suite:` (apt calls it the archive: `a=`) */
  archive: string | undefined;
  codename: string | undefined;
  /** Release `Version:` (`v=`) */
  releaseVersion: string | undefined;
  component: string;
  /** the binary-<arch> of the index */
  architecture: string;
  notAutomatic: boolean;
  butAutomaticUpgrades: boolean;
}

/** What a Packages entry (or a dpkg status entry) says about one version. */
export interface VersionInfo {
  package: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
  multiArch: string | undefined;
  phased?: number | undefined;
  depends?: string | undefined;
  preDepends?: string | undefined;
  recommends?: string | undefined;
  breaks?: string | undefined;
  conflicts?: string | undefined;
  provides?: string | undefined;
  /** apt's VersionHash; entries with the same version string but another hash are other versions */
  aptHash?: number | undefined;
}

export interface ViewVersion extends VersionInfo {
  /** indexes into View.files */
  files: number[];
}

const NONE: readonly ViewVersion[] = Object.freeze([]);

export function instanceKey(name: string, arch: string): string {
  return `${name}:${arch}`;
}

export class View {
  readonly files: PackageFile[] = [];
  readonly nativeArch: string;
  /** native first, then foreign */
  readonly architectures: string[];
  // architecture → name → versions: two lookups, no key to build on the hot path
  private readonly instances = new Map<string, Map<string, ViewVersion[]>>();
  private readonly byVersion = new Map<string, Map<string, ViewVersion>>();
  private count = 0;
  private sorted = true;
  // by name number (see intern.ts): versionId() of the highest native version, 0 when none
  private topNativeId = new Int32Array(0);

  constructor(nativeArch: string, foreignArchs: readonly string[] = []) {
    this.nativeArch = nativeArch;
    this.architectures = [nativeArch, ...foreignArchs.filter((a) => a !== nativeArch)];
  }

  /** The instance architecture apt files a version under ('all' → native). */
  instanceArch(architecture: string): string {
    return architecture === 'all' ? this.nativeArch : architecture;
  }

  /** Whether apt, configured with these architectures, would read this index. */
  readsIndexArch(indexArch: string): boolean {
    return indexArch === 'all' || this.architectures.includes(indexArch);
  }

  addFile(file: PackageFile): number {
    this.files.push(file);
    return this.files.length - 1;
  }

  /** Adds one entry of file `fileId`; entries of architectures not configured are ignored. */
  add(fileId: number, info: VersionInfo): void {
    if (info.architecture !== 'all' && !this.architectures.includes(info.architecture)) return;
    const arch = this.instanceArch(info.architecture);
    const key = instanceKey(info.package, arch);
    let versions = this.byVersion.get(key);
    let byName = this.instances.get(arch);
    if (!byName) {
      byName = new Map();
      this.instances.set(arch, byName);
    }
    if (!versions) {
      versions = new Map();
      this.byVersion.set(key, versions);
      byName.set(info.package, []);
      this.count++;
    }
    // apt merges entries into one version only when string, relations hash and Multi-Arch agree
    const id = `${info.version}\0${info.aptHash ?? ''}\0${info.multiArch ?? ''}`;
    const existing = versions.get(id);
    if (existing) {
      if (!existing.files.includes(fileId)) existing.files.push(fileId);
      return;
    }
    const v: ViewVersion = { ...info, files: [fileId] };
    versions.set(id, v);
    byName.get(info.package)!.push(v);
    this.sorted = false;
  }

  /** Sorts every instance's versions, highest first (call once after adding). */
  seal(): this {
    if (!this.sorted) {
      for (const byName of this.instances.values()) {
        for (const list of byName.values())
          if (list.length > 1) list.sort((a, b) => compareValid(b.version, a.version));
      }
      const tops: Array<[number, ViewVersion]> = [];
      for (const [name, list] of this.instances.get(this.nativeArch) ?? []) {
        const id = nameId(name);
        tops.push([id, list[0]!]);
      }
      this.topNativeId = new Int32Array(tops.reduce((m, [id]) => Math.max(m, id + 1), 0));
      for (const [id, v] of tops) this.topNativeId[id] = versionId(v.version, v.aptHash, v.multiArch);
      this.sorted = true;
    }
    return this;
  }

  /** Versions of an instance, highest first. */
  versions(name: string, instanceArch: string): readonly ViewVersion[] {
    if (!this.sorted) this.seal();
    return this.instances.get(instanceArch)?.get(name) ?? NONE;
  }

  /** versionId() of the highest native version of nameId `id` (0: none, or not known to this view). */
  topNativeVersionId(id: number): number {
    if (!this.sorted) this.seal();
    return id < this.topNativeId.length ? this.topNativeId[id]! : 0;
  }

  instanceCount(): number {
    return this.count;
  }
}
