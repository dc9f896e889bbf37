// The agent on an LTSP server runs, after its own cycle, one cycle per chroot: the chroot is a
// machine of its own (enrolled through the host's signed call, agent.enrollChroot), with its own
// identity and state under the host's state directory, never inside the chroot, so an image
// built from it carries no credentials. Apt inside runs through chroot(8) pointed at the proxy.
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { isAptgateError } from '../../errors.js';
import { chrootMachineId } from '../../protocol/identity-proof.js';
import { RpcClient } from '../client.js';
import type { AgentConfig } from '../config.js';
import { runCycle, type CycleResult } from '../cycle.js';
import { collectFacts } from '../facts.js';
import { AgentState, type Identity } from '../identity.js';
import { targetAt } from '../target.js';
import type { AptTarget } from '../types.js';
import type { ChrootInfo } from './inspect.js';
import { isFile } from '../../sys/fs.js';
import { Transcript } from '../run.js';
import { refreshChroot, runChrootJob } from './job.js';
import { pendingRefreshFile, recoverStale } from './session.js';
import { isPlainDir, resolveIn } from './paths.js';

/** How long a kernel refresh outside a job may take (`ltsp image` compresses a whole chroot). */
const REFRESH_TIMEOUT_S = 3600;

// a chroot's machine id: derived from the host's and the chroot's path, by the server too
export { chrootMachineId };

/** Where a chroot's identity and state live on the host. */
export function chrootStateDir(stateDir: string, name: string): string {
  return path.join(stateDir, 'chroots', name);
}

/** Which agent process has the chroot's file systems mounted (see chroot/job.ts). */
export function mountMarker(stateDir: string, name: string): string {
  return path.join(chrootStateDir(stateDir, name), 'mounted.json');
}

/**
 * apt and dpkg inside the chroot; apt through `proxy` except for the aptgate server itself (stage
 * sources). Its files are resolved inside the chroot: var/run is a link to /run there, which on
 * the host would be the host's own reboot-required.
 */
export async function chrootTarget(info: ChrootInfo, proxy: string, server: string): Promise<AptTarget> {
  const aptOptions: Array<[string, string]> = [];
  if (proxy) {
    aptOptions.push(['Acquire::http::Proxy', proxy]);
    if (server) aptOptions.push([`Acquire::http::Proxy::${new URL(server).hostname}`, 'DIRECT']);
  }
  // LTSP 5's policy-rc.d and start-stop-daemon wrappers read LTSP_HANDLE_DAEMONS; chroot(8) passes it on
  const t = targetAt(info.path, {
    aptOptions,
    env: { LTSP_HANDLE_DAEMONS: 'false' },
    dpkgOptions: [],
    chroot: { linux32: info.run === 'linux32' },
  });
  const inside = (p: string) => resolveIn(info.path, path.relative(info.path, p));
  return {
    ...t,
    statusFile: await inside(t.statusFile),
    sourcesDir: await inside(t.sourcesDir),
    sourcesList: await inside(t.sourcesList),
    preferencesDir: await inside(t.preferencesDir),
    preferencesFile: await inside(t.preferencesFile),
    rebootRequiredFile: await inside(t.rebootRequiredFile),
  };
}

/** Why the agent leaves a chroot alone (undefined: it can manage it). */
export async function unmanageable(info: ChrootInfo, stateDir: string): Promise<string | undefined> {
  if (info.run === 'unsupported') return `unsupported: ${info.reason ?? 'architecture'}`;
  if (info.path === '/') return "it is this host's own root directory";
  if (stateDir === info.path || stateDir.startsWith(`${info.path}/`))
    return `the agent's state directory ${stateDir} is inside the chroot`;
  for (const d of ['etc/apt', 'etc/apt/sources.list.d', 'var/lib/dpkg', 'usr/sbin']) {
    if (!(await isPlainDir(info.path, d)))
      return `${path.join(info.path, d)} is not a directory of the chroot (missing, or a symbolic link)`;
  }
  // the release gate writes its key there: never through a link to the host's files
  if (
    (await lstat(path.join(info.path, 'etc/apt/keyrings')).catch(() => undefined)) &&
    !(await isPlainDir(info.path, 'etc/apt/keyrings'))
  ) {
    return `${path.join(info.path, 'etc/apt/keyrings')} is not a directory of the chroot`;
  }
  return undefined;
}

/** The newest kernel version in the chroot's /boot (what its clients boot), '' when none. */
async function bootKernel(root: string): Promise<string> {
  const names = await readdir(await resolveIn(root, 'boot')).catch(() => [] as string[]);
  const versions = names
    .map((n) => /^vmlinu[xz]-(.+)$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort();
  return versions.at(-1) ?? '';
}

export interface HostContext {
  config: AgentConfig;
  identity: Identity;
  /** signed as the host */
  client: RpcClient;
  machineId: string;
  log: (msg: string) => void;
  /** a stop was asked for: no further job (nor chroot) starts */
  stop?: AbortSignal;
  /** asked again: the running job is aborted (and cleaned up) */
  abort?: AbortSignal;
}

export interface ChrootRun {
  name: string;
  path: string;
  architecture: string;
  machine?: number;
  result?: CycleResult;
  /** why nothing ran */
  skipped?: string;
}

/** The chroot's identity, enrolling it through the host first when it has none (or moved). */
export async function chrootIdentity(
  h: HostContext,
  info: ChrootInfo,
  target: AptTarget,
  state: AgentState,
): Promise<Identity> {
  const machineId = chrootMachineId(h.machineId, info.path);
  const known = state.identity();
  if (known && known.machineId === machineId && known.server === h.identity.server) return known;
  const facts = await collectFacts(target, {
    machineId,
    hostname: h.config.hostname,
    kernel: await bootKernel(info.path),
  });
  // the server derives the chroot's machine-id from the host's and the path, and says which
  const r = await h.client.call<{ machine: number; secret: string; machineId?: string }>('agent.enrollChroot', [
    { machineId: h.machineId, name: info.name, path: info.path, facts },
  ]);
  const identity = {
    server: h.identity.server,
    machine: r.machine,
    secret: r.secret,
    machineId: r.machineId || machineId,
  };
  state.saveIdentity(identity);
  h.log(`chroot ${info.name}: enrolled as machine ${r.machine}`);
  return identity;
}

/** One cycle for one chroot (enrolling it first when needed). */
export async function runChroot(h: HostContext, info: ChrootInfo): Promise<ChrootRun> {
  const out: ChrootRun = { name: info.name, path: info.path, architecture: info.architecture };
  const why = await unmanageable(info, h.config.stateDir);
  if (why) {
    h.log(`chroot ${info.name}: left alone: ${why}`);
    return { ...out, skipped: why };
  }
  const server = h.config.server || h.identity.server;
  const target = await chrootTarget(info, h.config.chrootProxy || server, server);
  const state = new AgentState(chrootStateDir(h.config.stateDir, info.name));
  state.ensureDir();
  const log = (msg: string) => h.log(`chroot ${info.name}: ${msg}`);
  const marker = mountMarker(h.config.stateDir, info.name);
  const ctx = { info, target, refresh: h.config.chrootRefresh, marker };
  // what a killed agent left (mounts, policy-rc.d) goes first, so no image is built with it
  const busy = await recoverStale(info.path, marker, { line: (s) => log(s.replace(/^# /, '')) });
  if (busy) log(busy);
  const cycle = async () => {
    const identity = await chrootIdentity(h, info, target, state);
    out.machine = identity.machine;
    const client = new RpcClient({ server, caFile: h.config.caFile, timeoutS: h.config.timeoutS }, { identity, state });
    return runCycle({
      client,
      identity,
      machineId: identity.machineId,
      state,
      target,
      rebootCommand: [],
      log,
      execute: (job) => runChrootJob(ctx, job, h.abort ? { signal: h.abort } : {}),
      ...(h.stop ? { stop: h.stop } : {}),
    });
  };
  try {
    out.result = await cycle();
  } catch (err) {
    // the server forgot the chroot (removed, or a new database): the host, whose call is
    // authenticated, enrols it again; spooled results of the old identity cannot be delivered
    if (!isAptgateError(err, 'AUTH_FAILED')) throw err;
    log(`the server does not know this chroot's identity (${err.message}): enrolling it again`);
    state.forgetIdentity();
    out.result = await cycle();
  }
  // a kernel refresh that failed or never ran (the agent was stopped) is tried again, at a turn
  // without jobs (a job's own refresh tried it already)
  if (!busy && !h.stop?.aborted && !out.result.jobs.length && (await isFile(pendingRefreshFile(marker)))) {
    const t = new Transcript();
    const f = await refreshChroot(ctx, t, REFRESH_TIMEOUT_S, h.abort);
    log(`pending kernel refresh: ${f.summary}${f.ok ? '' : `\n${t.toString().slice(-2000)}`}`);
  }
  return out;
}
