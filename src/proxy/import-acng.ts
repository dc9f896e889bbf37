// `aptgate cache import DIR`: taking over an apt-cacher-ng cache. Only what a signed index
// vouches for is taken: signed roots verified with gpgv (never older than what aptgate holds),
// indexes a verified Release names with their size and SHA256, by-hash objects whose content
// is the hash in their name, pool files with the size and SHA256 a verified Packages gives
// them. Each is copied (never linked: acng may still rewrite its file in place), hashed while
// copying, and renamed into the cache only once its bytes verified, then recorded in the
// database as a fill would be. The acng directory is only read. One file at a time, streamed,
// with short database writes: safe while the server runs on the same cache and database.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { BackendConfig } from '../config.js';
import { fail } from '../errors.js';
import { parseStream } from '../index/deb822.js';
import { byHashRel, packagesTarget, type ReleaseFile } from '../index/release.js';
import { silentLogger } from '../log.js';
import type { KnownFile } from '../state/package-index.js';
import { compressionOf, openDecompressed } from '../sys/decompress.js';
import { AcngMapping, walkAcng, type AcngFile, type WalkRefusal } from './acng-layout.js';
import type { HousekeepingDeps } from './housekeeping.js';
import { heldSnapshots, importSuiteRoots, type RootReason, type VouchingSnapshot } from './import-roots.js';
import { Indexer } from './indexer.js';
import { Metrics, proxyMetrics } from './metrics.js';
import { classify, type HashAlgo } from './paths.js';

export type ImportReason = WalkRefusal | RootReason | 'empty' | 'not-cached' | 'stale' | 'mismatch' | 'io-error';

/**
 * Refusals that mean a file is not what its archive signed (tampered or damaged), or a root no configured key signed.
 */
export const PROBLEM_REASONS: ReadonlySet<ImportReason> = new Set<ImportReason>(['signature', 'mismatch']);

export type ImportKind = 'root' | 'index' | 'pool';

export interface ImportResult {
  format: 1;
  source: string;
  dryRun: boolean;
  /** copied into the cache (with --dry-run: would be) */
  taken: Array<{ path: string; key: string; kind: ImportKind; size: number }>;
  takenBytes: number;
  byKind: Record<ImportKind, { files: number; bytes: number }>;
  /** verified or vouched for, but aptgate holds it already */
  present: Array<{ path: string; key: string }>;
  refused: Array<{ path: string; reason: ImportReason; detail: string; size?: number; files?: number; bytes?: number }>;
  /** refusals among PROBLEM_REASONS */
  problems: number;
  /** what could not be recorded (an index ingest that failed) */
  warnings: string[];
}

export interface ImportOptions {
  dir: string;
  dryRun: boolean;
  /** acng top-level directory → backend name */
  map?: ReadonlyMap<string, string>;
}

const ALGO: Record<HashAlgo, string> = { md5: 'md5', sha1: 'sha1', sha256: 'sha256', sha512: 'sha512' };

/** A verified Packages file whose entries vouch for pool files. */
interface PackagesSource {
  backend: BackendConfig;
  file: string;
  rel: string;
  sha256: string;
  key: string;
}

export async function importAcng(deps: HousekeepingDeps, opts: ImportOptions): Promise<ImportResult> {
  const source = resolve(opts.dir);
  const st = await stat(source).catch(() => undefined);
  if (!st?.isDirectory())
    fail('USAGE', `${source} is not a directory (the apt-cacher-ng cache, /var/cache/apt-cacher-ng)`);
  const cacheRoot = deps.store.root;
  if (source === cacheRoot || source.startsWith(cacheRoot + sep) || cacheRoot.startsWith(source + sep)) {
    fail(
      'USAGE',
      `${source} and the cache directory ${cacheRoot} overlap: the apt-cacher-ng directory is only read, never written`,
    );
  }
  if (!opts.dryRun) {
    if (!(await stat(cacheRoot).catch(() => undefined))?.isDirectory()) {
      fail(
        'USAGE',
        `cache directory ${cacheRoot} does not exist: start \`aptgate serve\` once with this configuration first`,
      );
    }
    // (never cleared here: a running server's fills live there)
    await mkdir(deps.store.tmpDir, { recursive: true });
  }
  const mapping = new AcngMapping(deps.config, opts.map);
  const r: ImportResult = {
    format: 1,
    source,
    dryRun: opts.dryRun,
    taken: [],
    takenBytes: 0,
    byKind: { root: { files: 0, bytes: 0 }, index: { files: 0, bytes: 0 }, pool: { files: 0, bytes: 0 } },
    present: [],
    refused: [],
    problems: 0,
    warnings: [],
  };
  // a key taken from one acng directory is present for the next (debrep and a host directory may hold the same file)
  const inRun = new Set<string>();
  const exists = async (key: string) => inRun.has(key) || (await deps.store.stat(key)) !== undefined;
  const take = (f: AcngFile, key: string, kind: ImportKind) => {
    inRun.add(key);
    r.taken.push({ path: f.path, key, kind, size: f.size });
    r.takenBytes += f.size;
    r.byKind[kind].files++;
    r.byKind[kind].bytes += f.size;
  };
  const refuse = (f: { path: string; size?: number }, reason: ImportReason, detail: string) => {
    r.refused.push({ path: f.path, reason, detail, ...(f.size !== undefined ? { size: f.size } : {}) });
    if (PROBLEM_REASONS.has(reason)) r.problems++;
  };

  // 1. the layout: which backend each file belongs to, and what kind of object it is
  const roots = new Map<string, { backend: BackendConfig; suite: string; files: AcngFile[] }>();
  const indexes: AcngFile[] = [];
  const pool: AcngFile[] = [];
  for await (const item of walkAcng(source, mapping)) {
    if ('refused' in item) {
      const x = item.refused;
      r.refused.push({
        path: x.path,
        reason: x.reason,
        detail: x.detail,
        ...(x.files !== undefined ? { files: x.files, bytes: x.bytes ?? 0 } : {}),
      });
      continue;
    }
    const f = item.file;
    const cls = classify(f.rel);
    if (cls.kind === 'root') {
      const k = `${f.backend.name}\0${cls.suite}`;
      const g = roots.get(k) ?? { backend: f.backend, suite: cls.suite, files: [] };
      roots.set(k, g);
      g.files.push(f);
    } else if (cls.kind === 'index' || cls.kind === 'byhash') indexes.push(f);
    else if (cls.kind === 'immutable') pool.push(f);
    else refuse(f, 'not-cached', 'aptgate never caches this path (it passes it through)');
  }

  // 2. signed roots: the snapshots that vouch for indexes, with those aptgate holds already
  const vouching: VouchingSnapshot[] = await heldSnapshots(deps, deps.config.backends);
  for (const g of roots.values()) {
    const o = await importSuiteRoots(deps, g.backend, g.suite, g.files, opts.dryRun);
    for (const t of o.taken) take(t.file, t.key, 'root');
    for (const p of o.present) r.present.push({ path: p.file.path, key: p.key });
    for (const x of o.refused) refuse(x.file, x.reason, x.detail);
    vouching.push(...o.vouching);
  }

  // 3. indexes, and the Packages among them that vouch for pool files
  const packages: PackagesSource[] = [];
  for (const f of indexes) {
    const got = await importIndex(deps, f, vouching, exists, opts.dryRun).catch((err: Error) => ({
      reason: 'io-error' as const,
      detail: err.message,
    }));
    if ('reason' in got) refuse(f, got.reason, got.detail);
    else {
      if (got.present) r.present.push({ path: f.path, key: got.key });
      else take(f, got.key, 'index');
      if (got.packages) packages.push(got.packages);
    }
  }
  const wanted = new Map<string, Set<string>>();
  for (const f of pool) {
    const s = wanted.get(f.backend.name) ?? new Set<string>();
    s.add(f.rel);
    wanted.set(f.backend.name, s);
  }
  const vouchers = await readVouchers(packages, wanted, (w) => r.warnings.push(w));

  // 4. pool files: the size and SHA256 a verified Packages (this import's or aptgate's) gives them
  for (const f of pool) {
    const key = `${f.backend.name}/${f.rel}`;
    const bad = headProblem(f);
    if (bad) {
      refuse(f, bad[0], bad[1]);
      continue;
    }
    if (await exists(key)) {
      r.present.push({ path: f.path, key });
      continue;
    }
    const named = [...(vouchers.get(key) ?? []), ...deps.packageIndex.filesNamed(f.backend.name, f.rel)];
    if (named.length === 0) {
      refuse(f, 'unvouched', 'no verified Packages names it');
      continue;
    }
    const want = named
      .map((n) => `${n.size} bytes, SHA256 ${n.sha256}`)
      .filter((v, i, a) => a.indexOf(v) === i)
      .join(' or ');
    if (!named.some((n) => n.size === f.size)) {
      refuse(f, mismatchReason(f), `${f.size} bytes; the signed Packages says ${want}`);
      continue;
    }
    try {
      const c = await copyHashed(f.abs, 'sha256', opts.dryRun ? undefined : deps.store);
      if (named.some((n) => n.size === c.size && n.sha256 === c.hash)) {
        if (c.tmp) await place(deps, c.tmp, key, f);
        take(f, key, 'pool');
      } else {
        if (c.tmp) await deps.store.discard(c.tmp);
        refuse(
          f,
          mismatchReason(f),
          `SHA256 ${c.hash}; the signed Packages says ${want}: changed after the archive signed it`,
        );
      }
    } catch (err) {
      refuse(f, 'io-error', (err as Error).message);
    }
  }

  // 5. the database, as fills would leave it: Packages ingested and linked to their snapshots
  if (!opts.dryRun) await ingest(deps, packages, vouching, (w) => r.warnings.push(w));
  return r;
}

type IndexOutcome =
  { reason: ImportReason; detail: string } | { key: string; present: boolean; packages: PackagesSource | undefined };

/** An index at its canonical name (named by a verified Release) or a by-hash object (its own hash). */
async function importIndex(
  deps: HousekeepingDeps,
  f: AcngFile,
  vouching: VouchingSnapshot[],
  exists: (key: string) => Promise<boolean>,
  dryRun: boolean,
): Promise<IndexOutcome> {
  const cls = classify(f.rel);
  if (cls.kind !== 'index' && cls.kind !== 'byhash') return { reason: 'not-cached', detail: 'not an index' };
  const bad = headProblem(f);
  if (bad) return { reason: bad[0], detail: bad[1] };
  const suiteVouching = vouching.filter((g) => g.backend === f.backend && g.suite === cls.suite);
  const packagesOf = (rel: string, file: ReleaseFile, key: string, path: string): PackagesSource | undefined => {
    const t = packagesTarget(rel);
    return t && t.compression !== 'other'
      ? { backend: f.backend, file: path, rel: `dists/${cls.suite}/${rel}`, sha256: file.sha256, key }
      : undefined;
  };

  if (cls.kind === 'byhash') {
    // apt asks by SHA256; objects named by weaker hashes are passed through by the server, never kept
    if (cls.algo === 'md5' || cls.algo === 'sha1')
      return {
        reason: 'not-cached',
        detail: `named by ${cls.algo.toUpperCase()}: aptgate keeps by-hash objects by SHA256 or SHA512 only`,
      };
    const dir = cls.rel.slice(0, cls.rel.indexOf('by-hash/'));
    // (the name as apt asks for it: lower-case hex)
    const key = `${f.backend.name}/dists/${cls.suite}/${dir}by-hash/${f.rel.split('/').at(-2)}/${cls.hex}`;
    const named =
      cls.algo === 'sha256'
        ? suiteVouching
            .flatMap((g) => g.release.byHash.get(cls.hex) ?? [])
            .find((x) => x.path.startsWith(dir) && !x.path.slice(dir.length).includes('/'))
        : undefined;
    if (await exists(key))
      return { key, present: true, packages: named && packagesOf(named.path, named, key, deps.store.pathOf(key)) };
    const c = await copyHashed(f.abs, ALGO[cls.algo], dryRun ? undefined : deps.store);
    if (c.hash !== cls.hex) {
      if (c.tmp) await deps.store.discard(c.tmp);
      return {
        reason: mismatchReason(f),
        detail: `its ${cls.algo.toUpperCase()} is ${c.hash}, not the hash in its name: changed after the archive published it`,
      };
    }
    if (c.tmp) await place(deps, c.tmp, key, f);
    return {
      key,
      present: false,
      packages: named && packagesOf(named.path, named, key, c.tmp ? deps.store.pathOf(key) : f.abs),
    };
  }

  const named = suiteVouching.map((g) => g.release.files.get(cls.rel)).filter((x): x is ReleaseFile => x !== undefined);
  if (named.length === 0)
    return { reason: 'unvouched', detail: `no verified Release of ${f.backend.name} ${cls.suite} names it` };
  const sameSize = named.filter((n) => n.size === f.size);
  const other = () => ({
    reason: f.size === 0 ? ('empty' as const) : ('stale' as const),
    detail:
      f.size === 0
        ? 'an empty file (apt-cacher-ng truncates files it found damaged)'
        : `another snapshot's ${cls.rel}: the verified Release names ${named.map((n) => `${n.size} bytes, SHA256 ${n.sha256.slice(0, 16)}`).join(' or ')}`,
  });
  if (sameSize.length === 0) return other();
  for (const n of sameSize) {
    const key = `${f.backend.name}/dists/${cls.suite}/${byHashRel(cls.rel, n.sha256)}`;
    // the same content aptgate holds already (checked against its own name when it was stored)
    if (await exists(key)) return { key, present: true, packages: packagesOf(cls.rel, n, key, deps.store.pathOf(key)) };
  }
  const c = await copyHashed(f.abs, 'sha256', dryRun ? undefined : deps.store);
  const match = sameSize.find((n) => n.sha256 === c.hash);
  if (!match) {
    if (c.tmp) await deps.store.discard(c.tmp);
    return other();
  }
  const key = `${f.backend.name}/dists/${cls.suite}/${byHashRel(cls.rel, match.sha256)}`;
  if (c.tmp) await place(deps, c.tmp, key, f);
  return { key, present: false, packages: packagesOf(cls.rel, match, key, c.tmp ? deps.store.pathOf(key) : f.abs) };
}

/** A refusal acng's own headers explain: not a complete 200 answer. */
function headProblem(f: AcngFile): [ImportReason, string] | undefined {
  const h = f.head;
  if (h && h.status !== 200) return ['head-status', `apt-cacher-ng kept a ${h.status} answer for it`];
  if (h?.contentLength !== undefined && f.size < h.contentLength)
    return ['partial', `${f.size} of ${h.contentLength} bytes: an unfinished download`];
  return undefined;
}

/** acng truncates a file it found damaged to 0 bytes: that is not tampering. */
function mismatchReason(f: AcngFile): ImportReason {
  return f.size === 0 ? 'empty' : 'mismatch';
}

/** Renames verified bytes into the cache, with the upstream date acng kept as mtime (as a fill does). */
async function place(deps: HousekeepingDeps, tmp: string, key: string, f: AcngFile): Promise<void> {
  try {
    await deps.store.commit(tmp, key, f.head?.lastModified ?? new Date(f.mtimeMs));
  } catch (err) {
    await deps.store.discard(tmp);
    throw err;
  }
}

/**
 * Hashes a file of the acng cache and, with a store, copies it to a temporary file in the
 * same pass: what is renamed into the cache is exactly the bytes that were hashed.
 */
async function copyHashed(
  src: string,
  algo: string,
  store: HousekeepingDeps['store'] | undefined,
): Promise<{ hash: string; size: number; tmp: string | undefined }> {
  const fh = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  let tmp: Awaited<ReturnType<HousekeepingDeps['store']['openTemp']>> | undefined;
  try {
    tmp = store ? await store.openTemp() : undefined;
    const h = createHash(algo);
    let size = 0;
    for await (const chunk of fh.createReadStream({ autoClose: false, highWaterMark: 1024 * 1024 })) {
      const b = chunk as Buffer;
      h.update(b);
      if (tmp) {
        for (let off = 0; off < b.length;) off += (await tmp.fh.write(b, off, b.length - off, size + off)).bytesWritten;
      }
      size += b.length;
    }
    if (tmp) {
      // durable before visible, as a fill
      await tmp.fh.datasync();
      await tmp.fh.close();
    }
    return { hash: h.digest('hex'), size, tmp: tmp?.path };
  } catch (err) {
    if (tmp) {
      await tmp.fh.close().catch(() => undefined);
      await store!.discard(tmp.path);
    }
    throw err;
  } finally {
    await fh.close();
  }
}

/** Sizes and SHA256 of the wanted pool files, from the verified Packages (one parse per content). */
async function readVouchers(
  sources: PackagesSource[],
  wanted: Map<string, Set<string>>,
  warn: (w: string) => void,
): Promise<Map<string, KnownFile[]>> {
  const out = new Map<string, KnownFile[]>();
  const seen = new Set<string>();
  for (const s of sources) {
    const want = wanted.get(s.backend.name);
    if (!want || seen.has(`${s.backend.name}\0${s.sha256}`)) continue;
    seen.add(`${s.backend.name}\0${s.sha256}`);
    try {
      await parseStream(
        openDecompressed(s.file, compressionOf(s.rel) ?? 'none'),
        (p) => {
          const filename = p['filename'];
          const size = Number(p['size']);
          const sha256 = p['sha256']?.toLowerCase();
          if (!filename || !want.has(filename) || !sha256 || !Number.isSafeInteger(size)) return;
          const key = `${s.backend.name}/${filename}`;
          const list = out.get(key) ?? [];
          list.push({ size, sha256 });
          out.set(key, list);
        },
        { fields: new Set(['filename', 'size', 'sha256']) },
      );
    } catch (err) {
      warn(`${s.key}: cannot read it: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Ingests the imported Packages into the package index, linked to every snapshot naming them, and tracks them. */
async function ingest(
  deps: HousekeepingDeps,
  sources: PackagesSource[],
  vouching: VouchingSnapshot[],
  warn: (w: string) => void,
): Promise<void> {
  const indexer = new Indexer(deps.config.db, deps.packageIndex, proxyMetrics(new Metrics()), silentLogger);
  // the indexer's worker does not hold a process open (a server's sockets do): this command must
  const alive = setInterval(() => undefined, 60_000);
  const done: Array<Promise<void>> = [];
  try {
    for (const s of sources) {
      const rel = s.rel.replace(/^dists\/[^/]+\//, '');
      const suite = s.rel.split('/')[1]!;
      const t = packagesTarget(rel)!;
      for (const g of vouching) {
        if (
          g.backend !== s.backend ||
          g.suite !== suite ||
          g.snapshotId === undefined ||
          g.release.files.get(rel)?.sha256 !== s.sha256
        )
          continue;
        const link = { snapshotId: g.snapshotId, component: t.component, architecture: t.architecture };
        deps.snapshots.track(s.backend.name, suite, t.component, t.architecture);
        done.push(
          indexer
            .ensure({
              backend: s.backend.name,
              file: deps.store.pathOf(s.key),
              compression: compressionOf(rel) ?? 'none',
              fileSha256: s.sha256,
              plainSha256: g.release.files.get(rel.replace(/\.(xz|gz)$/, ''))?.sha256,
              link,
            })
            .then(() => {
              if (!deps.packageIndex.isLinked(link.snapshotId, link.component, link.architecture))
                warn(`${s.key}: could not be added to the package index`);
            }),
        );
      }
    }
    await Promise.all(done);
  } finally {
    await indexer.close();
    clearInterval(alive);
  }
}
