// Parsing one stored Packages file into the package index (runs in the indexer's worker
// thread, so the event loop that serves clients never parses).
import { createHash } from 'node:crypto';
import { AptgateError } from '../errors.js';
import { Deb822Parser } from '../index/deb822.js';
import { PACKAGES_FIELDS, toPackageEntry, type PackageEntry } from '../index/packages.js';
import type { PackageIndexStore } from '../state/package-index.js';
import { openDecompressed, type Compression } from '../sys/decompress.js';

export interface IndexJob {
  backend: string;
  /** absolute path of the stored file */
  file: string;
  compression: Compression;
  /** hash of the stored (possibly compressed) file */
  fileSha256: string;
  /** hash of the uncompressed content, when the Release lists it */
  plainSha256: string | undefined;
  link: { snapshotId: number; component: string; architecture: string } | undefined;
}

export interface IndexResult {
  indexFileId: number;
  entries: number;
  parsed: boolean;
}

// entries per transaction: the server's own writes wait for the lock a batch holds
const BATCH = 200;

export async function runIndexJob(store: PackageIndexStore, job: IndexJob): Promise<IndexResult> {
  const known =
    store.byAlias(job.backend, job.fileSha256) ??
    (job.plainSha256
      ? (store.byAlias(job.backend, job.plainSha256) ?? store.completeFile(job.backend, job.plainSha256))
      : undefined);
  if (known !== undefined) {
    if (job.link) store.link(job.link.snapshotId, job.link.component, job.link.architecture, known);
    return { indexFileId: known, entries: 0, parsed: false };
  }
  const id = store.beginFile(job.backend, `pending:${job.fileSha256}`);
  let entries = 0;
  let batch: PackageEntry[] = [];
  const flush = () => {
    if (batch.length) store.insertBatch(id, job.backend, batch);
    batch = [];
  };
  const parser = new Deb822Parser(
    (p) => {
      const e = toPackageEntry(p);
      if (!e) return;
      batch.push(e);
      entries++;
      if (batch.length >= BATCH) flush();
    },
    { fields: PACKAGES_FIELDS },
  );
  const hash = createHash('sha256');
  try {
    for await (const chunk of openDecompressed(job.file, job.compression)) {
      hash.update(chunk as Buffer);
      parser.write(chunk as Buffer);
    }
    parser.end();
    flush();
    const content = hash.digest('hex');
    if (job.plainSha256 && content !== job.plainSha256) {
      throw new AptgateError(
        'INTEGRITY',
        `${job.file}: decompressed content ${content} is not the signed ${job.plainSha256}`,
      );
    }
    const final = store.finishFile(id, job.backend, content, entries);
    store.addAliases(job.backend, final, [job.fileSha256, content]);
    if (job.link) store.link(job.link.snapshotId, job.link.component, job.link.architecture, final);
    return { indexFileId: final, entries, parsed: true };
  } catch (err) {
    store.dropFile(id);
    throw err;
  }
}
