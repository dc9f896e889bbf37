// Small immutable objects (pool files and by-hash indexes, which never change once stored)
// kept in memory, least recently used out first, so a hit on them costs no file system call.
export interface MemEntry {
  body: Buffer;
  lastModified: Date;
  /** identity of the file it was read from, and when that was last checked */
  ino: number;
  mtimeMs: number;
  checkedAt: number;
}

export class MemoryCache {
  private readonly entries = new Map<string, MemEntry>();
  private bytes = 0;
  readonly maxObject: number;

  constructor(private readonly budget: number) {
    this.maxObject = Math.min(256 * 1024, Math.floor(budget / 64));
  }

  get(key: string): MemEntry | undefined {
    const e = this.entries.get(key);
    if (e) {
      // re-insert: Map order is the recency order
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  fits(size: number): boolean {
    return size <= this.maxObject;
  }

  set(key: string, entry: MemEntry): void {
    if (!this.fits(entry.body.length)) return;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.body.length;
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    this.bytes += entry.body.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.budget) break;
      this.entries.delete(k);
      this.bytes -= v.body.length;
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
      this.bytes -= e.body.length;
    }
  }

  get size(): { objects: number; bytes: number } {
    return { objects: this.entries.size, bytes: this.bytes };
  }
}
