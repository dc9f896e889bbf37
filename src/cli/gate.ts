// What `aptgate key export` does beyond its operation (key.export, here or on --server): the key
// written to a file on this host, a binary keyring from the base64 the operation answers.
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fail } from '../errors.js';
import type { KeyExportJson } from '../gate/queries.js';
import { callOperation, type RemoteOpts } from './call.js';
import type { CliShell } from './fleet-context.js';

/**
 * The server's public key for clients' Signed-By: armored (printed, or written to `output`) or a
 * binary keyring (written to `output`).
 */
export async function exportKey(
  shell: CliShell,
  ro: RemoteOpts,
  o: { binary?: boolean; output?: string },
): Promise<KeyExportJson> {
  if (o.binary && o.output === undefined)
    fail('USAGE', '--binary writes a file: add --output FILE (e.g. /usr/share/keyrings/aptgate.gpg)');
  const k = (await callOperation(shell, ro, 'key.export', o.binary ? { binary: true } : {})) as KeyExportJson;
  if (o.output === undefined) return k;
  const data = k.format === 'binary' ? Buffer.from(k.key ?? '', 'base64') : Buffer.from(k.key ?? '', 'utf8');
  const file = path.resolve(o.output);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, data, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    fail('USAGE', `cannot write ${file}: ${(err as Error).message}`);
  }
  return { fingerprint: k.fingerprint, format: k.format, output: file, key: null };
}
