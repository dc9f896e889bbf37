// The served snapshot of every suite: its signed root (InRelease, or Release +
// Release.gpg), verified with gpgv before it is ever served, revalidated upstream with
// conditional requests once its TTL passed (one check shared by all clients), and the
// file list that decides which index bytes may be served with it. A suite's signed Date only
// moves forward, whatever form of Release carries it: no root older than the suite's newest
// snapshot (of either kind, also one recorded before a restart) is recorded or served.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { BackendConfig, Config } from '../config.js';
import { AptgateError, isAptgateError } from '../errors.js';
import { clearsignedText, parseRelease, type Release, type ReleaseFile } from '../index/release.js';
import type { Logger } from '../log.js';
import type { RootKind, SnapshotRow, SnapshotStore } from '../state/snapshots.js';
import { verifyClearsigned, verifyDetached } from '../sys/gpgv.js';
import type { ProxyMetrics } from './metrics.js';
import type { CacheStore } from './store.js';
import { header, Upstream } from './upstream.js';

/** A snapshot as the proxy serves it for a suite: its row, its verified signed root, its Last-Modified. */
export interface ServedSnapshot {
  snapshot: SnapshotRow;
  kind: RootKind;
  /** InRelease, or Release */
  doc: Buffer;
  /** Release.gpg, with kind 'release' */
  sig: Buffer | undefined;
  release: Release;
  /** what clients get as Last-Modified */
  lastModified: Date;
}

interface SuiteState {
  served: ServedSnapshot | undefined;
  loaded: boolean;
  checkedAt: number;
  /** upstream answered 404 for this root at checkedAt */
  missing: boolean;
  /** the last check could not reach a good upstream answer; the previous snapshot stays served */
  stale: boolean;
  inflight: Promise<void> | undefined;
}

export interface SuitesDeps {
  config: Config;
  store: CacheStore;
  upstream: Upstream;
  snapshots: SnapshotStore;
  metrics: ProxyMetrics;
  log: Logger;
  onSnapshot?: (served: ServedSnapshot) => void;
}

const MAX_ROOT_BYTES = 32 * 1024 * 1024;
const AFFINITY_MS = 60 * 60_000;
const RECENT_PER_SUITE = 4;
/**
 * How far a root's Date may be ahead of our clock. apt refuses a Release dated in the future
 * ("not valid yet"; Acquire::Max-FutureTime, 10 s), and one recorded here would, by the
 * monotonic Date rule, shut out every correctly dated publish until its Date: the margin covers
 * clock skew and bounds that wait.
 */
const MAX_FUTURE_MS = 10 * 60_000;

export class Suites {
  private readonly states = new Map<string, SuiteState>();
  private readonly recent = new Map<number, ServedSnapshot>();
  private readonly affinity = new Map<string, { snapshotId: number; at: number }>();
  /** backend\0suite → Date (ms) of its newest snapshot of either kind */
  private readonly newestDates = new Map<string, number>();

  constructor(private readonly deps: SuitesDeps) {}

  private state(backend: string, suite: string, kind: RootKind): SuiteState {
    const k = `${backend}\0${suite}\0${kind}`;
    let s = this.states.get(k);
    if (!s) {
      s = { served: undefined, loaded: false, checkedAt: 0, missing: false, stale: false, inflight: undefined };
      this.states.set(k, s);
    }
    return s;
  }

  /**
   * The served snapshot of a root. With `revalidate`, an expired TTL triggers one shared
   * conditional check upstream first; `force` checks regardless of the TTL.
   * Undefined when upstream does not publish this root, or (InRelease) when it is older than a
   * Release of the suite; a Release older than the suite's newest snapshot throws ROLLBACK.
   */
  async root(
    backend: BackendConfig,
    suite: string,
    kind: RootKind,
    opts: { revalidate: boolean; force?: boolean },
  ): Promise<ServedSnapshot | undefined> {
    const r = await this.check(backend, suite, kind, opts);
    if (r.behind && kind === 'release') this.refuseBehind(r.behind);
    return r.behind ? undefined : r.served;
  }

  /** root() with revalidation, saying how the answer was obtained (for the access log). */
  async rootWithOutcome(
    backend: BackendConfig,
    suite: string,
    kind: RootKind,
  ): Promise<{ served: ServedSnapshot | undefined; outcome: 'hit' | 'miss' | 'revalidated' | 'coalesced' | 'stale' }> {
    const r = await this.check(backend, suite, kind, { revalidate: true });
    if (r.behind) this.refuseBehind(r.behind);
    return r;
  }

  /**
   * A root older than the suite's newest snapshot is never served: it would take clients
   * back. An InRelease is "not found" then (apt goes on to the newer Release form); a Release
   * is refused, and apt keeps the lists it has.
   */
  private refuseBehind(served: ServedSnapshot): never {
    const { backend, suite } = served.snapshot;
    const newest = new Date(this.newestDate(backend, suite)).toUTCString();
    if (served.kind === 'inrelease') {
      throw new AptgateError(
        'UPSTREAM_NOT_FOUND',
        `${backend}: dists/${suite}/InRelease (Date ${served.release.date.toUTCString()}) is older than the suite's newest snapshot (${newest}): use its Release`,
        { snapshot: served.snapshot.id },
      );
    }
    throw new AptgateError(
      'ROLLBACK',
      `${backend}: dists/${suite}/Release (Date ${served.release.date.toUTCString()}) is older than the suite's newest snapshot (${newest}): refused as a rollback`,
      { snapshot: served.snapshot.id },
    );
  }

  private async check(
    backend: BackendConfig,
    suite: string,
    kind: RootKind,
    opts: { revalidate: boolean; force?: boolean },
  ) {
    const s = this.state(backend.name, suite, kind);
    if (!s.loaded) await this.load(backend, suite, kind, s);
    const before = s.served;
    const expired = Date.now() - s.checkedAt >= this.deps.config.proxy.releaseTtlMs;
    let outcome: 'hit' | 'miss' | 'revalidated' | 'coalesced' | 'stale' = 'hit';
    if ((opts.revalidate && (expired || opts.force)) || (!s.served && !s.missing) || (s.missing && expired)) {
      const joined = s.inflight !== undefined;
      s.inflight ??= this.revalidate(backend, suite, kind, s).finally(() => {
        s.inflight = undefined;
      });
      await s.inflight;
      outcome = joined ? 'coalesced' : s.served !== before ? 'miss' : s.stale ? 'stale' : 'revalidated';
    }
    const served = s.missing ? undefined : s.served;
    const behind = served && this.isBehind(served) ? served : undefined;
    return { served, outcome, behind };
  }

  /** The Date of the suite's newest snapshot of either kind (from the database after a restart). */
  private newestDate(backend: string, suite: string): number {
    const k = `${backend}\0${suite}`;
    let d = this.newestDates.get(k);
    if (d === undefined) {
      d = this.deps.snapshots.newest(backend, suite)?.date ?? 0;
      this.newestDates.set(k, d);
    }
    return d;
  }

  private isBehind(served: ServedSnapshot): boolean {
    return served.release.date.getTime() < this.newestDate(served.snapshot.backend, served.snapshot.suite);
  }

  /** The served snapshot whose file list decides an index request: the one this client last got. */
  async forIndex(backend: BackendConfig, suite: string, client: string): Promise<ServedSnapshot | undefined> {
    const a = this.affinity.get(`${client}\0${backend.name}\0${suite}`);
    if (a && Date.now() - a.at < AFFINITY_MS) {
      const g = this.recent.get(a.snapshotId);
      if (g) return g;
    }
    const inRelease = await this.root(backend, suite, 'inrelease', { revalidate: false });
    if (inRelease) return inRelease;
    try {
      return await this.root(backend, suite, 'release', { revalidate: false });
    } catch (err) {
      // upstream offers only an older Release now: the newest verified snapshot still names
      // the right index bytes
      const held = isAptgateError(err, 'ROLLBACK') ? this.newestHeld(backend.name, suite) : undefined;
      if (held) return held;
      throw err;
    }
  }

  /** The newest served snapshot of a suite in memory, of either kind, even one upstream no longer offers. */
  private newestHeld(backend: string, suite: string): ServedSnapshot | undefined {
    const held = (['inrelease', 'release'] as const)
      .map((k) => this.states.get(`${backend}\0${suite}\0${k}`)?.served)
      .filter((g): g is ServedSnapshot => g !== undefined && !this.isBehind(g));
    return held.sort((x, y) => y.release.date.getTime() - x.release.date.getTime())[0];
  }

  /** The detached-signature snapshot this client just got Release from, so Release.gpg matches it. */
  releaseFor(backend: string, suite: string, client: string): ServedSnapshot | undefined {
    const a = this.affinity.get(`${client}\0${backend}\0${suite}`);
    const g = a && Date.now() - a.at < AFFINITY_MS ? this.recent.get(a.snapshotId) : undefined;
    return g?.kind === 'release' ? g : undefined;
  }

  /** Remembers which snapshot a client holds, so its index requests match it. */
  remember(client: string, served: ServedSnapshot): void {
    if (this.affinity.size > 50_000) {
      const old = Date.now() - AFFINITY_MS;
      for (const [k, v] of this.affinity) if (v.at < old) this.affinity.delete(k);
    }
    this.affinity.set(`${client}\0${served.snapshot.backend}\0${served.snapshot.suite}`, {
      snapshotId: served.snapshot.id,
      at: Date.now(),
    });
  }

  /** A file with this SHA256 in the current or a recent snapshot of the suite. */
  findByHash(
    backend: string,
    suite: string,
    sha256: string,
  ): { file: ReleaseFile; served: ServedSnapshot } | undefined {
    const recent = [...this.recent.values()]
      .filter((g) => g.snapshot.backend === backend && g.snapshot.suite === suite)
      .reverse();
    for (const g of recent) {
      const f = g.release.byHash.get(sha256);
      if (f) return { file: f[0]!, served: g };
    }
    return undefined;
  }

  /** The served snapshots loaded in memory (for the refresher and housekeeping). */
  current(): ServedSnapshot[] {
    return [...this.states.values()].map((s) => s.served).filter((g): g is ServedSnapshot => g !== undefined);
  }

  private keep(served: ServedSnapshot): void {
    this.recent.set(served.snapshot.id, served);
    const same = [...this.recent.values()].filter(
      (g) => g.snapshot.backend === served.snapshot.backend && g.snapshot.suite === served.snapshot.suite,
    );
    for (const g of same.slice(0, Math.max(0, same.length - RECENT_PER_SUITE))) this.recent.delete(g.snapshot.id);
  }

  private async load(backend: BackendConfig, suite: string, kind: RootKind, s: SuiteState): Promise<void> {
    s.loaded = true;
    const row = this.deps.snapshots.latest(backend.name, suite, kind);
    if (!row) return;
    try {
      const doc = await readFile(this.deps.store.snapshotFile(backend.name, suite, row.sha256));
      if (createHash('sha256').update(doc).digest('hex') !== row.sha256)
        throw new AptgateError('INTEGRITY', 'stored root does not match its hash');
      const sig =
        kind === 'release'
          ? await readFile(this.deps.store.snapshotFile(backend.name, suite, row.sha256, '.gpg'))
          : undefined;
      const text = kind === 'inrelease' ? clearsignedText(doc) : doc;
      const served = this.toServed(row, kind, doc, sig, parseRelease(text));
      s.served = served;
      this.keep(served);
    } catch (err) {
      this.deps.log.warn(
        { backend: backend.name, suite, err: (err as Error).message },
        'stored snapshot unusable; fetching a new one',
      );
    }
  }

  private toServed(
    row: SnapshotRow,
    kind: RootKind,
    doc: Buffer,
    sig: Buffer | undefined,
    release: Release,
  ): ServedSnapshot {
    const lm = row.upstreamLastModified ? new Date(row.upstreamLastModified) : undefined;
    return {
      snapshot: row,
      kind,
      doc,
      sig,
      release,
      lastModified: lm && !Number.isNaN(lm.getTime()) ? lm : release.date,
    };
  }

  private async revalidate(backend: BackendConfig, suite: string, kind: RootKind, s: SuiteState): Promise<void> {
    const { upstream, log, metrics } = this.deps;
    const name = kind === 'inrelease' ? 'InRelease' : 'Release';
    s.stale = false;
    const headers: Record<string, string> = {};
    if (s.served?.snapshot.upstreamLastModified) headers['if-modified-since'] = s.served.snapshot.upstreamLastModified;
    if (s.served?.snapshot.upstreamEtag) headers['if-none-match'] = s.served.snapshot.upstreamEtag;
    let res;
    try {
      res = await upstream.get(backend, `dists/${suite}/${name}`, { headers });
    } catch (err) {
      if (!s.served) throw err;
      s.checkedAt = Date.now();
      s.stale = true;
      log.warn(
        { backend: backend.name, suite, err: (err as Error).message },
        'upstream unreachable: serving the last good snapshot',
      );
      this.warnExpired(s.served);
      return;
    }
    const mirror = res.mirror;
    if (res.status === 304 && s.served) {
      res.body.destroy();
      s.checkedAt = Date.now();
      s.missing = false;
      return;
    }
    if (res.status === 404 || res.status === 410) {
      res.body.destroy();
      s.checkedAt = Date.now();
      s.missing = true;
      return;
    }
    if (res.status !== 200) {
      res.body.destroy();
      return this.keepOrThrow(
        s,
        backend,
        suite,
        new AptgateError('UPSTREAM_FAILED', `${mirror} answered ${res.status} for ${name}`, { status: res.status }),
      );
    }
    try {
      const doc = await Upstream.readAll(res, MAX_ROOT_BYTES);
      const sha256 = createHash('sha256').update(doc).digest('hex');
      const lastModified = header(res.headers, 'last-modified') ?? null;
      const etag = header(res.headers, 'etag') ?? null;
      if (s.served && sha256 === s.served.snapshot.sha256) {
        this.deps.snapshots.setValidators(s.served.snapshot.id, lastModified, etag);
        s.served.snapshot.upstreamLastModified = lastModified;
        s.served.snapshot.upstreamEtag = etag;
        s.checkedAt = Date.now();
        s.missing = false;
        return;
      }
      let sig: Buffer | undefined;
      let text: Buffer;
      if (kind === 'inrelease') {
        text = (await verifyClearsigned(backend.keyrings, doc, `${backend.name} ${suite} InRelease`)).text;
      } else {
        const sigRes = await upstream.get(backend, `dists/${suite}/Release.gpg`, { mirror });
        if (sigRes.status !== 200) {
          sigRes.body.destroy();
          throw new AptgateError('SIGNATURE', `${mirror} has Release but no Release.gpg (${sigRes.status})`);
        }
        sig = await Upstream.readAll(sigRes, 1024 * 1024);
        text = (await verifyDetached(backend.keyrings, doc, sig, `${backend.name} ${suite} Release`)).text;
      }
      const release = parseRelease(text);
      if (release.date.getTime() > Date.now() + MAX_FUTURE_MS) {
        // never recorded (apt refuses it); the previous snapshot stays, a later publish is taken
        log.warn(
          { backend: backend.name, suite, kind, mirror, upstreamDate: release.date },
          'signed root dated in the future (not valid yet): keeping the previous snapshot',
        );
        s.checkedAt = Date.now();
        if (!s.served)
          throw new AptgateError(
            'RELEASE_INVALID',
            `${mirror}: dists/${suite}/${name} is dated ${release.date.toUTCString()}, in the future: not valid yet (apt refuses it)`,
            { notValidYet: true },
          );
        s.stale = true;
        return;
      }
      const newest = this.newestDate(backend.name, suite);
      if (release.date.getTime() < newest) {
        // an older signed root (a lagging mirror, or one replaying old metadata): never recorded,
        // whichever form it comes in; the newer snapshot stays
        log.warn(
          { backend: backend.name, suite, kind, mirror, upstreamDate: release.date, newest: new Date(newest) },
          'mirror is behind: keeping the newer snapshot',
        );
        s.checkedAt = Date.now();
        if (!s.served && kind === 'inrelease') {
          // a Release of the suite is newer: clients are sent on to it, as if there were no InRelease
          s.missing = true;
          return;
        }
        if (!s.served)
          throw new AptgateError(
            'ROLLBACK',
            `${mirror}: dists/${suite}/${name} (Date ${release.date.toUTCString()}) is older than the suite's newest snapshot (${new Date(newest).toUTCString()}): refused as a rollback`,
          );
        s.stale = true;
        return;
      }
      await this.deps.store.writeRoot(backend.name, suite, sha256, doc, sig);
      const row = this.deps.snapshots.record({
        backend: backend.name,
        suite,
        kind,
        sha256,
        date: release.date.getTime(),
        validUntil: release.validUntil?.getTime() ?? null,
        origin: release.origin ?? null,
        label: release.label ?? null,
        suiteField: release.suite ?? null,
        codename: release.codename ?? null,
        version: release.version ?? null,
        notAutomatic: release.notAutomatic,
        butAutomaticUpgrades: release.butAutomaticUpgrades,
        fetchedAt: Date.now(),
        mirror,
        upstreamLastModified: lastModified,
        upstreamEtag: etag,
      });
      const served = this.toServed(row, kind, doc, sig, release);
      // apt asks with If-Modified-Since at one-second precision: a new snapshot published
      // within the same second as the one a client holds must not look unmodified to it
      const prevSecond = s.served ? Math.floor(s.served.lastModified.getTime() / 1000) : undefined;
      if (prevSecond !== undefined && Math.floor(served.lastModified.getTime() / 1000) <= prevSecond)
        served.lastModified = new Date((prevSecond + 1) * 1000);
      s.served = served;
      s.checkedAt = Date.now();
      s.missing = false;
      this.keep(served);
      this.newestDates.set(`${backend.name}\0${suite}`, release.date.getTime());
      // the other form of the suite is behind now: check it at its next request
      const other = this.states.get(`${backend.name}\0${suite}\0${kind === 'inrelease' ? 'release' : 'inrelease'}`);
      if (other) other.checkedAt = 0;
      metrics.snapshots.inc({ backend: backend.name });
      log.info({ backend: backend.name, suite, kind, snapshot: row.id, date: release.date, mirror }, 'new snapshot');
      this.deps.onSnapshot?.(served);
    } catch (err) {
      // (a root dated in the future is the archive's clock, not this mirror's fault)
      if (
        isAptgateError(err, 'SIGNATURE') ||
        (isAptgateError(err, 'RELEASE_INVALID') && !err.details?.['notValidYet'])
      ) {
        metrics.signatureFailures.inc({ backend: backend.name });
        upstream.markBad(backend, mirror, err.message, err.code);
        log.error(
          { backend: backend.name, suite, mirror, code: err.code, err: err.message },
          'refused an unverifiable root: keeping the previous snapshot',
        );
      }
      this.keepOrThrow(s, backend, suite, err);
    }
  }

  private keepOrThrow(s: SuiteState, backend: BackendConfig, suite: string, err: unknown): void {
    if (!s.served) throw err;
    s.checkedAt = Date.now();
    s.stale = true;
    this.deps.log.warn({ backend: backend.name, suite, err: (err as Error).message }, 'serving the last good snapshot');
    this.warnExpired(s.served);
  }

  /** apt refuses an expired Release: say so loudly when that is all we can serve. */
  private warnExpired(served: ServedSnapshot): void {
    const until = served.release.validUntil;
    if (until && until.getTime() < Date.now()) {
      this.deps.log.error(
        { backend: served.snapshot.backend, suite: served.snapshot.suite, validUntil: until },
        'the last good snapshot is expired: clients will refuse it until upstream is reachable',
      );
    }
  }
}
