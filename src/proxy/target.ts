// What a client asked for: the backend and the decoded path inside it, from either an
// absolute-form request (proxy mode), `/<backend>/...` (remap mode) or `/<host>/<path>`
// (apt-cacher-ng style). Anything that could leave the cache directory is refused here.
import type { BackendConfig, Config } from '../config.js';
import { fail } from '../errors.js';

export interface Target {
  backend: BackendConfig;
  /** decoded path relative to the backend's base, no leading slash */
  path: string;
  mode: 'proxy' | 'remap';
  /** cache key: backend name + path */
  key: string;
}

interface Prefix {
  hostPath: string;
  backend: BackendConfig;
}

export class BackendMap {
  private readonly prefixes: Prefix[] = [];
  /** backends made on demand (a site's view of its parent's stages, site-stages.ts): never matched by a client's URL */
  private readonly onDemand = new Map<string, BackendConfig>();

  constructor(readonly config: Config) {
    for (const b of config.backends.values()) {
      for (const m of b.mirrors) {
        const u = new URL(m);
        this.prefixes.push({ hostPath: `${hostOf(u.protocol, u.host)}${u.pathname.replace(/\/+$/, '')}`, backend: b });
      }
      for (const a of b.aliases) this.prefixes.push({ hostPath: a.replace(/\/+$/, ''), backend: b });
    }
    // longest first, so /debian-security wins over /debian
    this.prefixes.sort((x, y) => y.hostPath.length - x.hostPath.length);
  }

  byName(name: string): BackendConfig | undefined {
    return this.config.backends.get(name);
  }

  /** A configured backend or one made on demand, by name (the refresher's and the indexes' lookup). */
  named(name: string): BackendConfig | undefined {
    return this.config.backends.get(name) ?? this.onDemand.get(name);
  }

  /** Adds (or replaces) a backend made on demand; its name must not be a configured one's. */
  adopt(backend: BackendConfig): void {
    if (this.config.backends.has(backend.name)) throw new Error(`${backend.name} is a configured backend`);
    this.onDemand.set(backend.name, backend);
  }

  /** The backends made on demand. */
  adopted(): BackendConfig[] {
    return [...this.onDemand.values()];
  }

  /** `host[:port]/raw/path` → backend and the raw remainder after its base. */
  match(hostPath: string): { backend: BackendConfig; rest: string } | undefined {
    for (const p of this.prefixes) {
      if (hostPath === p.hostPath) return { backend: p.backend, rest: '' };
      if (hostPath.startsWith(p.hostPath) && hostPath[p.hostPath.length] === '/') {
        return { backend: p.backend, rest: hostPath.slice(p.hostPath.length + 1) };
      }
    }
    return undefined;
  }
}

function hostOf(protocol: string, host: string): string {
  const h = host.toLowerCase();
  if (protocol === 'http:' && h.endsWith(':80')) return h.slice(0, -3);
  if (protocol === 'https:' && h.endsWith(':443')) return h.slice(0, -4);
  return h;
}

const MAX_PATH = 2048;

/** Decodes and checks a raw path (no leading slash). Throws BAD_PATH. */
export function decodePath(raw: string): string {
  if (raw.length > MAX_PATH) fail('BAD_PATH', 'path too long', { path: raw.slice(0, 200) });
  const segments = raw.split('/');
  const out: string[] = [];
  for (const seg of segments) {
    if (/%(2f|5c|00)/i.test(seg)) fail('BAD_PATH', 'encoded slash, backslash or NUL in path', { path: raw });
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      fail('BAD_PATH', 'malformed percent-encoding in path', { path: raw });
    }
    if (d === '' || d === '.' || d === '..') fail('BAD_PATH', 'empty, "." or ".." path segment', { path: raw });
    if (/[\u0000-\u001f\u007f\\]/.test(d)) fail('BAD_PATH', 'control character or backslash in path', { path: raw });
    if (Buffer.byteLength(d) > 255) fail('BAD_PATH', 'path segment too long', { path: raw.slice(0, 200) });
    out.push(d);
  }
  return out.join('/');
}

function stripQuery(s: string): string {
  const q = s.search(/[?#]/);
  return q === -1 ? s : s.slice(0, q);
}

const NOT_A_BACKEND_HINT =
  'aptgate only serves its configured backends; add one with `--backend NAME=URL` or a [backend NAME] section (mirrors = URL) in the configuration file';

/** Resolves the request target of a GET/HEAD. */
export function resolveTarget(rawUrl: string, backends: BackendMap): Target {
  const abs = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(rawUrl);
  if (abs) {
    const protocol = `${abs[1]!.toLowerCase()}:`;
    const authority = abs[2]!;
    if (authority.includes('@'))
      fail('BAD_REQUEST', 'credentials in the request URL are not accepted', { url: rawUrl });
    const host = hostOf(protocol, authority);
    const rawPath = stripQuery(abs[3]!).replace(/^\//, '');
    decodePath(rawPath); // traversal is a 400 whatever the host
    const m = backends.match(`${host}/${rawPath}`);
    if (!m)
      fail(
        'NOT_A_BACKEND',
        `${host}/${rawPath.split('/')[0] ?? ''} is not a configured backend: ${NOT_A_BACKEND_HINT}`,
        { host },
      );
    const path = decodePath(m.rest);
    return { backend: m.backend, path, mode: 'proxy', key: `${m.backend.name}/${path}` };
  }
  if (!rawUrl.startsWith('/'))
    fail('BAD_PATH', 'request target must be an absolute URL or start with /', { url: rawUrl.slice(0, 200) });
  const raw = stripQuery(rawUrl).slice(1);
  decodePath(raw); // traversal is a 400 whatever the first segment
  const slash = raw.indexOf('/');
  const first = slash === -1 ? raw : raw.slice(0, slash);
  const rest = slash === -1 ? '' : raw.slice(slash + 1);
  const named = backends.byName(first);
  if (named) {
    const path = decodePath(rest);
    return { backend: named, path, mode: 'remap', key: `${named.name}/${path}` };
  }
  if (first.includes('.') || first.includes(':')) {
    const m = backends.match(`${first.toLowerCase()}/${rest}`);
    if (m) {
      const path = decodePath(m.rest);
      return { backend: m.backend, path, mode: 'remap', key: `${m.backend.name}/${path}` };
    }
  }
  fail('NOT_A_BACKEND', `"/${first}" names no configured backend: ${NOT_A_BACKEND_HINT}`, { first });
}
