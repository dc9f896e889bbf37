// The release ladder: stage generations per upstream suite. The first stage follows every new
// snapshot; later stages change only by promotion (all updates, some sources, or the security
// suites) or rollback; every change is a new generation with who, when and why.
import { fail } from '../errors.js';
import { compareVersions } from '../index/version.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import type { GenerationKind, Override, StageGeneration, StageStore } from '../state/stages.js';
import type { Content, ContentResolver } from './content.js';

export interface Update {
  backend: string;
  suite: string;
  source: string;
  /** what the next stage has (null: not there) */
  from: string | null;
  to: string;
  /** from a security suite */
  security: boolean;
  snapshot: number;
}

export interface ChangeBy {
  actor: string;
  reason?: string | undefined;
  forced?: boolean;
  evidence?: unknown;
}

export function isSecuritySnapshot(s: SnapshotRow): boolean {
  return /security/i.test(s.label ?? '') || /-security$/.test(s.suite) || /-security$/.test(s.suiteField ?? '');
}

const contentOf = (g: StageGeneration): Content => ({ base: g.baseSnapshot, overrides: g.overrides });
const sameContent = (a: Content, b: Content) =>
  a.base === b.base && JSON.stringify(a.overrides) === JSON.stringify(b.overrides);

export class StageService {
  constructor(
    readonly ladder: readonly string[],
    readonly store: StageStore,
    private readonly snapshots: SnapshotStore,
    readonly content: ContentResolver,
    private readonly now: () => number,
  ) {}

  check(stage: string): void {
    if (!this.ladder.includes(stage))
      fail('NOT_FOUND', `no stage "${stage.slice(0, 40)}" (stages: ${this.ladder.join(', ')})`);
  }

  next(stage: string): string | undefined {
    this.check(stage);
    return this.ladder[this.ladder.indexOf(stage) + 1];
  }

  private add(
    stage: string,
    backend: string,
    suite: string,
    c: Content,
    kind: GenerationKind,
    by: ChangeBy,
  ): StageGeneration {
    return this.store.add({
      stage,
      backend,
      suite,
      baseSnapshot: c.base,
      overrides: [...c.overrides],
      kind,
      createdAt: this.now(),
      actor: by.actor,
      reason: by.reason ?? null,
      forced: by.forced === true,
      evidence: by.evidence ?? null,
    });
  }

  /**
   * A new snapshot of a suite whose indexes are in: every stage gets it as its first content
   * when it has none; the first stage follows it. Returns the generations made.
   */
  follow(snapshotId: number): StageGeneration[] {
    const snap = this.snapshots.byId(snapshotId);
    if (!snap) return [];
    // Moving forward is decided by the signed Date, never by arrival: a snapshot older than
    // the suite's newest (a replayed older Release) is no content for any stage, and the first
    // stage takes only a snapshot newer than any it ever had, so it neither goes back nor
    // undoes a `stage rollback` (only a rollback makes a stage older).
    const newest = this.snapshots.newest(snap.backend, snap.suite);
    if (newest && newest.date > snap.date) return [];
    const made: StageGeneration[] = [];
    this.store.db.transaction(() => {
      this.ladder.forEach((stage, i) => {
        const cur = this.store.current(stage, snap.backend, snap.suite);
        if (!cur)
          made.push(
            this.add(stage, snap.backend, snap.suite, { base: snap.id, overrides: [] }, 'initial', {
              actor: 'aptgate',
            }),
          );
        else if (
          i === 0 &&
          snap.date > (this.store.newestBaseDate(stage, snap.backend, snap.suite) ?? -Infinity) &&
          !sameContent(contentOf(cur), { base: snap.id, overrides: [] })
        ) {
          made.push(
            this.add(stage, snap.backend, snap.suite, { base: snap.id, overrides: [] }, 'follow', { actor: 'aptgate' }),
          );
        }
      });
    })();
    return made;
  }

  /** What `stage` has that the next stage does not yet: per suite, per source. */
  updates(stage: string): Update[] {
    const to = this.next(stage);
    if (!to) return [];
    const out: Update[] = [];
    for (const g of this.store.currentAll(stage)) {
      const target = this.store.current(to, g.backend, g.suite);
      const mine = this.content.sources(contentOf(g));
      const theirs = target ? this.content.sources(contentOf(target)) : new Map();
      for (const [source, v] of mine) {
        const t = theirs.get(source);
        if (t && compareVersions(v.version, t.version) <= 0) continue;
        const snap = this.snapshots.byId(v.snapshot)!;
        out.push({
          backend: g.backend,
          suite: g.suite,
          source,
          from: t?.version ?? null,
          to: v.version,
          security: isSecuritySnapshot(snap),
          snapshot: v.snapshot,
        });
      }
    }
    return out.sort(
      (a, b) =>
        a.backend.localeCompare(b.backend) || a.suite.localeCompare(b.suite) || a.source.localeCompare(b.source),
    );
  }

  /**
   * Moves updates from `stage` to the next one: all of them, only some sources, or only
   * those of security suites; the next stage's other content stays as it is.
   */
  promote(stage: string, o: { only?: readonly string[]; securityOnly?: boolean }, by: ChangeBy): StageGeneration[] {
    const to = this.next(stage);
    if (!to) fail('USAGE', `${stage} is the last stage`);
    const updates = this.updates(stage).filter(
      (u) => (!o.only || o.only.includes(u.source)) && (!o.securityOnly || u.security),
    );
    if (o.only)
      for (const s of o.only)
        if (!updates.some((u) => u.source === s))
          fail('USAGE', `${s}: no update of this source is waiting in ${stage}`);
    if (!updates.length) fail('USAGE', `nothing to promote from ${stage}`);
    const made: StageGeneration[] = [];
    this.store.db.transaction(() => {
      for (const g of this.store.currentAll(stage)) {
        const mine = updates.filter((u) => u.backend === g.backend && u.suite === g.suite);
        if (!mine.length) continue;
        const target = this.store.current(to, g.backend, g.suite);
        const whole = !o.only && !o.securityOnly;
        let c: Content;
        if (whole || !target) c = contentOf(g);
        else {
          const overrides = new Map<string, number>(target.overrides.map((x) => [x.source, x.snapshot]));
          for (const u of mine) {
            if (u.snapshot === target.baseSnapshot) overrides.delete(u.source);
            else overrides.set(u.source, u.snapshot);
          }
          c = {
            base: target.baseSnapshot,
            overrides: [...overrides].map(([source, snapshot]): Override => ({ source, snapshot })),
          };
        }
        made.push(
          this.add(to, g.backend, g.suite, c, 'promote', {
            ...by,
            evidence: {
              from: stage,
              updates: mine.map((u) => `${u.source} ${u.from ?? '-'} → ${u.to}`),
              gate: by.evidence ?? null,
            },
          }),
        );
      }
    })();
    return made;
  }

  /** Switches every suite of a stage back to its previous content (nothing is downgraded). */
  rollback(stage: string, by: ChangeBy): StageGeneration[] {
    this.check(stage);
    const made: StageGeneration[] = [];
    this.store.db.transaction(() => {
      for (const g of this.store.currentAll(stage)) {
        // a rollback stands for the generation it restored: rolling back again goes further back
        let anchor: StageGeneration | undefined = g;
        while (anchor?.kind === 'rollback') anchor = this.store.byId((anchor.evidence as { to: number }).to);
        const prev = anchor && this.store.before(anchor);
        if (!prev) continue;
        made.push(
          this.add(stage, g.backend, g.suite, contentOf(prev), 'rollback', { ...by, evidence: { to: prev.id } }),
        );
      }
    })();
    if (!made.length) fail('USAGE', `${stage} has no earlier content to return to`);
    return made;
  }
}
