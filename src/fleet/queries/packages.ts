// Who has a package installed, and at which version (`aptgate packages NAME [--older-than V]`):
// the documented JSON shape (docs/cli-fleet.md); cli/fleet-format.ts turns it into a table.
import { fail } from '../../errors.js';
import { isInstalledState } from '../../index/status.js';
import { compareVersions, isStrictVersion } from '../../index/version.js';
import { TimeSlicer } from '../../sys/time-slice.js';
import type { FleetQueryContext } from './context.js';
import { PackageAnswers } from './package-answers.js';

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
  /** only the machines with a security update of it */
  security: boolean;
  /** one page of the entries (all of them without `limit`) */
  machines: PackageUser[];
  /** entries that match (all pages) */
  total: number;
  page: number;
  limit: number | null;
  counts: { machines: number; outdated: number; security: number };
  /** per installed version, highest first: how many machines run it, could upgrade it, with a security update */
  versions: Array<{ version: string; machines: number; outdated: number; security: number }>;
}

/**
 * Who runs a package: its records (every version and architecture any machine reported), the
 * profiles holding them (a search in each profile's id array), the machines with those profiles,
 * and for each the server's outdated answer of its (profile, view), read once per pair. In slices:
 * a package every machine has means 20,000 machines and their answers' lines (the event loop is
 * every apt client's).
 */
export async function packageUsers(
  ctx: FleetQueryContext,
  name: string,
  olderThan?: string,
  o: { security?: boolean; page?: number; limit?: number; q?: string; version?: string } = {},
): Promise<PackageUsers> {
  if (!PACKAGE_RE.test(name)) fail('USAGE', `"${name.slice(0, 80)}" is not a package name`);
  if (olderThan !== undefined && !isStrictVersion(olderThan))
    fail('VERSION_INVALID', `"${olderThan.slice(0, 80)}" is not a Debian version`);
  const records = new Map(
    ctx.profiles
      .recordsOf(name)
      .filter(({ pkg }) => isInstalledState(pkg.state))
      .filter(({ pkg }) => olderThan === undefined || compareVersions(pkg.version, olderThan) < 0)
      .map(({ id, pkg }) => [id, pkg]),
  );
  const holding = ctx.profiles.holding([...records.keys()]);
  const answers = new PackageAnswers(ctx, name);
  const users: PackageUser[] = [];
  const slicer = new TimeSlicer();
  for await (const m of holding.size ? machinesWithProfile(ctx, [...holding.keys()], slicer) : []) {
    await slicer.tick();
    const hits = holding.get(m.profileId);
    if (!hits) continue;
    const out = m.reported ? answers.of(m.profileId, m.viewId) : undefined;
    for (const id of hits) {
      const p = records.get(id)!;
      const instance = `${name}:${p.architecture === 'all' ? m.architecture : p.architecture}`;
      const e = out?.byKey.get(instance) ?? out?.byKey.get(`=${p.version}`);
      if (o.security && !e?.security) continue;
      users.push({
        id: m.id,
        hostname: m.hostname,
        instance,
        version: p.version,
        candidate: e?.candidateVersion ?? null,
        security: e?.security ?? false,
        outdatedKnown: out?.known ?? false,
      });
    }
  }
  await slicer.pause();
  // hostname order (the machines were read in id order, a slice at a time)
  users.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.id - b.id));
  await slicer.tick();
  const ids = (list: PackageUser[], f: (u: PackageUser) => boolean) => new Set(list.filter(f).map((u) => u.id)).size;
  const byVersion = new Map<string, PackageUser[]>();
  for (const u of users) {
    const list = byVersion.get(u.version);
    if (list) list.push(u);
    else byVersion.set(u.version, [u]);
  }
  // the list may be narrowed further (a host name's part, one installed version); counts stay of all
  const listed =
    o.q || o.version
      ? users.filter((u) => (!o.q || u.hostname.includes(o.q)) && (!o.version || u.version === o.version))
      : users;
  return {
    package: name,
    olderThan: olderThan ?? null,
    security: o.security === true,
    machines: o.limit === undefined ? listed : listed.slice(((o.page ?? 1) - 1) * o.limit, (o.page ?? 1) * o.limit),
    total: listed.length,
    page: o.page ?? 1,
    limit: o.limit ?? null,
    counts: {
      machines: ids(users, () => true),
      outdated: ids(users, (u) => u.candidate !== null),
      security: ids(users, (u) => u.security),
    },
    versions: [...byVersion.entries()]
      .sort(([a], [b]) => compareVersions(b, a))
      .map(([version, list]) => ({
        version,
        machines: ids(list, () => true),
        outdated: ids(list, (u) => u.candidate !== null),
        security: ids(list, (u) => u.security),
      })),
  };
}

interface ProfiledMachine {
  id: number;
  hostname: string;
  architecture: string;
  profileId: number;
  viewId: number | null;
  reported: boolean;
}

/** Machines read per statement: a few milliseconds each. */
const MACHINE_SLICE = 2_000;

/**
 * Machines with one of these installed sets, with the view of their last report, in id order and
 * in slices (a package every machine has means 20,000 rows: one statement would hold the loop):
 * only those machines are read (machine_by_profile), their reports through the covering index
 * (a report row holds kilobytes of extras).
 */
async function* machinesWithProfile(
  ctx: FleetQueryContext,
  profileIds: readonly number[],
  slicer: TimeSlicer,
): AsyncGenerator<ProfiledMachine> {
  const stmt = ctx.db
    .prepare<[string, number, number], [number, string, string, number, number | null, number]>(
      `SELECT m.id, m.hostname, m.architecture, m.profile_id, r.view_id, r.machine_id IS NOT NULL
      FROM machine m LEFT JOIN machine_report r INDEXED BY machine_report_compact ON r.machine_id = m.id
      WHERE m.profile_id IN (SELECT value FROM json_each(?)) AND m.id > ? ORDER BY m.id LIMIT ?`,
    )
    .raw(true);
  const profiles = JSON.stringify(profileIds);
  for (let after = 0; ;) {
    await slicer.tick();
    const rows = stmt.all(profiles, after, MACHINE_SLICE);
    for (const [id, hostname, architecture, profileId, viewId, reported] of rows) {
      yield { id, hostname, architecture, profileId, viewId, reported: reported === 1 };
      after = id;
    }
    if (rows.length < MACHINE_SLICE) return;
  }
}
