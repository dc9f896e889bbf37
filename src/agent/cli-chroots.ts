// The LTSP side of the agent's command line: `chroots list`, the chroot cycles after the host's
// in run-once, the host's release-upgrade that also moves its chroots, and status per chroot.
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { collectState } from './collect.js';
import type { AgentConfig } from './config.js';
import { runJob, type RunJobOptions } from './executors.js';
import { AgentState } from './identity.js';
import { discoverChroots, type ChrootInfo } from './chroot/inspect.js';
import {
  chrootStateDir,
  chrootTarget,
  mountMarker,
  runChroot,
  unmanageable,
  type ChrootRun,
  type HostContext,
} from './chroot/manage.js';
import { releaseUpgradeAll, type UpgradeChroot } from './chroot/upgrade-all.js';
import type { AptTarget, JobResult, JobSpec } from './types.js';

/** The chroots this agent manages (none when manage_chroots = no). */
export async function managedChroots(c: AgentConfig, log: (msg: string) => void): Promise<ChrootInfo[]> {
  if (!c.manageChroots) return [];
  const { chroots, problems } = await discoverChroots([], c.chroots);
  for (const p of problems) log(`chroots: ${p}`);
  return chroots;
}

/** The host's jobs: release-upgrade also moves the chroots (after the host), everything else is the host's alone. */
export function hostExecutor(
  c: AgentConfig,
  server: string,
  target: AptTarget,
  log: (msg: string) => void,
  opts: RunJobOptions & { stop?: AbortSignal },
): (job: JobSpec) => Promise<JobResult> {
  return async (job) => {
    if (job.kind !== 'release-upgrade') return runJob(job, target, opts);
    const chroots: UpgradeChroot[] = [];
    for (const info of await managedChroots(c, log)) {
      const why = await unmanageable(info, c.stateDir);
      chroots.push(
        why
          ? { name: info.name, skipped: why }
          : {
              name: info.name,
              ctx: {
                info,
                target: await chrootTarget(info, c.chrootProxy || server, server),
                refresh: c.chrootRefresh,
                marker: mountMarker(c.stateDir, info.name),
              },
            },
      );
    }
    return releaseUpgradeAll(job, target, chroots, opts);
  };
}

/** After the host's cycle: one cycle per managed chroot; a chroot's trouble does not stop the others. */
export async function runChroots(h: HostContext): Promise<Array<ChrootRun & { error?: string }>> {
  const out: Array<ChrootRun & { error?: string }> = [];
  for (const info of await managedChroots(h.config, h.log)) {
    if (h.stop?.aborted) break;
    try {
      out.push(await runChroot(h, info));
    } catch (err) {
      h.log(`chroot ${info.name}: ${(err as Error).message}`);
      out.push({ name: info.name, path: info.path, architecture: info.architecture, error: (err as Error).message });
    }
  }
  return out;
}

export interface ChrootStatus {
  name: string;
  path: string;
  architecture: string;
  run: string;
  machine: number | null;
  updates: number | null;
  security: number | null;
  skipped?: string;
}

/** What apt in each managed chroot would upgrade (no mounts needed to ask). */
export async function chrootStatuses(c: AgentConfig, log: (msg: string) => void): Promise<ChrootStatus[]> {
  const out: ChrootStatus[] = [];
  for (const info of await managedChroots(c, log)) {
    const machine = new AgentState(chrootStateDir(c.stateDir, info.name)).identity()?.machine ?? null;
    const base = { name: info.name, path: info.path, architecture: info.architecture, run: info.run, machine };
    const why = await unmanageable(info, c.stateDir);
    if (why) {
      out.push({ ...base, updates: null, security: null, skipped: why });
      continue;
    }
    try {
      const s = await collectState(await chrootTarget(info, '', ''));
      const up = s.extras.aptUpgradable;
      out.push({ ...base, updates: up.length, security: up.filter((u) => u.security).length });
    } catch (err) {
      // one chroot apt cannot read (or chroot(8) refused: not root) does not hide the others
      out.push({
        ...base,
        updates: null,
        security: null,
        skipped: (err as Error).message.split('\n')[0]!.slice(0, 300),
      });
    }
  }
  return out;
}

export function registerChrootCommands(program: Command, config: () => AgentConfig, out: (s: string) => void): void {
  const chroots = program
    .command('chroots')
    .description('LTSP chroots on this server, each managed as a machine of its own');
  chroots
    .command('list')
    .description(
      'find chroots (the directories given, else the configured ones, else /opt/ltsp/* and /srv/ltsp/* with proc/)',
    )
    .argument('[dir...]', 'chroot directories, or directories holding chroots')
    .option('--json', 'machine-readable output')
    .action(async (dirs: string[], o: { json?: boolean }) => {
      const c = config();
      for (const d of dirs) if (!d.startsWith('/')) fail('USAGE', `${d}: give absolute paths`);
      const { chroots: found, problems } = await discoverChroots(dirs, c.chroots);
      const rows = found.map((i) => ({
        ...i,
        machine: new AgentState(chrootStateDir(c.stateDir, i.name)).identity()?.machine ?? null,
      }));
      if (o.json) {
        out(JSON.stringify({ chroots: rows, problems }, null, 2) + '\n');
        return;
      }
      for (const p of problems) process.stderr.write(`aptgate-agent: ${p}\n`);
      if (!rows.length) {
        out('no LTSP chroots found\n');
        return;
      }
      const runs = (r: (typeof rows)[number]) =>
        r.run === 'unsupported' ? `unsupported (${r.reason ?? ''})` : r.run === 'linux32' ? 'yes (linux32)' : 'yes';
      const table = [
        ['NAME', 'PATH', 'ARCH', 'DISTRIBUTION', 'RUNS HERE', 'MACHINE'],
        ...rows.map((r) => [
          r.name,
          r.path,
          r.architecture || '?',
          r.release || [r.distribution, r.codename].filter(Boolean).join(' ') || '?',
          runs(r),
          r.machine === null ? '-' : String(r.machine),
        ]),
      ];
      const widths = table[0]!.map((_h, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table)
        out(row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]!))).join('  ') + '\n');
    });
}
