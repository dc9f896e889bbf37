// The size of the cache directory (aptgate_cache_bytes, aptgate_cache_files): measured by a walk
// when the server starts (and again every few minutes, for what other processes change:
// `aptgate cache clean`, `cache verify --fix`), and kept current between walks by every change
// the server makes itself (a fill committed, a file removed), so it is right from the first
// walk on, not only after the next one.
//
// A change made while a walk runs is counted exactly once. The walk lists one directory at a
// time; a change to a file marks the file's directory from before it starts until it is done,
// and a listing that overlapped a marked period is done again. When the change is done, either
// the walk has listed that directory (or an ancestor that did not have it yet): the walk saw the
// file as it was before, and the change is added to the walk's sum too; or it will list it later
// and see the file as it is now.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One file's change: its size before and after (undefined: no file). */
export interface FileChange {
  key: string;
  before: number | undefined;
  after: number | undefined;
}

interface Mark {
  pending: number;
  epoch: number;
}
interface Walk {
  done: Set<string>;
  planned: Set<string>;
  files: number;
  bytes: number;
}

/** stats run this many at a time while a directory is listed */
const STAT_BATCH = 32;

const parentOf = (key: string) => {
  const i = key.lastIndexOf('/');
  return i < 0 ? '' : key.slice(0, i);
};

export class CacheSize {
  files = 0;
  bytes = 0;
  /** the first walk is done: files and bytes are the directory's */
  known = false;
  private readonly marks = new Map<string, Mark>();
  private walk: Walk | undefined;
  private running: Promise<void> | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly root: string) {}

  /**
   * Called before the server changes the file `key`; the function it returns reports the change once done (or with none
   * when nothing changed).
   */
  begin(key: string): (changes: readonly FileChange[]) => void {
    const dir = parentOf(key);
    let mark = this.marks.get(dir);
    if (!mark) this.marks.set(dir, (mark = { pending: 0, epoch: 0 }));
    mark.pending++;
    mark.epoch++;
    let ended = false;
    return (changes) => {
      if (ended) return;
      ended = true;
      mark.pending--;
      mark.epoch++;
      if (mark.pending === 0 && !this.walk) this.marks.delete(dir);
      for (const c of changes) {
        const files = (c.after === undefined ? 0 : 1) - (c.before === undefined ? 0 : 1);
        const bytes = (c.after ?? 0) - (c.before ?? 0);
        this.files += files;
        this.bytes += bytes;
        if (this.walk && !this.walkWillList(parentOf(c.key))) {
          this.walk.files += files;
          this.walk.bytes += bytes;
        }
      }
      const waiting = this.waiters;
      this.waiters = [];
      for (const w of waiting) w();
    };
  }

  /** Walks the directory (one walk at a time; a second call joins the running one). */
  measure(): Promise<void> {
    this.running ??= this.walkAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Whether the running walk has yet to list `dir` (it then sees its files as they are now). */
  private walkWillList(dir: string): boolean {
    const w = this.walk!;
    for (let d = dir; ; d = parentOf(d)) {
      // listed already; or an ancestor was listed before this branch existed
      if (w.done.has(d)) return false;
      if (w.planned.has(d)) return true;
      if (d === '') return true;
    }
  }

  private async walkAll(): Promise<void> {
    const w: Walk = { done: new Set(), planned: new Set(['']), files: 0, bytes: 0 };
    this.walk = w;
    try {
      const stack = [''];
      while (stack.length) {
        const dir = stack.pop()!;
        for (;;) {
          const before = this.marks.get(dir);
          if (before && before.pending > 0) {
            await new Promise<void>((resolve) => this.waiters.push(resolve));
            continue;
          }
          const epoch = before?.epoch ?? 0;
          const seen = await this.list(dir);
          const after = this.marks.get(dir);
          if (after && (after.pending > 0 || after.epoch !== epoch)) continue;
          w.files += seen.files;
          w.bytes += seen.bytes;
          w.planned.delete(dir);
          w.done.add(dir);
          for (const d of seen.dirs) {
            w.planned.add(d);
            stack.push(d);
          }
          break;
        }
      }
      this.files = w.files;
      this.bytes = w.bytes;
      this.known = true;
    } finally {
      this.walk = undefined;
      for (const [d, m] of this.marks) if (m.pending === 0) this.marks.delete(d);
    }
  }

  /**
   * One directory: its regular files (count and bytes) and its subdirectories (dot-directories of the root are not
   * objects).
   */
  private async list(dir: string): Promise<{ files: number; bytes: number; dirs: string[] }> {
    const out = { files: 0, bytes: 0, dirs: [] as string[] };
    let entries;
    try {
      entries = await readdir(join(this.root, dir), { withFileTypes: true });
    } catch {
      return out;
    }
    const files: string[] = [];
    for (const e of entries) {
      if (dir === '' && e.name.startsWith('.')) continue;
      const key = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) out.dirs.push(key);
      else if (e.isFile()) files.push(key);
    }
    for (let i = 0; i < files.length; i += STAT_BATCH) {
      const sizes = await Promise.all(
        files.slice(i, i + STAT_BATCH).map((k) =>
          stat(join(this.root, k)).then(
            (s) => s.size,
            () => undefined,
          ),
        ),
      );
      for (const s of sizes) {
        if (s === undefined) continue; // removed meanwhile
        out.files++;
        out.bytes += s;
      }
    }
    return out;
  }
}
