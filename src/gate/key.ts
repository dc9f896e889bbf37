// The server's own OpenPGP signing key: it signs the InRelease (and Release.gpg) of every stage
// view, so clients trust aptgate's key for stage repositories instead of the upstream archive's.
//
// The key lives in its own GNUPGHOME (mode 0700). The first open() creates it non-interactively;
// concurrent first opens (two processes starting at once) serialise on a lock directory inside
// the home and re-check for a key after taking it, so exactly one key is made. Every gpg run gets
// GNUPGHOME, --batch --no-tty --quiet and an argument vector (src/sys/exec.ts, never a shell).
//
// Ed25519 by default: gpgv 2.1+ verifies it (Debian 9+, Ubuntu 18.04+; bookworm's apt 2.6 with
// gpgv 2.2 and trixie's sqv both accept it) and signatures are small and fast. 'rsa3072' is there
// for clients whose gpgv predates 2.1.
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AptgateError, fail } from '../errors.js';
import { exec, execOk, type ExecResult } from '../sys/exec.js';
import { pathExists } from '../sys/fs.js';
import { processAlive } from '../sys/process.js';

export type KeyAlgorithm = 'ed25519' | 'rsa3072';

export interface ServerKeyOptions {
  /** goes into the user ID "aptgate server key (<name>)"; default os.hostname() */
  name?: string;
  /** only used when a key is created; default 'ed25519' */
  algorithm?: KeyAlgorithm;
  /** how long to wait for another process creating the key; default 120 s */
  lockTimeoutMs?: number;
  /** false: open an existing key only (administrative commands never create one); default true */
  create?: boolean;
}

const LOCK_DIR = '.aptgate-key.lock';
const FINGERPRINT_FILE = 'aptgate-fingerprint';
/** a lock whose owner cannot be checked (other host, no owner file) is stale after this long */
const LOCK_STALE_MS = 10 * 60_000;

function gpgEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: home, LC_ALL: 'C' };
  delete env.GPG_AGENT_INFO;
  return env;
}

function gpg(home: string, args: readonly string[], input?: Buffer): Promise<ExecResult> {
  return execOk(
    'gpg',
    [
      '--batch',
      '--no-tty',
      '--quiet',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--no-auto-check-trustdb',
      ...args,
    ],
    { env: gpgEnv(home), input, timeoutMs: 120_000 },
  );
}

interface SecretKey {
  fingerprint: string;
  created: number;
}

/**
 * Keys of the home that can sign: not expired, revoked, invalid or disabled, with the secret part
 * of a signing (sub)key in private-keys-v1.d. Read from the public listing and the key files, not
 * through gpg-agent: another process's close() may be stopping the agent at this very moment,
 * and a failed query must never look like "no key yet".
 */
async function signingKeys(home: string): Promise<SecretKey[]> {
  const colons = (
    await gpg(home, ['--with-colons', '--fixed-list-mode', '--with-keygrip', '--list-keys'])
  ).stdout.toString('utf8');
  const found: Array<SecretKey & { ok: boolean; grips: string[] }> = [];
  let signs = false;
  for (const line of colons.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub') {
      found.push({
        fingerprint: '',
        created: Number(f[5]) || 0,
        ok: !/[eird]/.test(f[1] ?? '') && (f[11] ?? '').includes('S'),
        grips: [],
      });
    }
    const key = found[found.length - 1];
    if (f[0] === 'pub' || f[0] === 'sub') signs = (f[11] ?? '').includes('s') && !/[eir]/.test(f[1] ?? '');
    else if (f[0] === 'fpr' && key && key.fingerprint === '') key.fingerprint = f[9] ?? '';
    else if (f[0] === 'grp' && key && signs && /^[0-9A-F]{40}$/.test(f[9] ?? '')) key.grips.push(f[9]!);
  }
  const keys: SecretKey[] = [];
  for (const k of found) {
    if (!k.ok || !/^[0-9A-F]{40,64}$/.test(k.fingerprint)) continue;
    for (const grip of k.grips) {
      if (await pathExists(path.join(home, 'private-keys-v1.d', `${grip}.key`))) {
        keys.push({ fingerprint: k.fingerprint, created: k.created });
        break;
      }
    }
  }
  return keys;
}

/** The recorded key if it is still usable, else the oldest usable one (all openers agree). */
async function findKey(home: string): Promise<string | undefined> {
  const keys = await signingKeys(home);
  if (keys.length === 0) return undefined;
  let recorded: string | undefined;
  try {
    recorded = (await readFile(path.join(home, FINGERPRINT_FILE), 'utf8')).trim();
  } catch {
    /* none yet */
  }
  if (recorded && keys.some((k) => k.fingerprint === recorded)) return recorded;
  keys.sort((a, b) => a.created - b.created || (a.fingerprint < b.fingerprint ? -1 : 1));
  return keys[0]!.fingerprint;
}

async function record(home: string, fingerprint: string): Promise<void> {
  const tmp = path.join(home, `.${FINGERPRINT_FILE}.${process.pid}`);
  await writeFile(tmp, `${fingerprint}\n`, { mode: 0o644 });
  await rename(tmp, path.join(home, FINGERPRINT_FILE));
}

async function isStale(lockDir: string): Promise<boolean> {
  let since: number;
  try {
    since = (await stat(lockDir)).mtimeMs;
  } catch {
    return false; // gone already: just retry
  }
  try {
    const [pid, host] = (await readFile(path.join(lockDir, 'owner'), 'utf8')).trim().split(' ');
    if (host === os.hostname() && Number(pid) > 0) return !processAlive(Number(pid));
  } catch {
    /* the owner may not have written it yet */
  }
  return Date.now() - since > LOCK_STALE_MS;
}

/** mkdir is atomic: whoever creates the lock directory holds the lock. */
async function takeLock(home: string, timeoutMs: number): Promise<() => Promise<void>> {
  const lockDir = path.join(home, LOCK_DIR);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, 'owner'), `${process.pid} ${os.hostname()}\n`);
      return () => rm(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await isStale(lockDir)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) fail('SIGNING_KEY', `${lockDir} is held by another process`, { lock: lockDir });
    await sleep(50 + Math.random() * 50);
  }
}

export class ServerKey {
  /** the GNUPGHOME */
  readonly dir: string;
  /** full fingerprint of the primary key, upper-case hex */
  readonly fingerprint: string;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, fingerprint: string) {
    this.dir = dir;
    this.fingerprint = fingerprint;
  }

  /** Opens the key kept in `dir`, creating the directory (0700) and the key when there is none. */
  static async open(dir: string, opts: ServerKeyOptions = {}): Promise<ServerKey> {
    const home = path.resolve(dir);
    if (opts.create === false) {
      const found = (await pathExists(home)) ? await findKey(home) : undefined;
      if (!found)
        fail('SIGNING_KEY', `no signing key in ${home} yet: the server makes it at its first start (aptgate serve)`, {
          dir: home,
        });
      return new ServerKey(home, found);
    }
    await mkdir(home, { recursive: true, mode: 0o700 });
    await chmod(home, 0o700);
    try {
      return await ServerKey.openHome(home, opts);
    } catch (err) {
      await exec('gpgconf', ['--kill', 'gpg-agent'], { env: gpgEnv(home), timeoutMs: 30_000 }).catch(() => undefined);
      throw err;
    }
  }

  private static async openHome(home: string, opts: ServerKeyOptions): Promise<ServerKey> {
    // unlocked, this read may meet another process writing its new key (gpg: "invalid packet"):
    // then ask again under the lock, where nobody writes
    const found = await findKey(home).catch(() => undefined);
    if (found) return new ServerKey(home, found);
    const release = await takeLock(home, opts.lockTimeoutMs ?? 120_000);
    try {
      const again = await findKey(home); // another process may have made it while we waited
      if (again) return new ServerKey(home, again);
      const name = (opts.name ?? os.hostname()).replace(/[()<>\n\r]/g, ' ').trim() || 'aptgate';
      await gpg(home, [
        '--quick-gen-key',
        `aptgate server key (${name})`,
        opts.algorithm ?? 'ed25519',
        'sign',
        'never',
      ]);
      const made = await findKey(home);
      if (!made) fail('SIGNING_KEY', `gpg made no usable signing key in ${home}`, { dir: home });
      await record(home, made);
      return new ServerKey(home, made);
    } finally {
      await release();
    }
  }

  /** The public key, ASCII-armored (for `Signed-By:` inline or a .asc keyring). */
  async exportArmored(): Promise<string> {
    const r = await gpg(this.dir, ['--armor', '--export-options', 'export-minimal', '--export', this.fingerprint]);
    return r.stdout.toString('utf8');
  }

  /** The public key as a binary keyring (a /usr/share/keyrings-style Signed-By file). */
  async exportBinary(): Promise<Buffer> {
    const r = await gpg(this.dir, ['--export-options', 'export-minimal', '--export', this.fingerprint]);
    if (r.stdout.length === 0) fail('SIGNING_KEY', `gpg exported nothing for ${this.fingerprint}`, { dir: this.dir });
    return r.stdout;
  }

  /** A clearsigned copy of data (InRelease). */
  clearsign(data: Buffer): Promise<Buffer> {
    return this.sign(['--clearsign'], data);
  }

  /** An armored detached signature of data (Release.gpg). */
  detachSign(data: Buffer): Promise<Buffer> {
    return this.sign(['--armor', '--detach-sign'], data);
  }

  /** Stops the gpg-agent of this home (gpg starts one for secret-key operations). */
  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    await exec('gpgconf', ['--kill', 'gpg-agent'], { env: gpgEnv(this.dir), timeoutMs: 30_000 });
  }

  // gpg-agent 2.2 can fail two concurrent signatures with one key: this process signs one at a
  // time. A failure is retried: another process on the same home may be signing at the same
  // moment, or stopping the agent in its close() (the next gpg run starts a new one).
  private sign(mode: string[], data: Buffer): Promise<Buffer> {
    const args = ['--local-user', this.fingerprint, '--digest-algo', 'SHA512', ...mode];
    const run = this.queue
      .catch(() => undefined)
      .then(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return (await gpg(this.dir, args, data)).stdout;
          } catch (err) {
            if (attempt >= 4 || !(err instanceof AptgateError)) throw err;
            await sleep(100 * 2 ** attempt);
          }
        }
      });
    this.queue = run;
    return run;
  }
}
