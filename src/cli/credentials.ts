// Where `aptgate login` keeps the API token of each server: $APTGATE_CREDENTIALS, else
// $XDG_CONFIG_HOME/aptgate/credentials.json (~/.config/...), a file only its owner may read
// (0600 in a 0700 directory, written whole and renamed into place). A file that others can read
// is refused rather than used: the token in it is someone's role on the fleet.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.js';

export interface SavedLogin {
  token: string;
  tokenId: number;
  user: string;
  role: string;
  expiresAt: string;
}

interface CredentialsFile {
  servers: Record<string, SavedLogin>;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.APTGATE_CREDENTIALS) return env.APTGATE_CREDENTIALS;
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'aptgate', 'credentials.json');
}

function read(file: string): CredentialsFile {
  let text: string;
  try {
    const st = statSync(file);
    if ((st.mode & 0o077) !== 0) fail('USAGE', `${file} can be read by others: chmod 600 it (or log in again)`);
    // a file someone else put there would hand us their token for the server (or a server of theirs)
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid)
      fail('USAGE', `${file} belongs to another user (uid ${st.uid}): remove it and log in again`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CredentialsFile>;
    if (parsed && typeof parsed.servers === 'object' && parsed.servers !== null) return { servers: parsed.servers };
  } catch {
    // falls through to the error below
  }
  fail('USAGE', `${file} is not a credentials file of aptgate login; remove it and log in again`);
}

function write(file: string, c: CredentialsFile): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // a new file of ours ('wx': never through a link someone left at a name they could guess)
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function savedLogin(server: string, file = credentialsPath()): SavedLogin | undefined {
  return read(file).servers[server];
}

export function saveLogin(server: string, login: SavedLogin, file = credentialsPath()): void {
  const c = read(file);
  c.servers[server] = login;
  write(file, c);
}

export function forgetLogin(server: string, file = credentialsPath()): SavedLogin | undefined {
  const c = read(file);
  const had = c.servers[server];
  if (had) {
    delete c.servers[server];
    write(file, c);
  }
  return had;
}
