// The cache directory: completed objects at <root>/<backend>/<path>, partial fills under
// <root>/.tmp (cleared at start, never served), signed roots of snapshots under
// <root>/.snapshots/<backend>/<suite>/<sha256>[.gpg]. Nothing outside <root> is touched.
import {
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  utimes,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve, sep, dirname } from 'node:path';
import { fail } from '../errors.js';
import { CacheSize, type FileChange } from './cache-size.js';

export interface CachedStat {
  size: number;
  mtimeMs: number;
}

export class CacheStore {
  readonly root: string;
  readonly tmpDir: string;
  readonly snapshotDir: string;
  /** files and bytes of completed objects, kept current by commit() and remove() */
  readonly size: CacheSize;

  constructor(root: string) {
    this.root = resolve(root);
    this.tmpDir = join(this.root, '.tmp');
    this.snapshotDir = join(this.root, '.snapshots');
    this.size = new CacheSize(this.root);
  }

  /** Creates the layout and drops partial files a previous run left behind. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.snapshotDir, { recursive: true });
  }

  /** Absolute file of a cache key (`backend/path`), refusing anything that leaves the root. */
  pathOf(key: string): string {
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep) || key.startsWith('.') || key.includes('\0'))
      fail('BAD_PATH', 'cache key outside the cache directory', { key });
    return p;
  }

  async stat(key: string): Promise<CachedStat | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
    } catch {
      return undefined;
    }
  }

  async openTemp(): Promise<{ path: string; fh: FileHandle }> {
    const path = join(this.tmpDir, `fill-${process.pid}-${randomBytes(8).toString('hex')}`);
    const fh = await open(path, 'w+', 0o644);
    return { path, fh };
  }

  /** Moves a verified temp file into place (atomically), with the upstream date as mtime. */
  async commit(tmpPath: string, key: string, mtime: Date): Promise<void> {
    const dest = this.pathOf(key);
    const done = this.size.begin(key);
    const changes: FileChange[] = [];
    try {
      try {
        await mkdir(dirname(dest), { recursive: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTDIR' && code !== 'EEXIST') throw err;
        await this.clearAncestors(key);
        await mkdir(dirname(dest), { recursive: true });
      }
      await utimes(tmpPath, mtime, mtime);
      const after = (await stat(tmpPath)).size;
      const before = await lstat(dest).then(
        (s) => (s.isFile() ? s.size : undefined),
        () => undefined,
      );
      await rename(tmpPath, dest);
      changes.push({ key, before, after });
    } finally {
      done(changes);
    }
  }

  /**
   * Heals a layout an older version (or a stray directory page) broke: a file where a verified
   * object needs a directory (`pool/main/m` above `pool/main/m/x.deb`) cannot be a valid
   * object itself, as no archive file's path is the prefix of another's, so it is removed.
   */
  private async clearAncestors(key: string): Promise<void> {
    const parts = key.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = this.pathOf(parts.slice(0, i).join('/'));
      const st = await lstat(p).catch(() => undefined);
      if (!st) return;
      if (!st.isDirectory()) {
        await this.removeFile(parts.slice(0, i).join('/'), p, true);
        return;
      }
    }
  }

  async discard(tmpPath: string): Promise<void> {
    await unlink(tmpPath).catch(() => undefined);
  }

  async remove(key: string): Promise<boolean> {
    return this.removeFile(key, this.pathOf(key), false);
  }

  private async removeFile(key: string, file: string, rethrow: boolean): Promise<boolean> {
    const done = this.size.begin(key);
    const changes: FileChange[] = [];
    try {
      const st = await lstat(file).catch(() => undefined);
      await unlink(file);
      changes.push({ key, before: st?.isFile() ? st.size : undefined, after: undefined });
      return true;
    } catch (err) {
      if (rethrow) throw err;
      return false;
    } finally {
      done(changes);
    }
  }

  snapshotFile(backend: string, suite: string, sha256: string, suffix = ''): string {
    if (!/^[0-9a-f]{64}$/.test(sha256) || suite.includes('/') || suite.startsWith('.'))
      fail('BAD_PATH', 'bad snapshot file name', { suite });
    return join(this.snapshotDir, backend, suite, sha256 + suffix);
  }

  /** Stores a verified signed root of a snapshot (the signature first, so a root never lacks it). */
  async writeRoot(backend: string, suite: string, sha256: string, doc: Buffer, sig: Buffer | undefined): Promise<void> {
    const write = async (file: string, data: Buffer) => {
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, data);
      await rename(tmp, file);
    };
    if (sig) await write(this.snapshotFile(backend, suite, sha256, '.gpg'), sig);
    await write(this.snapshotFile(backend, suite, sha256), doc);
  }

  /** Every completed object: key, size, mtime. Dot-directories (.tmp, .snapshots) are not objects. */
  async *walk(): AsyncGenerator<{ key: string; size: number; mtimeMs: number; ctimeMs: number; ino: number }> {
    const stack: string[] = [''];
    while (stack.length) {
      const rel = stack.pop()!;
      let entries;
      try {
        entries = await readdir(join(this.root, rel), { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (rel === '' && e.name.startsWith('.')) continue;
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) stack.push(key);
        else if (e.isFile()) {
          try {
            const s = await stat(join(this.root, key));
            yield { key, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino };
          } catch {
            /* removed meanwhile */
          }
        }
      }
    }
  }
}
