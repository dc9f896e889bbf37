// The release gate on a running server: stage generations made as snapshots arrive (the first
// stage follows), published as signed repositories, evaluated against the test machines'
// evidence, promoted (by hand or after a soak time), rolled back. Fleet data comes in through
// the GateFleet interface, so the gate does not depend on how the fleet stores it.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fail } from '../errors.js';
import { byHashRel, clearsignedText, parseRelease } from '../index/release.js';
import { compressionOf } from '../sys/decompress.js';
import type { JobRow } from '../state/jobs.js';
import type { SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import type { StageGeneration, StageStore } from '../state/stages.js';
import type { ContentResolver } from './content.js';
import { gateStatus, type GateStatus, type MachineEvidence } from './gate.js';
import type { ServerKey } from './key.js';
import { publishSuite, type PublishTarget } from './publish.js';
import type { StageViews } from './stage-views.js';
import { mtimeOf, PublishStamps, stampTree } from './stamp.js';
import type { ChangeBy, StageService, Update } from './stages.js';

export interface StageSourceEntry {
  uri: string;
  suites: string[];
  components: string[];
}

export interface GateFleet {
  testMachines(stage: string): Array<{ id: number; hostname: string }>;
  upgradeJobs(machine: number): JobRow[];
  /** last report: time, dpkg health, outdated entries against the machine's stage (held ones left out) */
  evidence(machine: number): MachineEvidence['report'];
}

export interface GateDeps {
  stages: StageService;
  store: StageStore;
  snapshots: SnapshotStore;
  content: ContentResolver;
  key: () => Promise<ServerKey>;
  /** stored cache objects: key → absolute path when present */
  cachedPath: (key: string) => Promise<string | undefined>;
  /** where the Release of a snapshot is kept */
  snapshotFile: (s: SnapshotRow) => string;
  publishDir: string;
  fleet: GateFleet;
  /** stages and the sides of their rollouts, by name (the /stage/<view>/ of the URLs) */
  views: StageViews;
  autoPromote: ReadonlyMap<string, number>;
  now: () => number;
  /** stops what the key started (gpg-agent) */
  closeKey: () => Promise<void>;
  /** whether any Packages of a snapshot is indexed (a stage can be made from it) */
  indexed: (snapshotId: number) => boolean;
}

/** How long a stage's first read waits for Packages being indexed before publishing without them. */
const INDEXING_WAIT_MS = 30_000;

const PACKAGES_NAMES = ['Packages.xz', 'Packages.gz', 'Packages', 'Packages.zst', 'Packages.lz4'];

export class GateService {
  private readonly pools = new Map<number, Set<string>>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly stamps = new PublishStamps();
  /** the server's key exported (its key never changes while it runs) */
  private readonly exportedKeys = new Map<string, Promise<{ fingerprint: string; data: Buffer }>>();
  private indexing: () => Promise<void> = () => Promise.resolve();

  constructor(private readonly d: GateDeps) {}

  /** Work on stage files runs one piece at a time (publishing reads and writes whole suites). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  idle(): Promise<unknown> {
    return this.chain;
  }

  async close(): Promise<void> {
    await this.chain;
    await this.d.closeKey();
  }

  genDir(id: number): string {
    return path.join(this.d.publishDir, String(id));
  }

  /**
   * A snapshot's Packages are indexed: stages take it as first content, the first stage
   * follows. Files are written when a stage is first read (a server whose gate nobody uses
   * spends nothing on it); generations using the snapshot are written again then, with the
   * Packages indexed since.
   */
  onSnapshotIndexed(snapshotId: number): Promise<StageGeneration[]> {
    return this.serial(async () => {
      const made = this.d.stages.follow(snapshotId);
      const uses = (g: StageGeneration) =>
        g.baseSnapshot === snapshotId || g.overrides.some((o) => o.snapshot === snapshotId);
      for (const g of this.d.stages.ladder.flatMap((s) => this.d.store.currentAll(s)))
        if (uses(g) && g.publishedSha256) this.d.store.setPublished(g.id, null);
      return made;
    });
  }

  /**
   * The first stage takes the newest indexed snapshot of every suite it has not taken yet: a
   * snapshot whose news was lost (a write that failed, a server stopped between indexing and
   * following) is never left behind. Run at start and on each tick; cheap when nothing is behind.
   */
  catchUp(): Promise<StageGeneration[]> {
    const first = this.d.stages.ladder[0];
    if (first === undefined) return Promise.resolve([]);
    const behind = this.d.snapshots
      .currentAll()
      .filter((snap) => (this.d.store.newestBaseDate(first, snap.backend, snap.suite) ?? -Infinity) < snap.date)
      .filter((snap) => this.d.indexed(snap.id))
      .sort((a, b) => a.date - b.date || a.id - b.id);
    // queued at once (they run one at a time, oldest first), so idle() covers them all
    return Promise.all(behind.map((snap) => this.onSnapshotIndexed(snap.id))).then((m) => m.flat());
  }

  /** What publishing waits for first (the proxy's indexer: Packages fetched but not in the index yet). */
  waitForIndexing(idle: () => Promise<void>): void {
    this.indexing = idle;
  }

  /** The generation's files, written now if they are not (yet, or any more). */
  private async ensurePublished(g: StageGeneration): Promise<void> {
    if (g.publishedSha256) return;
    // never longer than apt waits for an answer: then it is written with what is indexed
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.indexing(),
      new Promise<void>((r) => {
        timer = setTimeout(r, INDEXING_WAIT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    return this.serial(async () => {
      const fresh = this.d.store.byId(g.id);
      if (fresh && !fresh.publishedSha256) await this.publish(fresh);
    });
  }

  private async storedPackages(
    snap: SnapshotRow,
    component: string,
    architecture: string,
  ): Promise<{ file: string; compression: NonNullable<ReturnType<typeof compressionOf>> } | undefined> {
    const doc = await readFile(this.d.snapshotFile(snap));
    const release = parseRelease(snap.kind === 'inrelease' ? clearsignedText(doc) : doc);
    for (const name of PACKAGES_NAMES) {
      const rel = `${component}/binary-${architecture}/${name}`;
      const f = release.files.get(rel);
      if (!f) continue;
      const file = await this.d.cachedPath(`${snap.backend}/dists/${snap.suite}/${byHashRel(rel, f.sha256)}`);
      const compression = compressionOf(name);
      if (file && compression) return { file, compression };
    }
    return undefined;
  }

  /** Writes a generation's signed repository (InRelease, Packages) and the pool files it names. */
  async publish(g: StageGeneration): Promise<void> {
    const base = this.d.snapshots.byId(g.baseSnapshot);
    if (!base) fail('NOT_FOUND', `snapshot ${g.baseSnapshot} is gone`);
    const targets: PublishTarget[] = [];
    for (const t of this.d.content.targets({ base: g.baseSnapshot, overrides: g.overrides })) {
      const sources = [];
      for (const p of t.parts) {
        const stored = await this.storedPackages(p.snapshot, t.component, t.architecture);
        if (!stored)
          fail(
            'NOT_FOUND',
            `the Packages of ${p.snapshot.backend}/${p.snapshot.suite} ${t.component}/${t.architecture} are not in the cache`,
          );
        sources.push({ ...stored, keep: (x: { source: string }) => p.keep(x.source) });
      }
      targets.push({ component: t.component, architecture: t.architecture, sources });
    }
    const dir = this.genDir(g.id);
    const before = await mtimeOf(path.join(dir, 'dists', g.suite, 'InRelease'));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const out = await publishSuite({
      // never a Date ahead of this machine's clock: apt refuses a Release "not valid yet"
      dir,
      suite: g.suite,
      date: new Date(Math.min(g.createdAt, Date.now())),
      targets,
      key: await this.d.key(),
      fields: {
        ...(base.origin ? { origin: base.origin } : {}),
        ...(base.label ? { label: base.label } : {}),
        ...(base.suiteField ? { suite: base.suiteField } : {}),
        ...(base.codename ? { codename: base.codename } : {}),
        ...(base.version ? { version: base.version } : {}),
        description: `aptgate stage ${g.stage} of ${g.backend} ${g.suite}`,
        notAutomatic: base.notAutomatic,
        butAutomaticUpgrades: base.butAutomaticUpgrades,
      },
    });
    await stampTree(
      path.join(dir, 'dists'),
      this.stamps.next(`${g.stage}\0${g.backend}\0${g.suite}`, Date.now(), before),
    );
    await writeFile(path.join(dir, 'pool.json'), JSON.stringify([...out.filenames]));
    this.pools.set(g.id, out.filenames);
    this.d.store.setPublished(g.id, out.inReleaseSha256);
  }

  /** The published file of a stage view's suite, by its path under dists/<suite>/; undefined when none. */
  async indexFile(view: string, backend: string, suite: string, rel: string): Promise<string | undefined> {
    const g = this.d.views.generation(view, backend, suite);
    if (!g) return undefined;
    await this.ensurePublished(g);
    return path.join(this.genDir(g.id), 'dists', suite, rel);
  }

  /** Whether a pool file is named by the Packages of any suite the stage view publishes for the backend. */
  async allowsPool(view: string, backend: string, filename: string): Promise<boolean> {
    for (const g of this.d.views.all(view)) {
      if (g.backend !== backend) continue;
      await this.ensurePublished(g);
      let pool = this.pools.get(g.id);
      if (!pool) {
        pool = new Set(JSON.parse(await readFile(path.join(this.genDir(g.id), 'pool.json'), 'utf8')) as string[]);
        this.pools.set(g.id, pool);
      }
      if (pool.has(filename)) return true;
    }
    return false;
  }

  /**
   * The apt sources a machine reading a stage view gets (written by its agent, signed by the
   * server's key): every suite the view publishes, for a machine with a codename only that
   * release's suites (bookworm, bookworm-updates, bookworm-security, ...).
   */
  machineSources(view: string, codename: string, baseUrl: string): { entries: StageSourceEntry[]; hash: string } {
    const byBackend = new Map<string, { suites: string[]; components: Set<string> }>();
    for (const g of this.d.views.all(view)) {
      const snap = this.d.snapshots.byId(g.baseSnapshot);
      const names = [g.suite, snap?.codename ?? '', snap?.suiteField ?? ''];
      if (codename && !names.some((n) => n === codename || n.startsWith(`${codename}-`))) continue;
      const b = byBackend.get(g.backend) ?? { suites: [], components: new Set<string>() };
      b.suites.push(g.suite);
      for (const t of this.d.content.targets({ base: g.baseSnapshot, overrides: [] })) b.components.add(t.component);
      byBackend.set(g.backend, b);
    }
    const entries = [...byBackend].map(([backend, b]) => ({
      uri: `${baseUrl}/stage/${view}/${backend}`,
      suites: b.suites,
      components: [...b.components].sort(),
    }));
    return { entries, hash: createHash('sha256').update(JSON.stringify(entries)).digest('hex') };
  }

  /** Makes sure the server's signing key exists (created at first start). */
  async prepareKey(): Promise<string> {
    return (await this.d.key()).fingerprint;
  }

  async publicKey(): Promise<string> {
    return (await this.d.key()).exportArmored();
  }

  /**
   * The public key for clients' Signed-By: ASCII armor, or a binary keyring. Exported once per
   * key and form: GET /key is open to every client, and each export ran a gpg.
   */
  exportKey(binary: boolean): Promise<{ fingerprint: string; data: Buffer }> {
    const form = binary ? 'binary' : 'armor';
    let p = this.exportedKeys.get(form);
    if (!p) {
      p = (async () => {
        const key = await this.d.key();
        const data = binary ? await key.exportBinary() : Buffer.from(await key.exportArmored(), 'utf8');
        return { fingerprint: key.fingerprint, data };
      })();
      this.exportedKeys.set(form, p);
      p.catch(() => this.exportedKeys.delete(form));
    }
    return p;
  }

  status(stage: string): GateStatus & { updates: Update[] } {
    const next = this.d.stages.next(stage);
    const machines = this.d.fleet.testMachines(stage).map((m): MachineEvidence => ({
      ...m,
      upgrades: this.d.fleet.upgradeJobs(m.id),
      report: this.d.fleet.evidence(m.id),
    }));
    return {
      ...gateStatus(stage, next, this.d.store.currentAll(stage), machines),
      updates: this.d.stages.updates(stage),
    };
  }

  /** Promotion: refused while the gate is closed unless forced (with a reason, recorded). */
  promote(
    stage: string,
    o: { only?: string[]; securityOnly?: boolean; force?: boolean; reason?: string; actor: string },
  ): Promise<StageGeneration[]> {
    return this.serial(async () => {
      if (!this.d.stages.next(stage)) fail('USAGE', `${stage} is the last stage`);
      if (!this.d.stages.updates(stage).length) fail('USAGE', `nothing to promote from ${stage}`);
      const st = this.status(stage);
      if (!st.holds && !o.force)
        fail('GATE_CLOSED', `the gate of ${stage} does not hold: ${st.missing.join('; ')}`, { missing: st.missing });
      if (o.force && !o.reason?.trim()) fail('USAGE', 'a forced promotion needs --reason');
      const by: ChangeBy = {
        actor: o.actor,
        reason: o.reason,
        // forced: what it moves would not have moved (a closed gate, or updates in their cooldown)
        forced:
          o.force === true &&
          (!st.holds ||
            st.updates.some(
              (u) => u.inCooldown && (!o.only || o.only.includes(u.source)) && (!o.securityOnly || u.security),
            )),
        evidence: {
          holds: st.holds,
          machines: st.machines.map((m) => ({ id: m.id, hostname: m.hostname, ...m.standing })),
          missing: st.missing,
        },
      };
      return this.d.stages.promote(
        stage,
        {
          ...(o.only ? { only: o.only } : {}),
          ...(o.securityOnly ? { securityOnly: true } : {}),
          // a forced promotion (it has a reason) moves updates still in their cooldown too
          ...(o.force ? { ignoreCooldown: true } : {}),
        },
        by,
      );
    });
  }

  rollback(stage: string, actor: string, reason?: string): Promise<StageGeneration[]> {
    return this.serial(async () => {
      return this.d.stages.rollback(stage, { actor, reason });
    });
  }

  history(stage: string, page: { before?: number; limit?: number } = {}): StageGeneration[] {
    this.d.stages.check(stage);
    return this.d.store.history(stage, page);
  }

  /** The current generation of each suite of a stage. */
  current(stage: string): StageGeneration[] {
    this.d.stages.check(stage);
    return this.d.store.currentAll(stage);
  }

  /** Stages whose auto-promotion soak has passed with the gate holding: promoted. */
  async autoPromote(): Promise<StageGeneration[]> {
    const made: StageGeneration[] = [];
    const failed: Error[] = [];
    for (const [stage, soak] of this.d.autoPromote) {
      try {
        const st = this.status(stage);
        const ready = st.updates.some((u) => !u.inCooldown);
        if (!st.holds || !ready || st.publishedAt === null || this.d.now() - st.publishedAt < soak) continue;
        made.push(
          ...(await this.promote(stage, {
            actor: 'aptgate (auto-promotion)',
            reason: `gate held, soaked ${Math.round(soak / 60_000)} min`,
          })),
        );
      } catch (err) {
        failed.push(err as Error); // one stage's failure does not hold the others back
      }
    }
    if (failed.length && !made.length) throw failed[0]!;
    return made;
  }
}
