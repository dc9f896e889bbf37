/**
 * Throwaway OpenPGP signing keys for test archives (see test/fixtures/gpg/README.md).
 *
 * Agent handling: gpg 2.2 cannot use secret keys without a gpg-agent, so `--no-autostart` is not an
 * option for importing or signing. Every TestKey gets its own GNUPGHOME (mode 0700) and therefore its
 * own agent, which gpg autostarts on first use (the import in loadTestKey) with its sockets inside
 * that home; concurrent gpg calls on the same home share that one agent. There is no shared state
 * between test processes. The agent exits by itself shortly after its home directory is deleted
 * (gpg-agent watches the home with inotify), so deleting the test's temp dir is enough; call
 * disposeTestKey() to stop it right away (`gpgconf --homedir H --kill gpg-agent`).
 *
 * Every gpg call passes `--homedir`, `--batch`, `--no-tty`, `--pinentry-mode loopback --passphrase ''`
 * and runs with GNUPGHOME removed from the environment and LC_ALL=C.
 */
import { mkdtemp, chmod, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exec, execOk } from './exec.js';
import { fixturesDir } from './paths.js';

export interface TestKey {
  /** a fresh GNUPGHOME (mode 0700) with the secret key imported */
  home: string;
  /**
   * a binary (non-armored) public keyring holding only this key: usable by `gpgv --keyring FILE` and apt's Signed-By
   */
  keyring: string;
  /** full 40-hex-digit fingerprint of the primary key, upper case */
  fingerprint: string;
}

export type TestKeyName = 'archive' | 'rogue';

/** Path of the committed armored secret key. */
export function secretKeyFile(which: TestKeyName = 'archive'): string {
  return path.join(fixturesDir, 'gpg', `${which}-secret.asc`);
}

function gpgEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C' };
  delete env.GNUPGHOME;
  delete env.GPG_AGENT_INFO;
  return env;
}

function gpgArgs(home: string, ...rest: string[]): string[] {
  return [
    '--homedir',
    home,
    '--batch',
    '--no-tty',
    '--quiet',
    '--pinentry-mode',
    'loopback',
    '--passphrase',
    '',
    '--trust-model',
    'always',
    '--no-auto-check-trustdb',
    ...rest,
  ];
}

function gpg(home: string, args: string[], input?: Buffer): Promise<Buffer> {
  return execOk('gpg', gpgArgs(home, ...args), { env: gpgEnv(), input, timeoutMs: 60_000 });
}

// Unix socket paths are limited to 107 bytes; gpg puts S.gpg-agent.browser inside the home.
const MAX_HOME_LEN = 107 - '/S.gpg-agent.browser'.length;

/**
 * Creates a fresh GNUPGHOME under `dir` with the committed `which` secret key imported and exports its
 * public key as a binary keyring next to it (`<home>.keyring.gpg`).
 */
export async function loadTestKey(dir: string, which: TestKeyName = 'archive'): Promise<TestKey> {
  const home = await mkdtemp(path.join(path.resolve(dir), `gnupg-${which}-`));
  if (home.length > MAX_HOME_LEN) {
    await rm(home, { recursive: true, force: true });
    throw new Error(
      `GNUPGHOME path too long for gpg-agent sockets (${home.length} > ${MAX_HOME_LEN} chars): ${home}; use a shorter dir (e.g. under os.tmpdir())`,
    );
  }
  await chmod(home, 0o700);
  await gpg(home, ['--import', secretKeyFile(which)]);
  const colons = (await gpg(home, ['--with-colons', '--list-secret-keys'])).toString('utf8');
  const fpr = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(colons);
  if (!fpr) throw new Error(`no fingerprint in gpg output:\n${colons}`);
  const fingerprint = fpr[1]!;
  const keyring = `${home}.keyring.gpg`;
  const pub = await gpg(home, ['--export', fingerprint]);
  if (pub.length === 0 || pub[0] === 0x2d /* '-': armored?! */) throw new Error('gpg --export returned no binary key');
  await writeFile(keyring, pub, { mode: 0o644 });
  return { home, keyring, fingerprint };
}

// gpg-agent 2.2 sometimes fails two concurrent signatures with one key ("Unmatched parentheses
// in S-expression"): signatures of one key home are made one after the other.
const signing = new Map<string, Promise<unknown>>();
function serialised(key: TestKey, args: string[], data: Buffer): Promise<Buffer> {
  const run = (signing.get(key.home) ?? Promise.resolve()).catch(() => undefined).then(() => gpg(key.home, args, data));
  signing.set(key.home, run);
  return run;
}

/** `gpg --clearsign --digest-algo SHA256` of data (InRelease style). */
export function clearsign(key: TestKey, data: Buffer): Promise<Buffer> {
  return serialised(key, ['--local-user', `${key.fingerprint}!`, '--digest-algo', 'SHA256', '--clearsign'], data);
}

/** Armored detached signature of data (Release.gpg style). */
export function detachSign(key: TestKey, data: Buffer): Promise<Buffer> {
  return serialised(
    key,
    ['--local-user', `${key.fingerprint}!`, '--digest-algo', 'SHA256', '--armor', '--detach-sign'],
    data,
  );
}

/** Stops the key's gpg-agent now (it would otherwise exit on its own once its home is deleted). */
export async function disposeTestKey(key: TestKey): Promise<void> {
  await exec('gpgconf', ['--homedir', key.home, '--kill', 'gpg-agent'], { env: gpgEnv(), timeoutMs: 30_000 });
}

export interface GpgvResult {
  ok: boolean;
  /** fingerprints from VALIDSIG status lines */
  validSigs: string[];
  status: string;
  stderr: string;
}

/**
 * Verifies with gpgv against `keyring`: a clearsigned message (InRelease) when `data` is omitted,
 * otherwise a detached signature (Release.gpg) over `data`.
 */
export async function gpgvVerify(keyring: string, signed: Buffer, data?: Buffer): Promise<GpgvResult> {
  let tmp: string | undefined;
  try {
    let args: string[];
    let input: Buffer;
    if (data === undefined) {
      args = ['-'];
      input = signed;
    } else {
      tmp = await mkdtemp(path.join(os.tmpdir(), 'aptgate-gpgv-'));
      const sigFile = path.join(tmp, 'sig.asc');
      await writeFile(sigFile, signed);
      args = [sigFile, '-'];
      input = data;
    }
    const r = await exec('gpgv', ['--status-fd', '1', '--keyring', path.resolve(keyring), ...args], {
      input,
      env: gpgEnv(),
      timeoutMs: 60_000,
    });
    const status = r.stdout.toString('utf8');
    const validSigs = [...status.matchAll(/^\[GNUPG:\] VALIDSIG ([0-9A-F]{40})/gm)].map((m) => m[1]!);
    return { ok: r.code === 0 && validSigs.length > 0, validSigs, status, stderr: r.stderr.toString('utf8') };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
