// Who has a package installed, and at which version (`aptgate packages NAME [--older-than V]`):
// the documented JSON shape (docs/cli-fleet.md); cli/fleet-format.ts turns it into a table.
import { fail } from '../../errors.js';
import { isInstalledState } from '../../index/status.js';
import { compareVersions, isStrictVersion } from '../../index/version.js';
import type { FleetQueryContext } from './context.js';
import { machineOutdated, type MachineOutdated } from './machines.js';

// ---- who has a package ----

const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]+$/;

export interface PackageUser {
  id: number;
  hostname: string;
  /** name:arch of the installed instance */
  instance: string;
  version: string;
  /** the newer version the server would install (null: up to date, or unknown) */
  candidate: string | null;
  security: boolean;
  /** false when the server cannot tell whether the machine is outdated (see machines show) */
  outdatedKnown: boolean;
}

export interface PackageUsers {
  package: string;
  olderThan: string | null;
  machines: PackageUser[];
  counts: { machines: number; outdated: number; security: number };
}

export function packageUsers(ctx: FleetQueryContext, name: string, olderThan?: string): PackageUsers {
  if (!PACKAGE_RE.test(name)) fail('USAGE', `"${name.slice(0, 80)}" is not a package name`);
  if (olderThan !== undefined && !isStrictVersion(olderThan))
    fail('VERSION_INVALID', `"${olderThan.slice(0, 80)}" is not a Debian version`);
  const memo = new Map<string, MachineOutdated>();
  const users: PackageUser[] = [];
  for (const m of ctx.fleet.machines.all()) {
    if (m.profileId === null) continue;
    const mine = ctx.profiles.installed(m.profileId).filter((p) => p.package === name && isInstalledState(p.state));
    const hits = olderThan === undefined ? mine : mine.filter((p) => compareVersions(p.version, olderThan) < 0);
    if (!hits.length) continue;
    const o = machineOutdated(ctx, m, memo);
    for (const p of hits) {
      const instance = `${name}:${p.architecture === 'all' ? m.architecture : p.architecture}`;
      const e =
        o.entries.find((x) => x.instance === instance) ??
        o.entries.find((x) => x.package === name && x.installedVersion === p.version);
      users.push({
        id: m.id,
        hostname: m.hostname,
        instance,
        version: p.version,
        candidate: e?.candidateVersion ?? null,
        security: e?.security ?? false,
        outdatedKnown: o.known,
      });
    }
  }
  const ids = (f: (u: PackageUser) => boolean) => new Set(users.filter(f).map((u) => u.id)).size;
  return {
    package: name,
    olderThan: olderThan ?? null,
    machines: users,
    counts: { machines: ids(() => true), outdated: ids((u) => u.candidate !== null), security: ids((u) => u.security) },
  };
}
