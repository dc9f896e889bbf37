// What `serve` checks before it creates anything (keyrings readable, the port free, every
// state path's parent present, no secret in a git work tree that does not ignore it), and
// then the directories it creates: at most one level each, never a silent deep tree.
import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Config } from '../config.js';
import { fail } from '../errors.js';
import { gitExposure } from '../sys/git-exposure.js';

export function checkKeyrings(config: Config): void {
  for (const b of config.backends.values()) {
    for (const k of b.keyrings) {
      try {
        if (!statSync(k).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        closeSync(openSync(k, 'r'));
      } catch (err) {
        fail(
          'CONFIG_INVALID',
          `backend.${b.name}.keyring: ${k} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): nothing it signs could be verified; name a readable keyring${k.startsWith('/usr/share/keyrings/debian-') ? ' or install the debian-archive-keyring package' : ''}`,
          { key: `backend.${b.name}.keyring` },
        );
      }
    }
  }
}

/** Binds the port for a moment: "in use" is reported before the database, cache and key exist. */
export async function checkPortFree(host: string, port: number, key = 'server.port'): Promise<void> {
  if (port === 0) return;
  const tryHost = (h: string) =>
    new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const s = net.createServer();
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err));
      s.listen({ host: h, port, exclusive: true }, () => s.close(() => resolve(undefined)));
    });
  let err = await tryHost(host);
  if (err && host === '::' && ['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes(err.code ?? ''))
    err = await tryHost('0.0.0.0');
  if (!err) return;
  const what =
    err.code === 'EADDRINUSE'
      ? 'is in use by another program: stop it or choose another port'
      : err.code === 'EACCES'
        ? 'needs privileges (ports below 1024): run as root, grant CAP_NET_BIND_SERVICE, or choose a port above 1023'
        : err.code === 'EADDRNOTAVAIL'
          ? `${host} is not an address of this machine: fix server.listen`
          : `cannot be bound (${err.code ?? err.message})`;
  fail('CONFIG_INVALID', `${key}: port ${port} on ${host} ${what}`, { key, code: err.code });
}

interface Planned {
  dir: string;
  key: string;
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/**
 * The directories serve will create: the state directory (when the database or the cache lives
 * in it) and the cache directory, each in a directory that exists. The database's own directory
 * must exist (or be the state directory).
 */
export function planStateDirs(config: Config): Planned[] {
  const stateDir = path.resolve(config.stateDir);
  const dbDir = path.dirname(path.resolve(config.db));
  const cacheDir = path.resolve(config.cacheDir);
  const plan: Planned[] = [];
  const ready = (dir: string) => isDir(dir) || plan.some((p) => p.dir === dir);
  const make = (dir: string, key: string) => {
    if (existsSync(dir)) {
      if (!statSync(dir).isDirectory()) fail('CONFIG_INVALID', `${key}: ${dir} exists and is not a directory`, { key });
      return;
    }
    const parent = path.dirname(dir);
    if (!ready(parent))
      fail(
        'CONFIG_INVALID',
        `${key}: ${parent} does not exist (serve makes ${path.basename(dir)}/ in an existing directory, never a whole tree): create it, or choose another path`,
        { key, missing: parent },
      );
    plan.push({ dir, key });
  };
  if (dbDir === stateDir || path.dirname(cacheDir) === stateDir) make(stateDir, 'server.state_dir');
  if (!ready(dbDir))
    fail('CONFIG_INVALID', `server.db: ${dbDir} does not exist: create it, or choose another path`, {
      key: 'server.db',
      missing: dbDir,
    });
  make(cacheDir, 'server.cache_dir');
  return plan;
}

/** The database and the signing key are secrets: never in a git work tree that would publish them. */
export async function checkNotExposed(config: Config, keyDir: string): Promise<void> {
  for (const [what, target, key] of [
    ['state database', path.resolve(config.db), 'server.db'],
    ["release gate's private signing key", keyDir, 'server.db'],
  ] as const) {
    if (existsSync(target)) continue; // made before: this check is about what serve creates
    const e = await gitExposure(target);
    if (!e.exposed) continue;
    fail(
      'STATE_EXPOSED',
      `refusing to create the ${what} at ${target}: it is inside the git work tree ${e.worktree} (${e.why}), one "git add ." from being published; add it to that tree's .gitignore or set ${key} (or server.state_dir) elsewhere`,
      { key, path: target },
    );
  }
}

export async function createStateDirs(plan: Planned[]): Promise<void> {
  for (const p of plan) await mkdir(p.dir, { mode: 0o750 });
}
