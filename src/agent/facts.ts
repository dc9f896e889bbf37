// The facts an agent enrols with: hostname, /etc/machine-id, dpkg's architectures, the
// distribution and codename (os-release of the target root), kernel, agent version.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { fail } from '../errors.js';
import { exec } from '../sys/exec.js';
import { VERSION } from '../version.js';
import { osReleaseOf } from './chroot/inspect.js';
import { dpkgCommand } from './target.js';
import type { AptTarget, MachineFacts } from './types.js';

export type Facts = MachineFacts;

export async function readMachineId(file: string): Promise<string> {
  const id = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!/^[0-9a-f]{32}$/.test(id))
    fail('CONFIG_INVALID', `${file} does not hold a machine id (run systemd-machine-id-setup)`);
  return id;
}

async function dpkgLines(target: AptTarget, args: string[]): Promise<string[]> {
  const c = dpkgCommand(target, args);
  const r = await exec(c.file, c.args, { env: c.env });
  if (r.code !== 0) fail('EXEC_FAILED', `dpkg ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return r.stdout
    .toString()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The system's host name (first label), or the configured one. */
export function hostnameOf(configured = ''): string {
  return configured || os.hostname().split('.')[0]!.slice(0, 63) || 'localhost';
}

/** The facts of a target; the machine id is the host's /etc/machine-id or a chroot's derived one. */
export async function collectFacts(
  target: AptTarget,
  who: { machineId: string; hostname?: string; kernel?: string },
): Promise<Facts> {
  const [arch] = await dpkgLines(target, ['--print-architecture']);
  const foreign = await dpkgLines(target, ['--print-foreign-architectures']);
  const rel = await osReleaseOf(target.root);
  const clean = (s: string) => s.replace(/[^A-Za-z0-9 ._+~:/()-]/g, '').slice(0, 120);
  return {
    hostname: hostnameOf(who.hostname),
    machineId: who.machineId,
    architecture: arch ?? 'unknown',
    foreignArchitectures: foreign,
    distribution: clean(rel['ID'] ?? ''),
    codename: clean(rel['VERSION_CODENAME'] ?? '').toLowerCase(),
    kernel: clean(who.kernel ?? os.release()),
    agentVersion: VERSION,
  };
}
