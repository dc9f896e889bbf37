// The proxy's decisions for one request: which served snapshot, which cache object, which
// upstream paths and which expected size and hash, then hit, join a fill, or start one. It
// returns what to serve (answer.ts) and writes nothing to the client: the edge serves it.
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { BackendConfig, Config } from '../config.js';
import { AptgateError } from '../errors.js';
import { byHashRel, packagesTarget, type ReleaseFile } from '../index/release.js';
import type { Logger } from '../log.js';
import type { PackageIndexStore } from '../state/package-index.js';
import type { SnapshotStore } from '../state/snapshots.js';
import type { UsageStore } from '../state/usage.js';
import { compressionOf } from '../sys/decompress.js';
import { FillReader, FillRegistry, type Expect, type FillSpec } from './fill.js';
import type { IndexJob } from './index-job.js';
import type { Indexer } from './indexer.js';
import type { ProxyMetrics } from './metrics.js';
import { classify, contentType } from './paths.js';
import type { Answer, Outcome, RepresentationAnswer, Source } from './answer.js';
import { notModified } from './conditional.js';
import type { MemEntry, MemoryCache } from './memcache.js';
import type { CacheStore } from './store.js';
import type { ServedSnapshot, Suites } from './suites.js';
import type { Target } from './target.js';
import { header, type Upstream } from './upstream.js';

export interface ServiceDeps {
  config: Config;
  store: CacheStore;
  upstream: Upstream;
  suites: Suites;
  fills: FillRegistry;
  indexer: Indexer;
  packageIndex: PackageIndexStore;
  snapshots: SnapshotStore;
  usage: UsageStore;
  metrics: ProxyMetrics;
  memory: MemoryCache;
  log: Logger;
  /** fetches and ingests the indexes that could name a pool file (when none does yet) */
  learnPoolFile?: (backend: BackendConfig, path: string) => Promise<void>;
}

const HIT_HEADERS = { 'X-Aptgate-Result': 'hit' };

/** How long a pool request waits for an index being fetched or parsed, to learn the file's hash. */
const INDEX_WAIT_MS = 20_000;
/** A file kept in memory is checked against the disk at most this often (evicted or replaced by `cache verify`). */
const MEMORY_RECHECK_MS = 1000;

export class ProxyService {
  private readonly uses = new Map<string, number>();
  private readonly trackedSeen = new Set<string>();

  constructor(private readonly deps: ServiceDeps) {}

  /** What to answer `req` for `target` with (its headers decide conditions and ranges; nothing is written to it). */
  async handle(req: IncomingMessage, target: Target, client: string): Promise<Answer> {
    const cls = classify(target.path);
    switch (cls.kind) {
      case 'root':
        return this.serveRoot(target.backend, cls.suite, cls.file, client);
      case 'index':
        return this.serveIndex(req, target, cls.suite, cls.rel, client);
      case 'byhash':
        return this.serveByHash(req, target, cls.suite, cls.algo, cls.hex);
      case 'immutable':
        return this.serveImmutable(req, target);
      case 'other':
        return this.passThrough(req, target);
    }
  }

  // ---- signed roots -------------------------------------------------------------------

  private async serveRoot(
    backend: BackendConfig,
    suite: string,
    file: 'InRelease' | 'Release' | 'Release.gpg',
    client: string,
  ): Promise<Answer> {
    const kind = file === 'InRelease' ? 'inrelease' : 'release';
    // Release.gpg must come from the served snapshot whose Release this client just got
    const paired = file === 'Release.gpg' ? this.deps.suites.releaseFor(backend.name, suite, client) : undefined;
    const { served, outcome } = paired
      ? { served: paired, outcome: 'hit' as const }
      : await this.deps.suites.rootWithOutcome(backend, suite, kind);
    if (!served)
      throw new AptgateError('UPSTREAM_NOT_FOUND', `${backend.name}: dists/${suite}/${file} does not exist upstream`);
    const body = file === 'Release.gpg' ? served.sig! : served.doc;
    this.deps.suites.remember(client, served);
    return {
      kind: 'representation',
      outcome,
      headers: { 'X-Aptgate-Snapshot': String(served.snapshot.id) },
      size: body.length,
      lastModified: served.lastModified,
      contentType: contentType(file),
      source: { kind: 'memory', body },
    };
  }

  // ---- indexes at their canonical names: the bytes the client's snapshot names ----------

  private async serveIndex(
    req: IncomingMessage,
    target: Target,
    suite: string,
    rel: string,
    client: string,
  ): Promise<Answer> {
    const served = await this.deps.suites.forIndex(target.backend, suite, client);
    const file = served?.release.files.get(rel);
    if (!served || !file)
      throw new AptgateError(
        'NOT_IN_RELEASE',
        `${target.backend.name}: dists/${suite}/${rel} is not named by the suite's Release`,
      );
    const byHashPath = `dists/${suite}/${byHashRel(rel, file.sha256)}`;
    const canonical = `dists/${suite}/${rel}`;
    const spec: FillSpec = {
      backend: target.backend,
      key: `${target.backend.name}/${byHashPath}`,
      sources: served.release.acquireByHash ? [byHashPath, canonical] : [canonical],
      expect: { size: file.size, sha256: file.sha256 },
      contentType: contentType(rel),
      onStored: (info) => {
        void this.indexStored(served, rel, file, info.key);
      },
    };
    const answer = await this.serveObject(spec, packagesTarget(rel) !== undefined);
    this.noteIndex(served, rel, file, spec.key, storedHit(req, answer));
    return answer;
  }

  private async serveByHash(
    req: IncomingMessage,
    target: Target,
    suite: string,
    algo: 'md5' | 'sha1' | 'sha256' | 'sha512',
    hex: string,
  ): Promise<Answer> {
    // apt asks by the strongest hash a Release lists (SHA256 in every archive it talks to): an
    // object named by a weaker one is served as upstream sends it and never kept (a colliding
    // pair would otherwise store attacker bytes under a name)
    if (algo === 'md5' || algo === 'sha1') return this.passThrough(req, target, 'pass-unverified');
    const backend = target.backend;
    let found = algo === 'sha256' ? this.deps.suites.findByHash(backend.name, suite, hex) : undefined;
    if (!found && algo === 'sha256') {
      // after a restart the suite may not be loaded yet: load it, without revalidating
      await this.deps.suites.forIndex(backend, suite, '').catch(() => undefined);
      found = this.deps.suites.findByHash(backend.name, suite, hex);
    }
    const expect: Expect =
      algo === 'sha256' ? { sha256: hex, ...(found ? { size: found.file.size } : {}) } : { other: { algo, hex } };
    const sources = [target.path];
    if (found && !found.served.release.acquireByHash) sources.unshift(`dists/${suite}/${found.file.path}`);
    else if (found) sources.push(`dists/${suite}/${found.file.path}`);
    const spec: FillSpec = {
      backend,
      key: target.key,
      sources,
      expect,
      contentType: found ? contentType(found.file.path) : 'application/octet-stream',
      onStored: (info) => {
        if (found) void this.indexStored(found.served, found.file.path, found.file, info.key);
      },
    };
    const answer = await this.serveObject(spec, found !== undefined && packagesTarget(found.file.path) !== undefined);
    if (found) this.noteIndex(found.served, found.file.path, found.file, spec.key, storedHit(req, answer));
    return answer;
  }

  /**
   * Tracks Packages targets clients use, and indexes stored ones not yet linked (`hit`: served from the cache, not as a
   * 304).
   */
  private noteIndex(served: ServedSnapshot, rel: string, file: ReleaseFile, key: string, hit: boolean): void {
    const t = packagesTarget(rel);
    if (!t) return;
    const { backend, suite } = served.snapshot;
    const tk = `${backend}\0${suite}\0${t.component}\0${t.architecture}`;
    if (!this.trackedSeen.has(tk)) {
      this.trackedSeen.add(tk);
      this.deps.snapshots.track(backend, suite, t.component, t.architecture);
    }
    if (hit) void this.indexStored(served, rel, file, key);
  }

  /** Queues a stored Packages file for the package index (cheap when already known). */
  indexStored(served: ServedSnapshot, rel: string, file: ReleaseFile, key: string): Promise<unknown> {
    const t = packagesTarget(rel);
    if (!t || t.compression === 'other') return Promise.resolve();
    const plainRel = rel.replace(/\.(xz|gz)$/, '');
    const job: IndexJob = {
      backend: served.snapshot.backend,
      file: this.deps.store.pathOf(key),
      compression: compressionOf(rel) ?? 'none',
      fileSha256: file.sha256,
      plainSha256: served.release.files.get(plainRel)?.sha256,
      link: { snapshotId: served.snapshot.id, component: t.component, architecture: t.architecture },
    };
    if (this.deps.indexer.isLinked(job)) return Promise.resolve();
    return this.deps.indexer.ensure(job);
  }

  // ---- pool files ---------------------------------------------------------------------

  private async serveImmutable(req: IncomingMessage, target: Target): Promise<Answer> {
    const type = contentType(target.path);
    const hit = await this.tryHit(target.key, type);
    if (hit) return hit;
    const running = this.deps.fills.get(target.key);
    if (running) return this.serveObject(running.spec);
    const expect = await this.expectedPoolFile(target.backend, target.path);
    // no signed index vouches for these bytes: the client gets them as upstream sends them
    // (apt checks them against its own lists), the cache never keeps them
    if (!expect) return this.passThrough(req, target, 'pass-unverified');
    return this.serveObject({
      backend: target.backend,
      key: target.key,
      sources: [target.path],
      expect,
      contentType: type,
    });
  }

  /**
   * Size and SHA256 of a pool file from the parsed indexes: waiting for an index being
   * parsed, else fetching and ingesting the backend's indexes that could name it. Undefined
   * when no signed index names it (within INDEX_WAIT_MS).
   */
  async expectedPoolFile(backend: BackendConfig, path: string): Promise<Expect | undefined> {
    if (!path.startsWith('pool/') && !/\.(u|d)?deb$/.test(path)) return undefined;
    const lookup = () => this.deps.packageIndex.lookupFile(backend.name, path);
    const deadline = Date.now() + INDEX_WAIT_MS;
    const within = (p: Promise<unknown>) =>
      Promise.race([
        p.catch(() => undefined),
        new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
      ]);
    let known = lookup();
    if (!known && this.deps.indexer.busy) {
      await within(this.deps.indexer.idle());
      known = lookup();
    }
    if (!known && this.deps.learnPoolFile) {
      await within(this.deps.learnPoolFile(backend, path));
      known = lookup();
    }
    return known ? { size: known.size, sha256: known.sha256 } : undefined;
  }

  // ---- the shared object path ---------------------------------------------------------

  private async tryHit(key: string, type: string): Promise<RepresentationAnswer | undefined> {
    if (this.deps.fills.get(key)) return undefined;
    const mem = this.deps.memory.get(key);
    if (mem && (await this.stillOnDisk(key, mem)))
      return this.hit(key, type, mem.body.length, mem.lastModified, { kind: 'memory', body: mem.body });
    let fh: FileHandle;
    try {
      fh = await open(this.deps.store.pathOf(key), 'r');
    } catch {
      return undefined;
    }
    let closeNow = true;
    try {
      const st = await fh.stat();
      if (!st.isFile()) return undefined;
      const lastModified = new Date(st.mtimeMs);
      if (this.deps.memory.fits(st.size)) {
        // small: read once, then served from memory
        const body = await fh.readFile();
        if (body.length !== st.size) return undefined;
        this.deps.memory.set(key, { body, lastModified, ino: st.ino, mtimeMs: st.mtimeMs, checkedAt: Date.now() });
        return this.hit(key, type, st.size, lastModified, { kind: 'memory', body });
      }
      // the file stays open until the response is over
      closeNow = false;
      return this.hit(key, type, st.size, lastModified, { kind: 'file', fh }, () => {
        fh.close().catch(() => undefined);
      });
    } finally {
      if (closeNow) await fh.close().catch(() => undefined);
    }
  }

  /** A memory copy is served only while its file is still the one it was read from. */
  private async stillOnDisk(key: string, mem: MemEntry): Promise<boolean> {
    const now = Date.now();
    if (now - mem.checkedAt < MEMORY_RECHECK_MS) return true;
    const st = await stat(this.deps.store.pathOf(key)).catch(() => undefined);
    if (st?.isFile() && st.ino === mem.ino && st.mtimeMs === mem.mtimeMs && st.size === mem.body.length) {
      mem.checkedAt = now;
      return true;
    }
    this.deps.memory.delete(key);
    return false;
  }

  private hit(
    key: string,
    type: string,
    size: number,
    lastModified: Date,
    source: Source,
    close?: () => void,
  ): RepresentationAnswer {
    this.uses.set(key, Date.now());
    const metrics = this.deps.metrics;
    return {
      kind: 'representation',
      outcome: 'hit',
      headers: HIT_HEADERS,
      size,
      lastModified,
      contentType: type,
      source,
      done: (sent) => {
        metrics.bytesFromCache.inc({}, sent);
        close?.();
      },
    };
  }

  /** An object from the cache, from a fill in progress, or from a new fill. */
  async serveObject(spec: FillSpec, feedsIndex = false): Promise<RepresentationAnswer> {
    const hit = await this.tryHit(spec.key, spec.contentType);
    if (hit) return hit;
    let fill = this.deps.fills.get(spec.key);
    const outcome: Outcome = fill ? 'coalesced' : 'miss';
    if (!fill) {
      fill = this.deps.fills.start(spec);
      // pool requests arriving meanwhile wait for this index rather than go unverified
      if (feedsIndex) this.deps.indexer.during(fill.done);
    }
    // held until the response is over (each reader holds it too)
    fill.retain();
    const f = fill;
    try {
      await f.head;
    } catch (err) {
      f.release();
      throw err;
    }
    this.uses.set(spec.key, Date.now());
    return {
      kind: 'representation',
      outcome,
      headers: { 'X-Aptgate-Result': outcome },
      size: f.size,
      lastModified: f.lastModified,
      contentType: spec.contentType,
      source: { kind: 'stream', open: (start, end) => new FillReader(f, start, end) },
      done: () => f.release(),
    };
  }

  /** Fetches an object into the cache without a client (refresh); resolves with its key. */
  async ensureStored(spec: FillSpec): Promise<boolean> {
    if (!this.deps.fills.get(spec.key) && (await this.deps.store.stat(spec.key))) return true;
    const fill = this.deps.fills.start(spec);
    this.deps.indexer.during(fill.done);
    return fill.done;
  }

  // ---- anything else under a backend (and pool files nothing vouches for): never cached --

  private async passThrough(
    req: IncomingMessage,
    target: Target,
    outcome: 'pass' | 'pass-unverified' = 'pass',
  ): Promise<Answer> {
    const forward: Record<string, string> = {};
    for (const h of ['range', 'if-range', 'if-modified-since']) {
      const v = req.headers[h];
      if (typeof v === 'string') forward[h] = v;
    }
    const up = await this.deps.upstream.get(target.backend, target.path, {
      method: req.method === 'HEAD' ? 'HEAD' : 'GET',
      headers: forward,
    });
    const headers: Record<string, string> = { 'X-Aptgate-Result': outcome };
    for (const h of ['content-type', 'content-length', 'content-range', 'last-modified']) {
      const v = header(up.headers, h);
      if (v !== undefined) headers[h] = v;
    }
    const known = contentType(target.path);
    if (known !== 'application/octet-stream') headers['content-type'] = known;
    if (up.status >= 400) {
      up.body.destroy();
      const code =
        up.status === 404 ? 'UPSTREAM_NOT_FOUND' : up.status === 416 ? 'RANGE_NOT_SATISFIABLE' : 'UPSTREAM_FAILED';
      throw new AptgateError(code, `${target.key}: upstream answered ${up.status}`, { status: up.status });
    }
    return { kind: 'relay', outcome, status: up.status, headers, body: up.body as Readable };
  }

  // ---- usage bookkeeping --------------------------------------------------------------

  /** Writes the batched last-use times (called on a timer and at close). */
  flushUsage(): void {
    if (this.uses.size === 0) return;
    const batch = [...this.uses];
    this.uses.clear();
    try {
      this.deps.usage.record(batch);
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'could not record cache use');
    }
  }
}

/** Served from the cache as a representation (not a 304): a stored index the client got. */
function storedHit(req: IncomingMessage, answer: RepresentationAnswer): boolean {
  return answer.outcome === 'hit' && !notModified(req, answer.lastModified);
}
