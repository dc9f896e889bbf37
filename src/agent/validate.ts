// A job's parameters are checked against Debian's syntax before anything runs: nothing a server
// (or anyone who can talk like one) sends reaches apt as an option or as something else.
import { isPackageSpec, SOURCE_NAME_RE } from '../protocol/wire.js';
import type { JobSpec } from './types.js';

const MAX_PACKAGES = 10_000;

/** The package specs of an install/remove/hold/unhold job, or a reason why they are not acceptable. */
export function packagesOf(job: JobSpec): { packages: string[] } | { error: string } {
  const raw = job.params['packages'];
  if (!Array.isArray(raw) || raw.length === 0)
    return { error: 'params.packages must be a non-empty list of package names' };
  if (raw.length > MAX_PACKAGES) return { error: `more than ${MAX_PACKAGES} packages` };
  const withVersion = job.kind === 'install';
  for (const p of raw) {
    if (typeof p !== 'string' || !isPackageSpec(p, withVersion)) {
      return {
        error: `invalid package ${JSON.stringify(typeof p === 'string' ? p.slice(0, 100) : p)}${withVersion ? '' : ' (a name or name:arch)'}`,
      };
    }
  }
  return { packages: raw as string[] };
}

/** The name of an add-source/remove-source job, or why it is not acceptable. */
export function sourceNameOf(job: JobSpec): { name: string } | { error: string } {
  const name = job.params['name'];
  if (typeof name !== 'string' || !SOURCE_NAME_RE.test(name)) {
    return {
      error: `invalid source name ${JSON.stringify(typeof name === 'string' ? name.slice(0, 100) : name)} (${SOURCE_NAME_RE.source})`,
    };
  }
  return { name };
}

/** The policy numbers must be sane before they go into apt options and timers. */
export function policyError(job: JobSpec): string | undefined {
  const { lockTimeout, timeout } = job.policy;
  if (!Number.isInteger(lockTimeout) || lockTimeout < 0 || lockTimeout > 86_400)
    return `invalid policy.lockTimeout ${String(lockTimeout)}`;
  if (typeof timeout !== 'number' || !(timeout > 0) || timeout > 7 * 86_400)
    return `invalid policy.timeout ${String(timeout)}`;
  return undefined;
}
