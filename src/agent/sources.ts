// add-source / remove-source: a deb822 file <sourcesDir>/aptgate-<name>.sources, written
// atomically, kept only if `apt-get update` then succeeds; otherwise the previous state comes back
// exactly (old content and mode, or no file) and apt's lists are refreshed again.
import { randomBytes } from 'node:crypto';
import { lstat, open, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { parseParagraphs } from '../index/deb822.js';
import type { RunOutcome } from './run.js';
import { SOURCE_NAME_RE } from '../protocol/wire.js';
import type { AptTarget } from './types.js';

const MAX_CONTENT = 64 * 1024;
const LINE_RE = /^(?:#.*|[ \t].*|[A-Za-z0-9][A-Za-z0-9-]*:.*|)$/;

export function sourcePath(target: AptTarget, name: string): string {
  if (!SOURCE_NAME_RE.test(name)) throw new Error(`invalid source name ${JSON.stringify(name)}`);
  return path.join(target.sourcesDir, `aptgate-${name}.sources`);
}

/** Why `content` is not a deb822 sources file apt would accept, or undefined when it is. */
export function sourcesContentError(content: string): string | undefined {
  if (Buffer.byteLength(content, 'utf8') > MAX_CONTENT) return `larger than ${MAX_CONTENT} bytes`;
  if (/[\0\r]/.test(content)) return 'contains NUL or CR characters';
  const bad = content.split('\n').findIndex((l) => !LINE_RE.test(l));
  if (bad !== -1) return `line ${bad + 1} is not a deb822 field`;
  const paragraphs = parseParagraphs(content);
  if (paragraphs.length === 0) return 'no source paragraph';
  for (const [i, p] of paragraphs.entries()) {
    const at = `paragraph ${i + 1}`;
    const types = (p['types'] ?? '').split(/\s+/).filter(Boolean);
    const uris = (p['uris'] ?? '').split(/\s+/).filter(Boolean);
    const suites = (p['suites'] ?? '').split(/\s+/).filter(Boolean);
    const components = (p['components'] ?? '').split(/\s+/).filter(Boolean);
    if (types.length === 0 || types.some((t) => t !== 'deb' && t !== 'deb-src'))
      return `${at}: Types must be deb and/or deb-src`;
    if (uris.length === 0 || uris.some((u) => !/^[a-z][a-z0-9+.-]*:\S+$/.test(u)))
      return `${at}: URIs must be absolute URIs`;
    if (suites.length === 0) return `${at}: no Suites`;
    const exact = suites.filter((s) => s.endsWith('/'));
    if (exact.length > 0 && exact.length !== suites.length) return `${at}: Suites mixes exact paths and suites`;
    if (exact.length === 0 && components.length === 0) return `${at}: no Components`;
    if (exact.length > 0 && components.length > 0) return `${at}: Components with an exact path suite`;
  }
  return undefined;
}

/** What was at a path before a change: a file (content, mode) or a symbolic link (its target). */
interface Previous {
  content: Buffer;
  mode: number;
  /** a link: put back as the link, never read through (inside a chroot it may point at the host's files) */
  link?: string;
}

async function previousOf(file: string): Promise<Previous | undefined> {
  try {
    const st = await lstat(file);
    if (st.isSymbolicLink()) return { content: Buffer.alloc(0), mode: 0, link: await readlink(file) };
    return { content: await readFile(file), mode: st.mode & 0o7777 };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Temp file in the same directory, fsync, rename over `file`, fsync the directory. */
export async function writeFileAtomic(file: string, data: Buffer | string, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

async function restore(file: string, prev: Previous | undefined): Promise<void> {
  if (prev?.link !== undefined) {
    await unlink(file).catch(() => undefined);
    await symlink(prev.link, file);
  } else if (prev) await writeFileAtomic(file, prev.content, prev.mode);
  else
    await unlink(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
}

export interface SourceChange {
  /** the change is in place and apt-get update succeeded */
  ok: boolean;
  /** exit code of the failed apt-get update (0 when ok) */
  exitCode: number;
  /** output of the apt-get update that failed (for classifying), '' when ok */
  failedOutput: string;
  /** the previous state was put back */
  restored: boolean;
  /** the file changed (and stayed changed) */
  changed: boolean;
  summary: string;
}

/** A file to write (or remove, when content is undefined). */
export interface FileChange {
  file: string;
  content: string | undefined;
}

/**
 * Writes the files (or removes those whose content is undefined), runs `update`, and puts the
 * previous state back when update fails (then runs `update` again so the lists match the sources).
 */
export async function changeFiles(
  changes: readonly FileChange[],
  update: () => Promise<RunOutcome>,
  what: string,
): Promise<SourceChange> {
  const prev = await Promise.all(changes.map((c) => previousOf(c.file)));
  const todo = changes
    .map((c, i) => ({ ...c, prev: prev[i] }))
    .filter((c) => {
      if (c.content === undefined) return c.prev !== undefined;
      return !(
        c.prev !== undefined &&
        c.prev.link === undefined &&
        c.prev.content.equals(Buffer.from(c.content, 'utf8')) &&
        c.prev.mode === 0o644
      );
    });
  if (changes.length === 1 && changes[0]!.content === undefined && prev[0] === undefined) {
    return {
      ok: true,
      exitCode: 0,
      failedOutput: '',
      restored: false,
      changed: false,
      summary: `${what}: not present, nothing to remove`,
    };
  }
  const done: typeof todo = [];
  try {
    for (const c of todo) {
      if (c.content === undefined) await unlink(c.file);
      else await writeFileAtomic(c.file, c.content, 0o644);
      done.push(c);
    }
  } catch (err) {
    // half a change is worse than none (a disk that filled up): what was written goes back
    for (const c of done) await restore(c.file, c.prev).catch(() => undefined);
    throw err;
  }
  const r = await update();
  if (r.code === 0) {
    return {
      ok: true,
      exitCode: 0,
      failedOutput: '',
      restored: false,
      changed: todo.length > 0,
      summary: `${what}: done, apt-get update succeeded`,
    };
  }
  if (!todo.length) {
    return {
      ok: false,
      exitCode: r.code,
      failedOutput: r.output,
      restored: false,
      changed: false,
      summary: `${what}: unchanged, but apt-get update failed`,
    };
  }
  for (const c of todo) await restore(c.file, c.prev);
  const again = await update();
  const tail = again.code === 0 ? 'lists refreshed' : `apt-get update still fails (exit ${again.code})`;
  return {
    ok: false,
    exitCode: r.code === -1 ? 1 : r.code,
    failedOutput: r.output,
    restored: true,
    changed: false,
    summary: `${what}: apt-get update failed, previous state restored, ${tail}`,
  };
}

function change(
  file: string,
  content: string | undefined,
  update: () => Promise<RunOutcome>,
  what: string,
): Promise<SourceChange> {
  return changeFiles([{ file, content }], update, what);
}

export function addSource(
  target: AptTarget,
  name: string,
  content: string,
  update: () => Promise<RunOutcome>,
): Promise<SourceChange> {
  return change(sourcePath(target, name), content, update, `add-source ${name}`);
}

export function removeSource(
  target: AptTarget,
  name: string,
  update: () => Promise<RunOutcome>,
): Promise<SourceChange> {
  return change(sourcePath(target, name), undefined, update, `remove-source ${name}`);
}
