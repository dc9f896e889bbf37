// Reading an apt-cacher-ng cache directory as Debian's package lays it out
// (/var/cache/apt-cacher-ng): `<repository>/<path>` for what a Remap- rule covers (debrep,
// secdeb, uburep, ...), `<host>/<path>` for any other URL (acng drops the port), each
// downloaded file beside `<file>.head`, the upstream answer's headers as acng kept them (status
// line, Content-Length, Last-Modified, X-Original-Source). Top-level names starting with `_`
// are acng's own (_import, _xstore, _actmp, _expending_dat, ...). Only read, never written.
import type { Dirent } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackendConfig, Config } from '../config.js';
import { fail } from '../errors.js';

/**
 * acng's stock Remap- repositories (/etc/apt-cacher-ng/acng.conf) and the archive each merges,
 * as host/path prefixes a backend's mirrors or aliases name.
 */
export const REMAP_REPOSITORIES: Readonly<Record<string, readonly string[]>> = {
  debrep: [
    'deb.debian.org/debian',
    'ftp.debian.org/debian',
    'httpredir.debian.org/debian',
    'cdn-fastly.deb.debian.org/debian',
  ],
  secdeb: [
    'deb.debian.org/debian-security',
    'security.debian.org/debian-security',
    'security.debian.org',
    'cdn-fastly.deb.debian.org/debian-security',
  ],
  uburep: ['archive.ubuntu.com/ubuntu', 'security.ubuntu.com/ubuntu'],
  klxrep: ['http.kali.org/kali'],
};

export interface AcngHead {
  status: number;
  contentLength: number | undefined;
  lastModified: Date | undefined;
  /** X-Original-Source: the URL acng fetched the file from */
  source: string | undefined;
}

/** A file of the acng cache that belongs to a backend. */
export interface AcngFile {
  /** relative to the acng cache directory */
  path: string;
  abs: string;
  size: number;
  mtimeMs: number;
  backend: BackendConfig;
  /** the path inside the backend (dists/..., pool/...) */
  rel: string;
  head: AcngHead | undefined;
}

export type WalkRefusal = 'no-backend' | 'acng-internal' | 'not-regular' | 'bad-path' | 'head-only';

export interface WalkRefused {
  path: string;
  reason: WalkRefusal;
  detail: string;
  /** for a whole directory: how many files and bytes it holds */
  files?: number;
  bytes?: number;
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_PATH = 2048;

/** acng's .head file: `HTTP/1.1 200 OK` and header lines (CRLF), an empty line; undefined when not one. */
export function parseHead(text: string): AcngHead | undefined {
  const lines = text.split(/\r?\n/);
  const status = /^HTTP\/1\.[01] (\d{3})\b/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const cl = fields.get('content-length');
  const lm = fields.get('last-modified');
  const lmDate = lm ? new Date(lm) : undefined;
  return {
    status: Number(status[1]),
    contentLength: cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : undefined,
    lastModified: lmDate && !Number.isNaN(lmDate.getTime()) ? lmDate : undefined,
    source: fields.get('x-original-source'),
  };
}

async function readHead(file: string): Promise<AcngHead | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(MAX_HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, MAX_HEAD_BYTES, 0);
    return parseHead(buf.subarray(0, bytesRead).toString('latin1'));
  } finally {
    await fh.close();
  }
}

/** `host/path` of a mirror URL or alias, without port: acng names host directories so. */
function prefixOf(hostPath: string): string {
  const clean = hostPath.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  const slash = clean.indexOf('/');
  const host = (slash < 0 ? clean : clean.slice(0, slash)).toLowerCase().replace(/:\d+$/, '');
  return slash < 0 ? host : host + clean.slice(slash);
}

type DirMapping = { kind: 'backend'; backend: BackendConfig; how: string } | { kind: 'hosts' } | { kind: 'none' };

/** Which backend each top-level directory of the acng cache belongs to. */
export class AcngMapping {
  private readonly prefixes: Array<{ prefix: string; backend: BackendConfig }> = [];

  /** `explicit`: acng directory → backend name (`--map debrep=debian`), before any rule */
  constructor(
    private readonly config: Config,
    private readonly explicit: ReadonlyMap<string, string> = new Map(),
  ) {
    for (const [dir, name] of explicit) {
      if (!config.backends.has(name))
        fail('USAGE', `--map ${dir}=${name}: no backend "${name}" is configured`, { backend: name });
      if (dir.includes('/') || dir === '' || dir.startsWith('.'))
        fail('USAGE', `--map ${dir}=${name}: "${dir}" is not a top-level directory name`, { dir });
    }
    for (const b of config.backends.values()) {
      for (const m of [...b.mirrors, ...b.aliases]) this.prefixes.push({ prefix: prefixOf(m), backend: b });
    }
    this.prefixes.sort((x, y) => y.prefix.length - x.prefix.length);
  }

  dir(name: string): DirMapping {
    const named = this.explicit.get(name);
    if (named) return { kind: 'backend', backend: this.config.backends.get(named)!, how: `--map ${name}=${named}` };
    for (const candidate of REMAP_REPOSITORIES[name] ?? []) {
      const p = this.prefixes.find((x) => x.prefix === candidate);
      if (p) return { kind: 'backend', backend: p.backend, how: `acng repository ${name} = ${candidate}` };
    }
    // a host name (acng keeps URLs no remap rule covers under their host)
    if (/^[a-z0-9-]+(\.[a-z0-9-]+)+$|^localhost$|^\[[0-9a-f:.]+\]$/i.test(name)) return { kind: 'hosts' };
    return { kind: 'none' };
  }

  /** The backend of a `host/path...` below a host directory, and the path inside it. */
  match(hostPath: string): { backend: BackendConfig; rel: string } | undefined {
    const lower = hostPath.replace(/^[^/]+/, (h) => h.toLowerCase());
    for (const p of this.prefixes) {
      if (lower.startsWith(p.prefix + '/')) return { backend: p.backend, rel: hostPath.slice(p.prefix.length + 1) };
    }
    return undefined;
  }
}

function safePath(rel: string): boolean {
  if (rel.length > MAX_PATH) return false;
  return rel
    .split('/')
    .every(
      (s) => s !== '' && s !== '.' && s !== '..' && !/[\u0000-\u001f\u007f\\]/.test(s) && Buffer.byteLength(s) <= 255,
    );
}

export type WalkItem = { file: AcngFile } | { refused: WalkRefused };

/**
 * Every file of the acng cache: those of a backend with their .head, the rest refused (a
 * directory no backend serves, or acng's own, once with its file count and size).
 */
export async function* walkAcng(root: string, mapping: AcngMapping): AsyncGenerator<WalkItem> {
  let top: Dirent[];
  try {
    top = await readdir(root, { withFileTypes: true });
  } catch (err) {
    fail('USAGE', `${root}: cannot read the apt-cacher-ng cache directory: ${(err as Error).message}`);
  }
  top.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of top) {
    const name = entry.name;
    if (name.startsWith('_') || name.startsWith('.')) {
      const t = entry.isDirectory() ? await tally(join(root, name)) : { files: 1, bytes: 0 };
      yield {
        refused: {
          path: name,
          reason: 'acng-internal',
          detail: "apt-cacher-ng's own bookkeeping, not cached content",
          ...t,
        },
      };
      continue;
    }
    if (!entry.isDirectory()) {
      yield { refused: { path: name, reason: 'not-regular', detail: 'not a repository or host directory' } };
      continue;
    }
    const m = mapping.dir(name);
    if (m.kind === 'none') {
      yield {
        refused: {
          path: name,
          reason: 'no-backend',
          detail: `no backend for "${name}" (name one with --map ${name}=BACKEND)`,
          ...(await tally(join(root, name))),
        },
      };
      continue;
    }
    const unmatched = new Map<string, { files: number; bytes: number }>();
    for await (const f of filesBelow(root, name)) {
      if ('refused' in f) {
        yield f;
        continue;
      }
      const inDir = f.path.slice(name.length + 1);
      const target = m.kind === 'backend' ? { backend: m.backend, rel: inDir } : mapping.match(f.path);
      if (!target) {
        // counted per host/first-segment: the backend a whole subtree lacks
        const group = f.path.split('/').slice(0, 2).join('/');
        const u = unmatched.get(group) ?? { files: 0, bytes: 0 };
        u.files++;
        u.bytes += f.size;
        unmatched.set(group, u);
        continue;
      }
      if (!safePath(target.rel)) {
        yield {
          refused: {
            path: f.path,
            reason: 'bad-path',
            detail: 'a path no archive has (empty, ".", ".." or control characters)',
          },
        };
        continue;
      }
      yield { file: { ...f, backend: target.backend, rel: target.rel } };
    }
    for (const [group, t] of unmatched) {
      yield {
        refused: {
          path: group,
          reason: 'no-backend',
          detail: `no backend's mirror or alias is ${group} (name one with --map, or add an alias)`,
          ...t,
        },
      };
    }
  }
}

type Found = Omit<AcngFile, 'backend' | 'rel'>;

/** Regular files below `<root>/<dir>`, paired with their .head; symlinks and the like are refused. */
async function* filesBelow(root: string, dir: string): AsyncGenerator<Found | { refused: WalkRefused }> {
  const stack = [dir];
  while (stack.length) {
    const rel = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true });
    } catch {
      yield { refused: { path: rel, reason: 'not-regular', detail: 'directory cannot be read' } };
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    for (const e of entries) {
      const path = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        stack.push(path);
        continue;
      }
      if (!e.isFile()) {
        // a symlink may lead anywhere: never followed
        yield {
          refused: {
            path,
            reason: 'not-regular',
            detail: e.isSymbolicLink() ? 'a symbolic link (never followed)' : 'not a regular file',
          },
        };
        continue;
      }
      if (e.name.endsWith('.head')) {
        if (!files.has(e.name.slice(0, -5)))
          yield { refused: { path, reason: 'head-only', detail: 'headers of a download whose file is gone' } };
        continue;
      }
      const abs = join(root, path);
      const st = await lstat(abs).catch(() => undefined);
      if (!st?.isFile()) continue; // gone meanwhile
      const head = files.has(`${e.name}.head`) ? await readHead(`${abs}.head`) : undefined;
      yield { path, abs, size: st.size, mtimeMs: st.mtimeMs, head };
    }
  }
}

async function tally(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    const entries = await readdir(d, { withFileTypes: true }).catch(() => [] as Dirent[]);
    for (const e of entries) {
      if (e.isDirectory()) stack.push(join(d, e.name));
      else if (e.isFile() && !e.name.endsWith('.head')) {
        files++;
        bytes += (await lstat(join(d, e.name)).catch(() => undefined))?.size ?? 0;
      }
    }
  }
  return { files, bytes };
}
