// The facts an agent enrols with: hostname, /etc/machine-id, dpkg's architectures, the
// distribution and codename (os-release of the target root), kernel, agent version.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fail } from '../errors.js';
import { exec } from '../sys/exec.js';
import { VERSION } from '../version.js';
import { dpkgCommand } from './target.js';
import type { AptTarget, MachineFacts } from './types.js';

export type Facts = MachineFacts;

export async function readMachineId(file: string): Promise<string> {
  const id = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (!/^[0-9a-f]{32}$/.test(id)) fail('CONFIG_INVALID', `${file} does not hold a machine id (run systemd-machine-id-setup)`);
  return id;
}

async function dpkgLines(target: AptTarget, args: string[]): Promise<string[]> {
  const c = dpkgCommand(target, args);
  const r = await exec(c.file, c.args, { env: c.env });
  if (r.code !== 0) fail('EXEC_FAILED', `dpkg ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().split('\n').map((l) => l.trim()).filter(Boolean);
}

function osRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(?:"([^"]*)"|'([^']*)'|(\S*))\s*$/.exec(line.trim());
    if (m) out[m[1]!] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return out;
}

export async function collectFacts(target: AptTarget, machineIdFile: string, hostname = ''): Promise<Facts> {
  const [arch] = await dpkgLines(target, ['--print-architecture']);
  const foreign = await dpkgLines(target, ['--print-foreign-architectures']);
  const rel = osRelease(await readFile(path.join(target.root, 'etc/os-release'), 'utf8')
    .catch(() => readFile(path.join(target.root, 'usr/lib/os-release'), 'utf8')).catch(() => ''));
  const clean = (s: string) => s.replace(/[^A-Za-z0-9 ._+~:/()-]/g, '').slice(0, 120);
  return {
    hostname: hostname || os.hostname().split('.')[0]!.slice(0, 63) || 'localhost',
    machineId: await readMachineId(machineIdFile),
    architecture: arch ?? 'unknown',
    foreignArchitectures: foreign,
    distribution: clean(rel['ID'] ?? ''),
    codename: clean(rel['VERSION_CODENAME'] ?? '').toLowerCase(),
    kernel: clean(os.release()),
    agentVersion: VERSION,
  };
}
