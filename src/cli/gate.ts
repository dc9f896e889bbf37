// What the gate's commands do beyond the gate's queries (gate/queries.ts): who runs them, the
// promotion's refusal worded for the command line, and the server's key exported to a file.
import { rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keyDir } from '../assembly/gate.js';
import type { Config } from '../config.js';
import { fail, isAptgateError } from '../errors.js';
import { ServerKey } from '../gate/key.js';
import {
  promote as promoteStage,
  type GateQueryContext,
  type KeyExportJson,
  type PromoteJson,
  type PromoteOptions,
} from '../gate/queries.js';
import { visible } from '../term/visible.js';

/** Who runs the command (recorded with promotions and rollbacks); under sudo, who called sudo. */
export function invokingUser(): string {
  const sudo = process.env['SUDO_USER'];
  if (sudo && /^[A-Za-z0-9._-]{1,64}$/.test(sudo)) return sudo;
  try {
    return os.userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `aptgate promote`: a gate that does not hold is refused with what is missing and how to go on. */
export async function promote(ctx: GateQueryContext, stage: string, o: PromoteOptions): Promise<PromoteJson> {
  try {
    return await promoteStage(ctx, stage, o);
  } catch (err) {
    if (!isAptgateError(err, 'GATE_CLOSED')) throw err;
    const missing = (err.details?.['missing'] ?? []) as string[];
    fail(
      'GATE_CLOSED',
      `the gate of ${stage} does not hold:\n${missing.map((m) => `  - ${visible(m)}`).join('\n')}\n(aptgate gate status ${stage}; --force --reason TEXT promotes anyway, recorded)`,
      { missing },
    );
  }
}

// ---- the server's key ----

/**
 * The server's public key for clients' Signed-By: armored (printed, or written to `output`) or a
 * binary keyring (written to `output`). Creates the key when the server has not yet.
 */
export async function exportKey(config: Config, o: { binary?: boolean; output?: string }): Promise<KeyExportJson> {
  if (o.binary && o.output === undefined)
    fail('USAGE', '--binary writes a file: add --output FILE (e.g. /usr/share/keyrings/aptgate.gpg)');
  const key = await ServerKey.open(keyDir(config), { create: false });
  try {
    const data = o.binary ? await key.exportBinary() : Buffer.from(await key.exportArmored(), 'utf8');
    if (o.output === undefined)
      return { fingerprint: key.fingerprint, format: 'armored', output: null, key: data.toString('utf8') };
    const file = path.resolve(o.output);
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
    try {
      await writeFile(tmp, data, { mode: 0o644 });
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      fail('USAGE', `cannot write ${file}: ${(err as Error).message}`);
    }
    return { fingerprint: key.fingerprint, format: o.binary ? 'binary' : 'armored', output: file, key: null };
  } finally {
    await key.close();
  }
}
