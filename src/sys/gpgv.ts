// OpenPGP verification with gpgv, the way apt decides: at least one good signature by a
// key of the given keyrings, no bad signature; expired or revoked keys do not count.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { fail } from '../errors.js';
import { checkDetachedSignature, splitClearsignedInSlices } from '../index/clearsigned.js';
import { exec } from './exec.js';
import { processAlive } from './process.js';

let workDir: string | undefined;
function scratch(): string {
  if (!workDir) {
    sweepOrphans();
    const dir = mkdtempSync(join(tmpdir(), `aptgate-gpgv-${process.pid}-`));
    workDir = dir;
    // dearmored keyrings live as long as the process
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return workDir;
}

/** A process killed without its exit handlers (SIGKILL) leaves its directory: the next one removes it. */
function sweepOrphans(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^aptgate-gpgv-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid)))
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

const dearmored = new Map<string, string>();

/** gpgv reads binary keyrings only; armored (.asc) ones are converted once per content. */
function usableKeyring(file: string): string {
  const abs = resolve(file);
  let data: Buffer;
  try {
    data = readFileSync(abs);
  } catch (err) {
    fail('SIGNATURE', `keyring ${abs} cannot be read: ${(err as Error).message}`, { keyring: abs });
  }
  if (!data.subarray(0, 40).toString('latin1').includes('-----BEGIN PGP')) return abs;
  const digest = createHash('sha256').update(data).digest('hex');
  const known = dearmored.get(digest);
  if (known) return known;
  const out = join(scratch(), `${digest}.gpg`);
  writeFileSync(out, dearmor(data.toString('latin1')), { mode: 0o600 });
  dearmored.set(digest, out);
  return out;
}

function dearmor(text: string): Buffer {
  const blocks: Buffer[] = [];
  const re = /-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n([\s\S]*?)-----END PGP PUBLIC KEY BLOCK-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const lines = m[1]!.split(/\r?\n/);
    const blank = lines.findIndex((l) => l.trim() === '');
    const body = lines.slice(blank + 1).filter((l) => l && !l.startsWith('='));
    blocks.push(Buffer.from(body.join(''), 'base64'));
  }
  return Buffer.concat(blocks);
}

export interface Verified {
  /** the signed text exactly as gpgv verified it */
  text: Buffer;
  fingerprints: string[];
}

function judge(status: string, what: string): string[] {
  const lines = status
    .split('\n')
    .filter((l) => l.startsWith('[GNUPG:] '))
    .map((l) => l.slice(9).split(' '));
  const bad = lines.find((l) => ['BADSIG', 'EXPKEYSIG', 'REVKEYSIG'].includes(l[0]!));
  if (bad) fail('SIGNATURE', `${what}: ${bad[0]} ${bad[1] ?? ''}`.trim(), { status: bad[0] });
  const valid = lines.filter((l) => l[0] === 'VALIDSIG').map((l) => l[1]!);
  if (valid.length === 0) {
    const why = lines.find((l) => l[0] === 'NO_PUBKEY' || l[0] === 'ERRSIG' || l[0] === 'NODATA');
    fail('SIGNATURE', `${what}: no valid signature from a trusted key${why ? ` (${why.join(' ')})` : ''}`, {
      status: why?.[0],
    });
  }
  return valid;
}

function args(keyrings: readonly string[]): string[] {
  const a = ['--homedir', scratch(), '--status-fd', '2'];
  for (const k of keyrings) a.push('--keyring', usableKeyring(k));
  return a;
}

/**
 * Verifies a clearsigned document (InRelease) the way apt does: split into text and signature
 * by apt's rules (anything apt refuses is refused before gpgv runs), then the signature checked
 * over that text. The text returned is the one apt will read.
 */
export async function verifyClearsigned(
  keyrings: readonly string[],
  doc: Buffer,
  what = 'InRelease',
): Promise<Verified> {
  const parts = await splitClearsignedInSlices(doc, what);
  if (parts.text.length === 0) fail('SIGNATURE', `${what}: empty signed text`, { status: 'EMPTY' });
  return gpgvDetached(keyrings, parts.text, parts.signature, what);
}

/** Verifies a detached signature (Release + Release.gpg); a Release.gpg apt would refuse is refused. */
export async function verifyDetached(
  keyrings: readonly string[],
  data: Buffer,
  signature: Buffer,
  what = 'Release',
): Promise<Verified> {
  checkDetachedSignature(signature, `${what}.gpg`);
  return gpgvDetached(keyrings, data, signature, what);
}

async function gpgvDetached(
  keyrings: readonly string[],
  data: Buffer,
  signature: Buffer,
  what: string,
): Promise<Verified> {
  const dir = mkdtempSync(join(scratch(), 'd-'));
  try {
    const sigFile = join(dir, 'Release.gpg');
    writeFileSync(sigFile, signature);
    const r = await exec('gpgv', [...args(keyrings), sigFile, '-'], { input: data, timeoutMs: 30_000 });
    const fingerprints = judge(r.stderr.toString('utf8'), what);
    return { text: data, fingerprints };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
