// What a stage generation contains, per component and architecture: the base snapshot's
// packages, except the sources overridden, whose binaries come from their own snapshot (the
// binaries of one source always move together).
import { compareVersions } from '../index/version.js';
import type { IndexRow, PackageIndexStore } from '../state/package-index.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import type { Override } from '../state/stages.js';

export interface ContentPart {
  snapshot: SnapshotRow;
  indexFileId: number;
  /** keeps a package of this part by its source name */
  keep: (source: string) => boolean;
}

export interface ContentTarget {
  component: string;
  architecture: string;
  parts: ContentPart[];
}

export interface Content {
  base: number;
  overrides: readonly Override[];
}

export interface SourceVersion {
  version: string;
  snapshot: number;
}

/** Contents whose sources are remembered (a stage's and the next one's, for a few stages and suites). */
const SOURCES_MEMO = 32;

export class ContentResolver {
  private readonly sourcesMemo = new Map<string, Map<string, SourceVersion>>();

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly packageIndex: PackageIndexStore,
  ) {}

  /** The targets of a content (the base snapshot's indexed component/architecture pairs). */
  targets(c: Content): ContentTarget[] {
    const base = this.snapshots.byId(c.base);
    if (!base) return [];
    const from = new Map(c.overrides.map((o) => [o.source, o.snapshot]));
    const others = new Map<number, { snap: SnapshotRow; files: Map<string, number> }>();
    for (const id of new Set(from.values())) {
      const snap = this.snapshots.byId(id);
      if (snap)
        others.set(id, {
          snap,
          files: new Map(
            this.packageIndex.linkedFiles(id).map((l) => [`${l.component}/${l.architecture}`, l.indexFileId]),
          ),
        });
    }
    return this.packageIndex.linkedFiles(c.base).map((l) => {
      const parts: ContentPart[] = [{ snapshot: base, indexFileId: l.indexFileId, keep: (src) => !from.has(src) }];
      for (const [id, o] of others) {
        const f = o.files.get(`${l.component}/${l.architecture}`);
        if (f !== undefined) parts.push({ snapshot: o.snap, indexFileId: f, keep: (src) => from.get(src) === id });
      }
      return { component: l.component, architecture: l.architecture, parts };
    });
  }

  /** Every package entry of a content (what the outdated computation reads). */
  entries(c: Content): Array<{ target: ContentTarget; snapshot: SnapshotRow; rows: IndexRow[] }> {
    return this.entriesOf(this.targets(c));
  }

  private entriesOf(
    targets: ContentTarget[],
  ): Array<{ target: ContentTarget; snapshot: SnapshotRow; rows: IndexRow[] }> {
    return targets.flatMap((t) =>
      t.parts.map((p) => ({
        target: t,
        snapshot: p.snapshot,
        rows: this.packageIndex.entries(p.indexFileId).filter((r) => p.keep(r.source)),
      })),
    );
  }

  /**
   * Source → the highest source version the content offers and the snapshot it comes from.
   * Remembered by what it is read from (the parts' index files and the overrides; an index file
   * never changes): the gate's status asks it of every stage on each overview, and reading
   * every entry again costs tens of ms.
   */
  sources(c: Content): Map<string, SourceVersion> {
    const targets = this.targets(c);
    const key = JSON.stringify([
      c.overrides.map((o) => [o.source, o.snapshot]),
      targets.map((t) => t.parts.map((p) => [p.snapshot.id, p.indexFileId])),
    ]);
    const known = this.sourcesMemo.get(key);
    if (known) return known;
    const out = new Map<string, SourceVersion>();
    for (const e of this.entriesOf(targets)) {
      for (const r of e.rows) {
        const cur = out.get(r.source);
        if (!cur || compareVersions(r.sourceVersion, cur.version) > 0)
          out.set(r.source, { version: r.sourceVersion, snapshot: e.snapshot.id });
      }
    }
    if (this.sourcesMemo.size >= SOURCES_MEMO) this.sourcesMemo.delete(this.sourcesMemo.keys().next().value!);
    this.sourcesMemo.set(key, out);
    return out;
  }
}
