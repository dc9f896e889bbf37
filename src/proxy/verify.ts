// `aptgate cache verify`: every cached object checked against what the signed indexes say of
// it, size and SHA256 (a pool file: a Packages index aptgate verified and parsed names it;
// a by-hash index object: the hash in its own name). One file at a time, streamed, with short
// database reads only, so it runs beside a serving server on the same cache and database.
// With `fix`, mismatched files and files nothing vouches for are removed, each only if it is
// still the very file that was checked (the server may have replaced it meanwhile).
import { createHash } from 'node:crypto';
import { open, stat, unlink } from 'node:fs/promises';
import type { HousekeepingDeps } from './housekeeping.js';

export interface VerifyProblem {
  key: string;
  size: number;
  /**
   * size / sha256: differs from every index entry naming it; unvouched: nothing names it; unreadable: could not be read
   */
  reason: 'size' | 'sha256' | 'unvouched' | 'unreadable';
  /** what the indexes say (mismatches) */
  expected?: Array<{ size?: number; sha256: string }>;
  /** the file's SHA256 (or the named algorithm's hash, for by-hash objects), when computed */
  actual?: string;
  evicted: boolean;
}

export interface VerifyResult {
  format: 1;
  fix: boolean;
  checked: number;
  ok: number;
  bytes: number;
  mismatched: VerifyProblem[];
  unvouched: VerifyProblem[];
  evicted: number;
}

const BY_HASH = /^dists\/.+\/by-hash\/(MD5Sum|SHA1|SHA256|SHA512)\/([0-9a-f]+)$/;
const ALGO: Record<string, string> = { MD5Sum: 'md5', SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

interface Checked {
  hash: string;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** Hashes the file through one descriptor, noting which file that was. */
async function hashFile(file: string, algo: string): Promise<Checked | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    const h = createHash(algo);
    for await (const chunk of fh.createReadStream({ autoClose: false })) h.update(chunk as Buffer);
    return { hash: h.digest('hex'), ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

export async function verifyCache(deps: HousekeepingDeps, opts: { fix: boolean }): Promise<VerifyResult> {
  const out: VerifyResult = {
    format: 1,
    fix: opts.fix,
    checked: 0,
    ok: 0,
    bytes: 0,
    mismatched: [],
    unvouched: [],
    evicted: 0,
  };

  /** Removes the file if it is still the one checked (same inode, size, mtime). */
  const evict = async (
    key: string,
    seen: { ino: number; size: number; mtimeMs: number } | undefined,
  ): Promise<boolean> => {
    if (!opts.fix) return false;
    const file = deps.store.pathOf(key);
    const now = await stat(file).catch(() => undefined);
    if (!now?.isFile() || (seen && (now.ino !== seen.ino || now.size !== seen.size || now.mtimeMs !== seen.mtimeMs)))
      return false;
    try {
      await unlink(file);
    } catch {
      return false;
    }
    deps.usage.forget([key]);
    out.evicted++;
    return true;
  };

  for await (const f of deps.store.walk()) {
    const slash = f.key.indexOf('/');
    if (slash < 0) continue;
    const backend = f.key.slice(0, slash);
    const rel = f.key.slice(slash + 1);
    const file = deps.store.pathOf(f.key);
    out.checked++;
    out.bytes += f.size;
    const problem = async (
      p: Omit<VerifyProblem, 'evicted' | 'key' | 'size'>,
      seen: Checked | undefined,
      size = f.size,
    ) => {
      const entry: VerifyProblem = { key: f.key, size, ...p, evicted: false };
      entry.evicted = await evict(f.key, seen ?? { ino: f.ino, size: f.size, mtimeMs: f.mtimeMs });
      (p.reason === 'unvouched' ? out.unvouched : out.mismatched).push(entry);
    };
    try {
      const bh = BY_HASH.exec(rel);
      if (bh) {
        const c = await hashFile(file, ALGO[bh[1]!]!);
        if (!c) {
          out.checked--;
          out.bytes -= f.size;
          continue;
        }
        if (c.hash === bh[2]) out.ok++;
        else await problem({ reason: 'sha256', expected: [{ sha256: bh[2]! }], actual: c.hash }, c, c.size);
        continue;
      }
      const named = rel.startsWith('dists/') ? [] : deps.packageIndex.filesNamed(backend, rel);
      if (named.length === 0) {
        await problem({ reason: 'unvouched' }, undefined);
        continue;
      }
      const expected = named.map((n) => ({ size: n.size, sha256: n.sha256 }));
      if (!named.some((n) => n.size === f.size)) {
        await problem({ reason: 'size', expected }, undefined);
        continue;
      }
      const c = await hashFile(file, 'sha256');
      if (!c) {
        out.checked--;
        out.bytes -= f.size;
        continue;
      }
      if (named.some((n) => n.size === c.size && n.sha256 === c.hash)) out.ok++;
      else
        await problem(
          { reason: named.some((n) => n.size === c.size) ? 'sha256' : 'size', expected, actual: c.hash },
          c,
          c.size,
        );
    } catch {
      await problem({ reason: 'unreadable' }, undefined);
    }
  }
  return out;
}
