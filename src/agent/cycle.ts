// One agent run (`aptgate-agent run-once`, started by the timer or by a push): results spooled
// by an earlier run are delivered first, then a cheap check-in; a report only when the server
// does not know the state (by hash, as a delta, or in full); then jobs, one at a time, each
// result written to the spool before it is sent, so a server that is away loses nothing.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { isAptgateError, type AptgateError } from '../errors.js';
import { packagesText, linesOf, recordKey, parseRecordLine, type PackagesText } from '../index/profile-record.js';
import { parseStatus } from '../index/status.js';
import { PROTOCOL_VERSION } from '../protocol/faults.js';
import { VERSION } from '../version.js';
import type { RpcClient } from './client.js';
import { applyAptProxy, type AptProxyChange } from './apt-proxy.js';
import { collectState } from './collect.js';
import { runJob } from './executors.js';
import type { AgentState, Identity } from './identity.js';
import { installStageSources } from './stage-sources.js';
import type { AptTarget, CheckInAnswer, CollectedExtras, JobResult, JobSpec } from './types.js';

export interface CycleDeps {
  client: RpcClient;
  identity: Identity;
  /** this machine's /etc/machine-id now (a copied identity shows up as another one) */
  machineId: string;
  state: AgentState;
  target: AptTarget;
  rebootCommand: string[];
  log: (msg: string) => void;
  /** runs a job (default: runJob on the target; an LTSP chroot mounts and refreshes around it) */
  execute?: (job: JobSpec) => Promise<JobResult>;
  /** the agent was told to stop: no further job starts */
  stop?: AbortSignal;
  /** told again: the running job is aborted (the default executor's commands are killed) */
  abort?: AbortSignal;
  /**
   * the apt proxy the server names is written to the target's apt.conf.d (apt-proxy.ts), apt
   * reaching `server` (the aptgate server called) directly; absent: not managed (an LTSP chroot's
   * apt goes through the agent's chroot_proxy)
   */
  aptProxy?: { server: string };
}

export interface CycleResult {
  /** the stage sources written in this run (their hash) */
  sources?: string;
  /** what became of the apt proxy file ('refused': not an http proxy URL, or the file could not be written) */
  aptProxy?: AptProxyChange | 'refused';
  status: 'pending' | 'approved';
  reported: 'no' | 'hash' | 'delta' | 'full';
  jobs: Array<{ id: number; kind: string; exitCode: number; failure: string | undefined }>;
  delivered: number;
}

interface Snapshot {
  packages: PackagesText;
  extras: CollectedExtras;
  state: string;
}

async function snapshot(target: AptTarget): Promise<Snapshot> {
  const c = await collectState(target);
  const packages = packagesText(parseStatus(c.statusText));
  // the agent's version is part of the state: an upgraded agent reports once
  const state = createHash('sha256')
    .update(`${packages.hash}\n${JSON.stringify(c.extras)}\n${VERSION}`)
    .digest('hex');
  return { packages, extras: c.extras, state };
}

const MAX_JOBS_PER_RUN = 20;

export async function runCycle(d: CycleDeps): Promise<CycleResult> {
  const out: CycleResult = { status: 'approved', reported: 'no', jobs: [], delivered: 0 };
  const who = { machineId: d.machineId };
  let snap: Snapshot;
  let check: CheckInAnswer;
  try {
    await d.client.call('agent.hello', [{ protocol: PROTOCOL_VERSION, agent: `aptgate-agent ${VERSION}` }]);
    out.delivered += await deliverSpooled(d);
    snap = await snapshot(d.target);
    check = await d.client.call<CheckInAnswer>('agent.checkIn', [
      { ...who, state: snap.state, packages: snap.packages.hash },
    ]);
  } catch (err) {
    // a re-enrolment that waits for the administrator: the server answers nothing else yet
    if (!isAptgateError(err, 'MACHINE_PENDING')) throw err;
    d.log(err.message);
    return { ...out, status: 'pending' };
  }
  out.status = check.status;
  if (check.status === 'pending') {
    d.log('this machine waits for approval on the server (aptgate machines approve)');
    return out;
  }
  // before the stage sources: their apt-get update already goes the way the server says
  if (d.aptProxy) {
    const proxy = await aptProxyStep(d, d.aptProxy.server, check.aptProxy);
    if (proxy) out.aptProxy = proxy;
  }
  if (check.sources !== d.state.sourcesHash()) {
    // the release gate moved this machine (or its stage's suites changed): new sources first
    out.sources = await installStageSources(d.client, d.machineId, d.target, d.state, d.log, executor(d));
    snap = await snapshot(d.target);
    check = { ...check, stateKnown: false };
  }
  if (!check.stateKnown) out.reported = await report(d, snap, check.packagesKnown, check.packagesBase);
  if (!check.jobsWaiting && !check.pullNow) return out;

  for (let n = 0; n < MAX_JOBS_PER_RUN && !d.stop?.aborted; n++) {
    const { jobs } = await d.client.call<{ jobs: Array<JobSpec & { attempt: number }> }>('agent.fetchJob', [who]);
    const job = jobs[0];
    // a stop asked for meanwhile: the job's lease hands it out again later
    if (!job || d.stop?.aborted) break;
    const spooled = d.state.spooled().find((s) => s.id === job.id);
    let result: JobResult;
    if (spooled) {
      result = spooled.result; // ran before; only its result was not acknowledged
    } else {
      try {
        await d.client.call('agent.jobStarted', [{ ...who, id: job.id }]);
      } catch (err) {
        if (isAptgateError(err, 'JOB_CLOSED')) continue;
        throw err;
      }
      d.log(`job ${job.id}: ${job.kind}`);
      try {
        // a rollout's wave may have opened since this run's check-in (the job is for its content):
        // the sources the server gives now come first
        if (job.kind === 'upgrade' || job.kind === 'dist-upgrade') {
          const changed = await installStageSources(d.client, d.machineId, d.target, d.state, d.log, executor(d), true);
          if (changed !== undefined) out.sources = changed;
        }
        result = await executor(d)(job);
      } catch (err) {
        // the agent's own trouble before or around the job: still a result, never a lost job
        const msg = (err as Error).message.split('\n')[0]!.slice(0, 500);
        result = {
          exitCode: 1,
          durationMs: 0,
          transcript: `# agent error: ${msg}\n`,
          failure: 'other',
          summary: `${job.kind}: ${msg}`,
          changed: false,
          rebootRequired: false,
        };
      }
      d.state.spool({ id: job.id, result });
    }
    await finish(d, job.id, result);
    out.jobs.push({ id: job.id, kind: job.kind, exitCode: result.exitCode, failure: result.failure });
    d.log(
      `job ${job.id}: ${job.kind} ${result.failure ? `failed (${result.failure}): ${result.summary}` : 'succeeded'}`,
    );
    // after every job the server learns the state as it is now (a check-in when unchanged)
    snap = await snapshot(d.target);
    check = await d.client.call('agent.checkIn', [{ ...who, state: snap.state, packages: snap.packages.hash }]);
    if (!check.stateKnown) out.reported = await report(d, snap, check.packagesKnown, check.packagesBase);
  }
  return out;
}

/** The proxy file in line with the check-in (checked against the file each run); a refused value changes nothing. */
async function aptProxyStep(
  d: CycleDeps,
  server: string,
  value: unknown,
): Promise<AptProxyChange | 'refused' | undefined> {
  try {
    const r = await applyAptProxy(d.target, value, server);
    if (r === 'written') d.log(`apt proxy: ${String(value)} (its site)`);
    if (r === 'removed') d.log('apt proxy: none (the machine belongs to no site with an http URL)');
    return r;
  } catch (err) {
    d.log(`apt proxy not applied, the file is left as it is: ${(err as Error).message}`);
    return 'refused';
  }
}

function executor(d: CycleDeps): (job: JobSpec) => Promise<JobResult> {
  return (
    d.execute ??
    ((job) => runJob(job, d.target, { rebootCommand: d.rebootCommand, ...(d.abort ? { signal: d.abort } : {}) }))
  );
}

async function finish(d: CycleDeps, id: number, r: JobResult): Promise<void> {
  await d.client.call('agent.jobFinished', [
    {
      machineId: d.machineId,
      id,
      exitCode: r.exitCode,
      durationMs: Math.min(r.durationMs, 2 ** 31 - 1),
      failure: r.failure ?? '',
      summary: r.summary,
      transcript: r.transcript,
    },
  ]);
  d.state.unspool(id);
}

/** Results of earlier runs the server has not acknowledged (it was restarting, unreachable). */
async function deliverSpooled(d: CycleDeps): Promise<number> {
  let n = 0;
  for (const s of d.state.spooled()) {
    try {
      await finish(d, s.id, s.result);
      n++;
    } catch (err) {
      // a job the server no longer has cannot be acknowledged: drop it, say so
      if (isAptgateError(err, 'JOB_UNKNOWN')) {
        d.log(`job ${s.id}: the server does not know it any more; its result is dropped`);
        d.state.unspool(s.id);
      } else if (isAptgateError(err, 'JOB_NOT_LEASED')) {
        // handed to this machine's identity before a re-enrolment: the server hands it out again
        d.log(`job ${s.id}: ${err.message}; the result is dropped`);
        d.state.unspool(s.id);
      } else throw err;
    }
  }
  return n;
}

async function report(d: CycleDeps, snap: Snapshot, known: boolean, base: string): Promise<CycleResult['reported']> {
  const send = async (packages: Record<string, unknown>) => {
    await d.client.call('agent.report', [
      { machineId: d.machineId, state: snap.state, packages, ...snap.extras, agentVersion: VERSION },
    ]);
  };
  const full = () => send({ hash: snap.packages.hash, full: gzipSync(snap.packages.text) });
  let how: CycleResult['reported'] = 'full';
  try {
    if (known) {
      how = 'hash';
      await send({ hash: snap.packages.hash });
    } else {
      const last = d.state.last();
      const lastText = last && last.packagesHash === base && base ? d.state.lastPackages() : undefined;
      if (lastText !== undefined) {
        how = 'delta';
        await send({ hash: snap.packages.hash, base, ...delta(lastText, snap.packages.text) });
      } else await full();
    }
  } catch (err) {
    // the server takes only so many reports a minute (or none this large): the state stays
    // unreported, the next run tries again, and the jobs waiting for this machine still run
    if (refused(err)) return deferred(d, err);
    if (how === 'full' || !(isAptgateError(err, 'PACKAGES_UNKNOWN') || isAptgateError(err, 'PACKAGES_MISMATCH')))
      throw err;
    how = 'full';
    try {
      await full();
    } catch (e) {
      if (refused(e)) return deferred(d, e);
      throw e;
    }
  }
  d.state.saveLast({ state: snap.state, packagesHash: snap.packages.hash }, snap.packages.text);
  return how;
}

function refused(err: unknown): err is AptgateError {
  return isAptgateError(err, 'RATE_LIMITED') || isAptgateError(err, 'REPORT_TOO_LARGE');
}

function deferred(d: CycleDeps, err: Error): 'no' {
  d.log(`report deferred to the next run: ${err.message}`);
  return 'no';
}

function delta(before: string, after: string): { upsert: Buffer; remove: string[] } {
  const old = new Set(linesOf(before));
  const now = linesOf(after);
  const nowKeys = new Set(now.map((l) => recordKey(parseRecordLine(l))));
  const upsert = now.filter((l) => !old.has(l));
  const remove = [...old].map((l) => recordKey(parseRecordLine(l))).filter((k) => !nowKeys.has(k));
  return { upsert: gzipSync(upsert.length ? upsert.join('\n') + '\n' : ''), remove };
}
