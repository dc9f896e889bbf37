// A job's parameters are checked against Debian's syntax before anything runs: nothing a server
// (or anyone who can talk like one) sends reaches apt as an option or as something else.
import { isStrictVersion } from '../index/version.js';
import type { JobSpec } from './types.js';

const NAME_RE = /^[a-z0-9][a-z0-9+.-]+$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;
export const SOURCE_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const MAX_PACKAGES = 10_000;

/** "name", "name:arch", and with `withVersion` also "name=version" / "name:arch=version". */
export function isPackageSpec(spec: string, withVersion: boolean): boolean {
  if (spec.startsWith('-') || spec.length > 512) return false;
  const eq = spec.indexOf('=');
  const nameArch = eq === -1 ? spec : spec.slice(0, eq);
  if (eq !== -1 && (!withVersion || !isStrictVersion(spec.slice(eq + 1)))) return false;
  const colon = nameArch.indexOf(':');
  const name = colon === -1 ? nameArch : nameArch.slice(0, colon);
  if (!NAME_RE.test(name)) return false;
  return colon === -1 || ARCH_RE.test(nameArch.slice(colon + 1));
}

/** The package specs of an install/remove/hold/unhold job, or a reason why they are not acceptable. */
export function packagesOf(job: JobSpec): { packages: string[] } | { error: string } {
  const raw = job.params['packages'];
  if (!Array.isArray(raw) || raw.length === 0) return { error: 'params.packages must be a non-empty list of package names' };
  if (raw.length > MAX_PACKAGES) return { error: `more than ${MAX_PACKAGES} packages` };
  const withVersion = job.kind === 'install';
  for (const p of raw) {
    if (typeof p !== 'string' || !isPackageSpec(p, withVersion)) {
      return { error: `invalid package ${JSON.stringify(typeof p === 'string' ? p.slice(0, 100) : p)}${withVersion ? '' : ' (a name or name:arch)'}` };
    }
  }
  return { packages: raw as string[] };
}

/** The name of an add-source/remove-source job, or why it is not acceptable. */
export function sourceNameOf(job: JobSpec): { name: string } | { error: string } {
  const name = job.params['name'];
  if (typeof name !== 'string' || !SOURCE_NAME_RE.test(name)) {
    return { error: `invalid source name ${JSON.stringify(typeof name === 'string' ? name.slice(0, 100) : name)} (${SOURCE_NAME_RE.source})` };
  }
  return { name };
}

/** The policy numbers must be sane before they go into apt options and timers. */
export function policyError(job: JobSpec): string | undefined {
  const { lockTimeout, timeout } = job.policy;
  if (!Number.isInteger(lockTimeout) || lockTimeout < 0 || lockTimeout > 86_400) return `invalid policy.lockTimeout ${String(lockTimeout)}`;
  if (typeof timeout !== 'number' || !(timeout > 0) || timeout > 7 * 86_400) return `invalid policy.timeout ${String(timeout)}`;
  return undefined;
}
