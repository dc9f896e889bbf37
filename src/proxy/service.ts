// The proxy's decisions for one request: which generation, which cache object, which
// upstream paths and which expected size and hash, then hit, join a fill, or start one.
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { BackendConfig, Config } from '../config.js';
import { AptgateError, isAptgateError } from '../errors.js';
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
import { reasonPhrase } from './reason.js';
import { pipeBody, serveRepresentation, type FileBody, type Served } from './serve.js';
import type { MemEntry, MemoryCache } from './memcache.js';
import type { CacheStore } from './store.js';
import type { Generation, Suites } from './suites.js';
import type { Target } from './target.js';
import { header, type Upstream } from './upstream.js';

export type Outcome = 'hit' | 'miss' | 'coalesced' | 'revalidated' | 'stale' | 'pass' | 'pass-unverified' | 'not_modified';

export interface Handled extends Served {
  outcome: Outcome;
}

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

  async handle(req: IncomingMessage, res: ServerResponse, target: Target, client: string): Promise<Handled> {
    const cls = classify(target.path);
    switch (cls.kind) {
      case 'root':
        return this.serveRoot(req, res, target.backend, cls.suite, cls.file, client);
      case 'index':
        return this.serveIndex(req, res, target, cls.suite, cls.rel, client);
      case 'byhash':
        return this.serveByHash(req, res, target, cls.suite, cls.algo, cls.hex);
      case 'immutable':
        return this.serveImmutable(req, res, target);
      case 'other':
        return this.passThrough(req, res, target);
    }
  }

  // ---- signed roots -------------------------------------------------------------------

  private async serveRoot(req: IncomingMessage, res: ServerResponse, backend: BackendConfig, suite: string, file: 'InRelease' | 'Release' | 'Release.gpg', client: string): Promise<Handled> {
    const kind = file === 'InRelease' ? 'inrelease' : 'release';
    // Release.gpg must come from the generation whose Release this client just got
    const paired = file === 'Release.gpg' ? this.deps.suites.releaseFor(backend.name, suite, client) : undefined;
    const { gen, outcome } = paired ? { gen: paired, outcome: 'hit' as const } : await this.deps.suites.rootWithOutcome(backend, suite, kind);
    if (!gen) throw new AptgateError('UPSTREAM_NOT_FOUND', `${backend.name}: dists/${suite}/${file} does not exist upstream`);
    const body = file === 'Release.gpg' ? gen.sig! : gen.doc;
    this.deps.suites.remember(client, gen);
    const served = serveRepresentation(req, res, {
      size: body.length,
      lastModified: gen.lastModified,
      contentType: contentType(file),
      open: (s, e) => body.subarray(s, e === undefined ? undefined : e + 1),
    }, { 'X-Aptgate-Snapshot': String(gen.snapshot.id) });
    return { ...served, outcome: served.status === 304 ? 'not_modified' : outcome };
  }

  // ---- indexes at their canonical names: the bytes the client's generation names --------

  private async serveIndex(req: IncomingMessage, res: ServerResponse, target: Target, suite: string, rel: string, client: string): Promise<Handled> {
    const gen = await this.deps.suites.forIndex(target.backend, suite, client);
    const file = gen?.release.files.get(rel);
    if (!gen || !file) throw new AptgateError('NOT_IN_RELEASE', `${target.backend.name}: dists/${suite}/${rel} is not named by the suite's Release`);
    const byHashPath = `dists/${suite}/${byHashRel(rel, file.sha256)}`;
    const canonical = `dists/${suite}/${rel}`;
    const spec: FillSpec = {
      backend: target.backend,
      key: `${target.backend.name}/${byHashPath}`,
      sources: gen.release.acquireByHash ? [byHashPath, canonical] : [canonical],
      expect: { size: file.size, sha256: file.sha256 },
      contentType: contentType(rel),
      onStored: (info) => { void this.indexStored(gen, rel, file, info.key); },
    };
    const handled = await this.serveObject(req, res, spec, packagesTarget(rel) !== undefined);
    this.noteIndex(gen, rel, file, spec.key, handled.outcome);
    return handled;
  }

  private async serveByHash(req: IncomingMessage, res: ServerResponse, target: Target, suite: string, algo: 'md5' | 'sha1' | 'sha256' | 'sha512', hex: string): Promise<Handled> {
    // apt asks by the strongest hash a Release lists (SHA256 in every archive it talks to): an
    // object named by a weaker one is served as upstream sends it and never kept (a colliding
    // pair would otherwise store attacker bytes under a name)
    if (algo === 'md5' || algo === 'sha1') return this.passThrough(req, res, target, 'pass-unverified');
    const backend = target.backend;
    let found = algo === 'sha256' ? this.deps.suites.findByHash(backend.name, suite, hex) : undefined;
    if (!found && algo === 'sha256') {
      // after a restart the suite may not be loaded yet: load it, without revalidating
      await this.deps.suites.forIndex(backend, suite, '').catch(() => undefined);
      found = this.deps.suites.findByHash(backend.name, suite, hex);
    }
    const expect: Expect = algo === 'sha256' ? { sha256: hex, ...(found ? { size: found.file.size } : {}) } : { other: { algo, hex } };
    const sources = [target.path];
    if (found && !found.gen.release.acquireByHash) sources.unshift(`dists/${suite}/${found.file.path}`);
    else if (found) sources.push(`dists/${suite}/${found.file.path}`);
    const spec: FillSpec = {
      backend,
      key: target.key,
      sources,
      expect,
      contentType: found ? contentType(found.file.path) : 'application/octet-stream',
      onStored: (info) => { if (found) void this.indexStored(found.gen, found.file.path, found.file, info.key); },
    };
    const handled = await this.serveObject(req, res, spec, found !== undefined && packagesTarget(found.file.path) !== undefined);
    if (found) this.noteIndex(found.gen, found.file.path, found.file, spec.key, handled.outcome);
    return handled;
  }

  /** Tracks Packages targets clients use, and indexes stored ones not yet linked. */
  private noteIndex(gen: Generation, rel: string, file: ReleaseFile, key: string, outcome: Outcome): void {
    const t = packagesTarget(rel);
    if (!t) return;
    const { backend, suite } = gen.snapshot;
    const tk = `${backend}\0${suite}\0${t.component}\0${t.architecture}`;
    if (!this.trackedSeen.has(tk)) {
      this.trackedSeen.add(tk);
      this.deps.snapshots.track(backend, suite, t.component, t.architecture);
    }
    if (outcome === 'hit') void this.indexStored(gen, rel, file, key);
  }

  /** Queues a stored Packages file for the package index (cheap when already known). */
  indexStored(gen: Generation, rel: string, file: ReleaseFile, key: string): Promise<unknown> {
    const t = packagesTarget(rel);
    if (!t || t.compression === 'other') return Promise.resolve();
    const plainRel = rel.replace(/\.(xz|gz)$/, '');
    const job: IndexJob = {
      backend: gen.snapshot.backend,
      file: this.deps.store.pathOf(key),
      compression: compressionOf(rel) ?? 'none',
      fileSha256: file.sha256,
      plainSha256: gen.release.files.get(plainRel)?.sha256,
      link: { snapshotId: gen.snapshot.id, component: t.component, architecture: t.architecture },
    };
    if (this.deps.indexer.isLinked(job)) return Promise.resolve();
    return this.deps.indexer.ensure(job);
  }

  // ---- pool files ---------------------------------------------------------------------

  private async serveImmutable(req: IncomingMessage, res: ServerResponse, target: Target): Promise<Handled> {
    const type = contentType(target.path);
    const hit = await this.tryHit(req, res, target.key, type);
    if (hit) return hit;
    const running = this.deps.fills.get(target.key);
    if (running) return this.serveObject(req, res, running.spec);
    const expect = await this.expectedPoolFile(target.backend, target.path);
    // no signed index vouches for these bytes: the client gets them as upstream sends them
    // (apt checks them against its own lists), the cache never keeps them
    if (!expect) return this.passThrough(req, res, target, 'pass-unverified');
    return this.serveObject(req, res, { backend: target.backend, key: target.key, sources: [target.path], expect, contentType: type });
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
    const within = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
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

  private async tryHit(req: IncomingMessage, res: ServerResponse, key: string, type: string): Promise<Handled | undefined> {
    if (this.deps.fills.get(key)) return undefined;
    const mem = this.deps.memory.get(key);
    if (mem && (await this.stillOnDisk(key, mem))) return this.serveHit(req, res, key, type, mem.body.length, mem.lastModified, () => mem.body);
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
        return this.serveHit(req, res, key, type, st.size, lastModified, () => body);
      }
      const handled = this.serveHit(req, res, key, type, st.size, lastModified, () => ({ fh }));
      closeNow = false;
      void handled.bytes.finally(() => fh.close().catch(() => undefined));
      return handled;
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

  private serveHit(req: IncomingMessage, res: ServerResponse, key: string, type: string, size: number, lastModified: Date, body: () => Buffer | FileBody): Handled {
    this.uses.set(key, Date.now());
    const served = serveRepresentation(req, res, {
      size,
      lastModified,
      contentType: type,
      open: (start, end) => {
        const b = body();
        return Buffer.isBuffer(b) ? b.subarray(start, end === undefined ? undefined : end + 1) : b;
      },
    }, HIT_HEADERS);
    void served.bytes.then((n) => this.deps.metrics.bytesFromCache.inc({}, n));
    return { ...served, outcome: served.status === 304 ? 'not_modified' : 'hit' };
  }

  /** Serves an object from the cache, from a fill in progress, or from a new fill. */
  async serveObject(req: IncomingMessage, res: ServerResponse, spec: FillSpec, feedsIndex = false): Promise<Handled> {
    const hit = await this.tryHit(req, res, spec.key, spec.contentType);
    if (hit) return hit;
    let fill = this.deps.fills.get(spec.key);
    const outcome: Outcome = fill ? 'coalesced' : 'miss';
    if (!fill) {
      fill = this.deps.fills.start(spec);
      // pool requests arriving meanwhile wait for this index rather than go unverified
      if (feedsIndex) this.deps.indexer.during(fill.done);
    }
    fill.retain();
    try {
      await fill.head;
      this.uses.set(spec.key, Date.now());
      const f = fill;
      const served = serveRepresentation(req, res, {
        size: f.size,
        lastModified: f.lastModified,
        contentType: spec.contentType,
        open: (start, end) => new FillReader(f, start, end),
      }, { 'X-Aptgate-Result': outcome });
      return { ...served, outcome };
    } finally {
      fill.release();
    }
  }

  /** Fetches an object into the cache without a client (refresh); resolves with its key. */
  async ensureStored(spec: FillSpec): Promise<boolean> {
    if (!this.deps.fills.get(spec.key) && (await this.deps.store.stat(spec.key))) return true;
    const fill = this.deps.fills.start(spec);
    this.deps.indexer.during(fill.done);
    return fill.done;
  }

  // ---- anything else under a backend (and pool files nothing vouches for): never cached --

  private async passThrough(req: IncomingMessage, res: ServerResponse, target: Target, outcome: 'pass' | 'pass-unverified' = 'pass'): Promise<Handled> {
    const forward: Record<string, string> = {};
    for (const h of ['range', 'if-range', 'if-modified-since']) {
      const v = req.headers[h];
      if (typeof v === 'string') forward[h] = v;
    }
    const up = await this.deps.upstream.get(target.backend, target.path, { method: req.method === 'HEAD' ? 'HEAD' : 'GET', headers: forward });
    const headers: Record<string, string> = { 'X-Aptgate-Result': outcome };
    for (const h of ['content-type', 'content-length', 'content-range', 'last-modified']) {
      const v = header(up.headers, h);
      if (v !== undefined) headers[h] = v;
    }
    const known = contentType(target.path);
    if (known !== 'application/octet-stream') headers['content-type'] = known;
    if (up.status >= 400) {
      up.body.destroy();
      const code = up.status === 404 ? 'UPSTREAM_NOT_FOUND' : up.status === 416 ? 'RANGE_NOT_SATISFIABLE' : 'UPSTREAM_FAILED';
      throw new AptgateError(code, `${target.key}: upstream answered ${up.status}`, { status: up.status });
    }
    res.writeHead(up.status === 304 ? 304 : up.status, headers);
    if (req.method === 'HEAD' || up.status === 304) {
      up.body.destroy();
      res.end();
      return { status: up.status, outcome, bytes: Promise.resolve(0) };
    }
    return { status: up.status, outcome, bytes: pipeBody(up.body as Readable, res) };
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

export function errorStatus(err: unknown): { status: number; code: string; message: string; reason: string | undefined } {
  if (isAptgateError(err)) return { status: err.status, code: err.code, message: err.message, reason: reasonPhrase(err, err.status) };
  return { status: 500, code: 'INTERNAL', message: (err as Error).message, reason: undefined };
}
