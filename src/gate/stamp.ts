// Last-Modified of a stage's files. apt asks for InRelease with If-Modified-Since (the date it
// was given, to the second) and keeps its lists on a 304: two generations of a suite written
// within one second would both say that second, and apt would never see the second one (a
// machine upgraded to the older content; the gate test's qa machine "still outdated"). So the
// files of each new write of a suite are dated at least a second after the previous write's.
import { readdir, stat, utimes } from 'node:fs/promises';
import path from 'node:path';

const second = (ms: number) => Math.floor(ms / 1000) * 1000;

export class PublishStamps {
  private readonly last = new Map<string, number>();

  /**
   * The date for a suite's files written now: this second, or one after the last date given to
   * the suite (`before`: what its files said before they were written again, if they were).
   */
  next(key: string, now: number, before = 0): number {
    const prev = Math.max(this.last.get(key) ?? 0, second(before));
    const stamp = Math.max(second(now), prev ? prev + 1000 : 0);
    this.last.set(key, stamp);
    return stamp;
  }
}

/** The modification time of a published file, 0 when there is none. */
export async function mtimeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

/** Dates every file under `dir` (a generation's dists/) with `ms`. */
export async function stampTree(dir: string, ms: number): Promise<void> {
  const when = new Date(ms);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) await utimes(path.join(e.parentPath ?? e.path, e.name), when, when);
  }
}
