// The release ladder: stage generations per upstream suite. The first stage follows every new
// snapshot; later stages change only by promotion (all updates, some sources, or the security
// suites) or rollback; every change is a new generation with who, when and why.
import { fail } from '../errors.js';
import { compareVersions } from '../index/version.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import type { SourceSeenStore } from '../state/source-seen.js';
import type { GenerationKind, Override, StageGeneration, StageStore } from '../state/stages.js';
import type { Content, ContentResolver } from './content.js';
import { cooldownOf, type CooldownPolicy, type FixedCve, type FixesOf } from './cooldown.js';

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
  /** when the version was first seen upstream (the Date of the first signed Release that had it) */
  firstSeen: string;
  /** the cooldown's lane: normal ([gate] min_age), security suite or fast (a fixed CVE; min_age_security) */
  lane: 'normal' | 'security' | 'fast';
  /** why the fast lane (null: the normal lane) */
  fastLane: string | null;
  /** the CVEs it fixes by the imported advisories */
  fixes: FixedCve[];
  /** when it may enter the next stage */
  eligibleAt: string;
  /** still in its cooldown: a promotion leaves it (unless forced) */
  inCooldown: boolean;
}

/** No cooldown anywhere, no fast lane by advisories (tests and tools that build a StageService alone). */
export const NO_COOLDOWN: CooldownPolicy = { minAge: new Map(), minAgeSecurity: new Map(), fastLaneUrgency: null };

export interface ChangeBy {
  actor: string;
  reason?: string | undefined;
  forced?: boolean;
  evidence?: unknown;
}

/**
 * A security suite, whose updates take the cooldown's fast lane: by its suite name or Suite field
 * (bookworm-security, jammy-security), or Debian's own label. Not any Label that mentions
 * security: a third-party repository labelled "Vendor Security" would have put everything it
 * ships in the fast lane (issue 17's attack pass).
 */
export function isSecuritySnapshot(s: SnapshotRow): boolean {
  return (
    /-security$/.test(s.suite) || /-security$/.test(s.suiteField ?? '') || /^debian-security$/i.test(s.label ?? '')
  );
}

/**
 * How far before this server fetched a Release its Date may place a new version's first sighting:
 * a mirror's lag. Whoever signs upstream's Release chooses its Date: a fresh upload in a Release
 * dated just after a suite's last one (two months ago for a stable suite between point releases)
 * would otherwise look two months old and skip every cooldown.
 */
export const SEEN_SLACK_MS = 86_400_000;

/** When a version new in `snap` was first seen: its signed Date, but no earlier than the fetch allows. */
export const seenAt = (snap: SnapshotRow): number => Math.max(snap.date, snap.fetchedAt - SEEN_SLACK_MS);

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
    private readonly seen?: SourceSeenStore,
    private readonly policy: CooldownPolicy = NO_COOLDOWN,
    private readonly fixesOf: FixesOf = () => [],
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
          this.noteNew(snap, contentOf(cur));
          made.push(
            this.add(stage, snap.backend, snap.suite, { base: snap.id, overrides: [] }, 'follow', { actor: 'aptgate' }),
          );
        }
      });
    })();
    return made;
  }

  /** The versions of a new snapshot that the first stage did not have: first seen now (its Date, see seenAt). */
  private noteNew(snap: SnapshotRow, before: Content): void {
    if (!this.seen) return;
    const had = this.content.sources(before);
    const fresh: Array<[string, string]> = [];
    for (const [source, v] of this.content.sources({ base: snap.id, overrides: [] }))
      if (had.get(source)?.version !== v.version) fresh.push([source, v.version]);
    this.seen.note(snap.backend, snap.suite, { id: snap.id, date: seenAt(snap) }, fresh);
  }

  /** When a version was first seen upstream; one never noted counts from the snapshot it comes from. */
  private firstSeen(snap: SnapshotRow, source: string, version: string): number {
    const known = this.seen?.firstSeen(snap.backend, snap.suite, source, version);
    if (known !== undefined) return known;
    // noted now, so that later snapshots carrying it do not move its age on
    const at = seenAt(snap);
    this.seen?.note(snap.backend, snap.suite, { id: snap.id, date: at }, [[source, version]]);
    return at;
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
        const from = t?.version ?? null;
        const security = isSecuritySnapshot(snap);
        const firstSeen = this.firstSeen(snap, source, v.version);
        const fixes = this.fixesOf({ source, from, to: v.version, codename: snap.codename });
        const c = cooldownOf(this.policy, to, firstSeen, security, fixes);
        out.push({
          backend: g.backend,
          suite: g.suite,
          source,
          from,
          to: v.version,
          security,
          snapshot: v.snapshot,
          firstSeen: new Date(firstSeen).toISOString(),
          lane: c.lane,
          fastLane: c.fastLane,
          fixes,
          eligibleAt: new Date(c.eligibleAt).toISOString(),
          inCooldown: c.eligibleAt > this.now(),
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
  promote(
    stage: string,
    o: { only?: readonly string[]; securityOnly?: boolean; ignoreCooldown?: boolean },
    by: ChangeBy,
  ): StageGeneration[] {
    const to = this.next(stage);
    if (!to) fail('USAGE', `${stage} is the last stage`);
    const waiting = this.updates(stage);
    const asked = waiting.filter((u) => (!o.only || o.only.includes(u.source)) && (!o.securityOnly || u.security));
    if (o.only)
      for (const s of o.only) {
        const of = asked.filter((u) => u.source === s);
        if (!of.length) fail('USAGE', `${s}: no update of this source is waiting in ${stage}`);
        if (!o.ignoreCooldown && of.every((u) => u.inCooldown))
          fail(
            'USAGE',
            `${s} ${of[0]!.to}: in its cooldown for ${to} until ${of[0]!.eligibleAt} (first seen ${of[0]!.firstSeen}); a forced promotion with a reason moves it now`,
          );
      }
    const updates = o.ignoreCooldown ? asked : asked.filter((u) => !u.inCooldown);
    if (!updates.length) {
      const cooling = asked.filter((u) => u.inCooldown).sort((a, b) => a.eligibleAt.localeCompare(b.eligibleAt));
      fail(
        'USAGE',
        cooling.length
          ? `nothing to promote from ${stage}: ${cooling.length} update(s) in their cooldown, the first (${cooling[0]!.source} ${cooling[0]!.to}) until ${cooling[0]!.eligibleAt}`
          : `nothing to promote from ${stage}`,
      );
    }
    const overridden = updates.filter((u) => u.inCooldown).map((u) => `${u.source} ${u.to}`);
    const made: StageGeneration[] = [];
    this.store.db.transaction(() => {
      for (const g of this.store.currentAll(stage)) {
        const mine = updates.filter((u) => u.backend === g.backend && u.suite === g.suite);
        if (!mine.length) continue;
        const target = this.store.current(to, g.backend, g.suite);
        // the whole stage moves only when nothing of the suite stays behind (asked for or cooling)
        const all = waiting.filter((u) => u.backend === g.backend && u.suite === g.suite);
        const whole = !o.only && !o.securityOnly && mine.length === all.length;
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
              ...(overridden.length ? { cooldownOverridden: overridden } : {}),
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
