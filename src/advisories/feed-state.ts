// What the feeds remember besides their records (the advisory store has no column for it): per
// feed, the validators of the copy held (a conditional GET answers 304 when nothing changed), when
// upstream last confirmed it and when it was last tried. A small JSON file per feed in the state
// directory, next to the downloads; the server and a command on the same host share it.
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';

export interface FeedState {
  /** the URL the validators belong to (a changed URL starts afresh) */
  url: string;
  etag: string | null;
  lastModified: string | null;
  /** upstream last confirmed the records held (an import, or a 304), epoch ms */
  checkedAt: number | null;
  /** the last attempt, whatever came of it, epoch ms */
  attemptAt: number | null;
}

const EMPTY: FeedState = { url: '', etag: null, lastModified: null, checkedAt: null, attemptAt: null };

/** Makes the directory, one level: the state directory itself is serve's to create. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o750 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** The directory of the feeds' state files and downloads: STATE_DIR/advisories. */
export function advisoryDir(config: Config): string {
  return path.join(config.stateDir || path.dirname(config.db), 'advisories');
}

const text = (v: unknown, max = 1000): string | null => (typeof v === 'string' && v.length <= max ? v : null);
const time = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

export async function readFeedState(dir: string, feed: string): Promise<FeedState> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(dir, `${feed}.state.json`), 'utf8'));
  } catch {
    return { ...EMPTY }; // none yet, or damaged: the next fetch is unconditional
  }
  if (typeof raw !== 'object' || raw === null) return { ...EMPTY };
  const r = raw as Record<string, unknown>;
  return {
    url: text(r['url'], 4096) ?? '',
    etag: text(r['etag']),
    lastModified: text(r['lastModified']),
    checkedAt: time(r['checkedAt']),
    attemptAt: time(r['attemptAt']),
  };
}

export async function writeFeedState(dir: string, feed: string, state: FeedState): Promise<void> {
  await ensureDir(dir);
  const file = path.join(dir, `${feed}.state.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state) + '\n', { mode: 0o640 });
  await rename(tmp, file);
}

/**
 * Removes downloads left by a process stopped while it fetched (`*.download` untouched for
 * `olderThanMs`: a download under way writes to its file all the time). Returns how many.
 */
export async function sweepDownloads(dir: string, olderThanMs: number, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const n of names.filter((x) => x.endsWith('.download'))) {
    const file = path.join(dir, n);
    const st = await stat(file).catch(() => undefined);
    if (st && now - st.mtimeMs >= olderThanMs) {
      await rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
