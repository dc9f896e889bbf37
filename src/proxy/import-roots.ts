// The signed roots of an apt-cacher-ng cache being imported: each InRelease (or Release with
// its Release.gpg) verified with gpgv against its backend's keyrings, then held to the rule the
// server keeps: a suite's signed Date only moves forward, so a root older than the suite's
// newest snapshot is refused, and one dated in the future is never recorded. What passes is
// recorded as a snapshot, as a fetch from upstream would be.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { BackendConfig } from '../config.js';
import { isAptgateError } from '../errors.js';
import { clearsignedText, parseRelease, type Release } from '../index/release.js';
import type { RootKind, SnapshotStore } from '../state/snapshots.js';
import { verifyClearsigned, verifyDetached } from '../sys/gpgv.js';
import type { AcngFile } from './acng-layout.js';
import type { CacheStore } from './store.js';

/** A verified snapshot of a suite that vouches for index files (imported now or held already). */
export interface VouchingSnapshot {
  backend: BackendConfig;
  suite: string;
  kind: RootKind;
  release: Release;
  /** undefined for one a dry run would record */
  snapshotId: number | undefined;
}

export type RootReason = 'head-status' | 'partial' | 'unvouched' | 'rollback' | 'future' | 'signature' | 'invalid';

export interface RootOutcome {
  vouching: VouchingSnapshot[];
  taken: Array<{ file: AcngFile; key: string }>;
  present: Array<{ file: AcngFile; key: string }>;
  refused: Array<{ file: AcngFile; reason: RootReason; detail: string }>;
}

export interface RootDeps {
  store: CacheStore;
  snapshots: SnapshotStore;
}

const MAX_ROOT_BYTES = 32 * 1024 * 1024;
/** as the server (suites.ts): a root dated further ahead is "not valid yet" for apt */
const MAX_FUTURE_MS = 10 * 60_000;

interface Verified {
  kind: RootKind;
  files: AcngFile[];
  doc: Buffer;
  sig: Buffer | undefined;
  sha256: string;
  release: Release;
  head: AcngFile['head'];
}

/** The snapshots aptgate already holds (the current ones, their roots read from .snapshots). */
export async function heldSnapshots(
  deps: RootDeps,
  backends: ReadonlyMap<string, BackendConfig>,
): Promise<VouchingSnapshot[]> {
  const out: VouchingSnapshot[] = [];
  for (const row of deps.snapshots.currentAll()) {
    const backend = backends.get(row.backend);
    if (!backend) continue;
    try {
      const doc = await readFile(deps.store.snapshotFile(row.backend, row.suite, row.sha256));
      if (createHash('sha256').update(doc).digest('hex') !== row.sha256) continue;
      const release = parseRelease(row.kind === 'inrelease' ? clearsignedText(doc) : doc);
      out.push({ backend, suite: row.suite, kind: row.kind, release, snapshotId: row.id });
    } catch {
      // a snapshot whose root is gone vouches for nothing
    }
  }
  return out;
}

/**
 * Verifies, orders and (unless dry) records the roots of one suite found in the acng cache
 * (from any of its directories: a Release is paired with the Release.gpg beside it).
 */
export async function importSuiteRoots(
  deps: RootDeps,
  backend: BackendConfig,
  suite: string,
  found: AcngFile[],
  dryRun: boolean,
): Promise<RootOutcome> {
  const out: RootOutcome = { vouching: [], taken: [], present: [], refused: [] };
  const refuse = (files: AcngFile[], reason: RootReason, detail: string) => {
    for (const file of files) out.refused.push({ file, reason, detail });
  };
  const what = (name: string) => `${backend.name} ${suite} ${name}`;
  const verified: Verified[] = [];

  const unusable = (f: AcngFile): boolean => {
    const h = f.head;
    if (h && h.status !== 200) refuse([f], 'head-status', `apt-cacher-ng kept a ${h.status} answer for it`);
    else if (h?.contentLength !== undefined && f.size < h.contentLength)
      refuse([f], 'partial', `${f.size} of ${h.contentLength} bytes: an unfinished download`);
    else if (f.size > MAX_ROOT_BYTES) refuse([f], 'invalid', `${f.size} bytes: larger than any signed root`);
    else return false;
    return true;
  };
  const judge = (files: AcngFile[], err: unknown) => {
    if (isAptgateError(err, 'SIGNATURE'))
      refuse(files, 'signature', `not signed by a key of ${backend.name}'s keyrings: ${err.message}`);
    else refuse(files, 'invalid', (err as Error).message);
  };

  const dirs = new Map<string, Map<string, AcngFile>>();
  for (const f of found) {
    const slash = f.path.lastIndexOf('/');
    const d = dirs.get(f.path.slice(0, slash)) ?? new Map<string, AcngFile>();
    d.set(f.path.slice(slash + 1), f);
    dirs.set(f.path.slice(0, slash), d);
  }
  for (const d of dirs.values()) {
    const ir = d.get('InRelease');
    if (ir && !unusable(ir)) {
      try {
        const doc = await readNoFollow(ir.abs);
        const text = (await verifyClearsigned(backend.keyrings, doc, what('InRelease'))).text;
        verified.push({
          kind: 'inrelease',
          files: [ir],
          doc,
          sig: undefined,
          sha256: sha(doc),
          release: parseRelease(text),
          head: ir.head,
        });
      } catch (err) {
        judge([ir], err);
      }
    }
    const rel = d.get('Release');
    const gpg = d.get('Release.gpg');
    if (rel && !gpg) refuse([rel], 'unvouched', 'a Release without its Release.gpg cannot be verified');
    if (gpg && !rel) refuse([gpg], 'unvouched', 'a Release.gpg without its Release signs nothing here');
    if (rel && gpg && !unusable(rel) && !unusable(gpg)) {
      try {
        const doc = await readNoFollow(rel.abs);
        const sig = await readNoFollow(gpg.abs);
        const text = (await verifyDetached(backend.keyrings, doc, sig, what('Release'))).text;
        verified.push({
          kind: 'release',
          files: [rel, gpg],
          doc,
          sig,
          sha256: sha(doc),
          release: parseRelease(text),
          head: rel.head,
        });
      } catch (err) {
        judge([rel, gpg], err);
      }
    }
  }

  // newest first: an older form after a newer one is a rollback, as the server decides it
  verified.sort((a, b) => b.release.date.getTime() - a.release.date.getTime());
  let newest = deps.snapshots.newest(backend.name, suite)?.date ?? 0;
  const seen = new Set<string>();
  for (const v of verified) {
    const date = v.release.date.getTime();
    if (date > Date.now() + MAX_FUTURE_MS) {
      refuse(
        v.files,
        'future',
        `dated ${v.release.date.toUTCString()}, in the future: apt refuses it as not valid yet`,
      );
      continue;
    }
    if (date < newest) {
      refuse(
        v.files,
        'rollback',
        `Date ${v.release.date.toUTCString()} is older than the suite's newest snapshot (${new Date(newest).toUTCString()}): a suite's Date only moves forward`,
      );
      continue;
    }
    newest = date;
    const held = deps.snapshots.latest(backend.name, suite, v.kind);
    const keys = v.files.map((file) => ({
      file,
      key: `${backend.name}/dists/${suite}/${file.rel.slice(file.rel.lastIndexOf('/') + 1)}`,
    }));
    // the same root from another acng directory
    if (seen.has(`${v.kind}\0${v.sha256}`)) {
      out.present.push(...keys);
      continue;
    }
    seen.add(`${v.kind}\0${v.sha256}`);
    if (held?.sha256 === v.sha256) {
      out.present.push(...keys);
      out.vouching.push({ backend, suite, kind: v.kind, release: v.release, snapshotId: held.id });
      continue;
    }
    let snapshotId: number | undefined;
    if (!dryRun) {
      await deps.store.writeRoot(backend.name, suite, v.sha256, v.doc, v.sig);
      snapshotId = deps.snapshots.record({
        backend: backend.name,
        suite,
        kind: v.kind,
        sha256: v.sha256,
        date,
        validUntil: v.release.validUntil?.getTime() ?? null,
        origin: v.release.origin ?? null,
        label: v.release.label ?? null,
        suiteField: v.release.suite ?? null,
        codename: v.release.codename ?? null,
        version: v.release.version ?? null,
        notAutomatic: v.release.notAutomatic,
        butAutomaticUpgrades: v.release.butAutomaticUpgrades,
        fetchedAt: Date.now(),
        mirror: mirrorOf(v.head?.source, suite),
        // the server's next check upstream is conditional on the date acng had
        upstreamLastModified: v.head?.lastModified?.toUTCString() ?? null,
        upstreamEtag: null,
      }).id;
    }
    out.taken.push(...keys);
    out.vouching.push({ backend, suite, kind: v.kind, release: v.release, snapshotId });
  }
  return out;
}

/** A file of the acng cache, never through a symbolic link swapped in after the walk. */
async function readNoFollow(file: string): Promise<Buffer> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The mirror base acng fetched a root from (its X-Original-Source), when it says so. */
function mirrorOf(source: string | undefined, suite: string): string | null {
  if (!source) return null;
  const m = /^(https?:\/\/\S+?)\/dists\/([^/]+)\/(?:In)?Release$/.exec(source);
  return m && m[2] === suite ? m[1]! : null;
}
