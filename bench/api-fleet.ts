// The fleet of bench:api, made as bench:fleet makes it (bench/fleet-data.ts: 200 profiles,
// machines with their facts and report extras) and brought into the server the way agents do:
// agent.enroll and one full agent.report per machine over real /RPC2, signed. On top of
// bench:fleet's data: one machine in a hundred enrols on a token that needs approval (it stays
// pending, with no report), one in twenty reports that it needs a reboot.
import { createHash } from 'node:crypto';
import { encodeCall } from '../src/protocol/codec.js';
import { FleetClient, decoded, percentile, runLoad, sign, type LoadResult } from './fleet-client.js';
import { DEFAULT_SHAPE, factsOf, makeMachines, makePackages, makeProfiles, type SimMachine } from './fleet-data.js';
import type { PkgSpec } from './fleet-data.js';

export interface BenchFleet {
  machines: SimMachine[];
  packages: { core: PkgSpec[]; optional: PkgSpec[] };
  profiles: number;
  pending: number;
  reboot: number;
}

export const isPending = (m: SimMachine) => m.index % 100 === 50;

export function makeFleet(n: number): BenchFleet {
  const profiles = makeProfiles(DEFAULT_SHAPE);
  const machines = makeMachines(n, profiles);
  let reboot = 0;
  for (const m of machines) {
    if (m.index % 20 !== 3) continue;
    m.extras = { ...m.extras, reboot: { required: true, packages: ['linux-image-6.1.0-28-amd64'] } };
    // what the agent sends as its state: the packages' hash and its extras
    m.state = createHash('sha256')
      .update(`${m.profile.hash}\n${JSON.stringify(m.extras)}`)
      .digest('hex');
    reboot++;
  }
  return {
    machines,
    packages: makePackages(DEFAULT_SHAPE),
    profiles: profiles.length,
    pending: machines.filter(isPending).length,
    reboot,
  };
}

export interface Loaded {
  enrol: LoadResult;
  reports: LoadResult;
}

const ms = (xs: Float64Array, p: number) => percentile(xs, p).toFixed(1);

/** Enrols every machine (32 in flight) and sends one full report per approved machine. */
export async function loadFleet(
  url: string,
  fleet: BenchFleet,
  tokens: { enrol: string; enrolPending: string },
  log: (s: string) => void,
): Promise<Loaded> {
  const client = new FleetClient(url, 64);
  try {
    const { machines } = fleet;
    const enrol = await runLoad(machines.length, 32, async (i, start) => {
      const m = machines[i]!;
      const pending = isPending(m);
      const body = encodeCall('agent.enroll', [
        { token: pending ? tokens.enrolPending : tokens.enrol, facts: factsOf(m) },
      ]);
      start();
      const e = await decoded<{ machine: number; secret: string; status: string }>(await client.post(body));
      if (e.status !== (pending ? 'pending' : 'approved')) throw new Error(`machine ${i} is ${e.status}`);
      m.id = e.machine;
      m.secret = e.secret;
    });
    if (enrol.errors) throw new Error(`enrolment: ${enrol.errors} failed; first: ${enrol.firstError}`);
    log(
      `enrolled ${enrol.calls} machines in ${enrol.seconds.toFixed(1)} s (p99 ${ms(enrol.latencies, 99)} ms), ${fleet.pending} of them pending`,
    );
    const reporting = machines.filter((m) => !isPending(m));
    const reports = await runLoad(reporting.length, 32, async (i, start) => {
      const m = reporting[i]!;
      const body = encodeCall('agent.report', [
        { machineId: m.machineId, state: m.state, packages: { hash: m.profile.hash, full: m.profile.gz }, ...m.extras },
      ]);
      const headers = sign(m, body);
      start();
      await decoded<{ profile: number }>(await client.post(body, headers));
    });
    if (reports.errors) throw new Error(`reports: ${reports.errors} failed; first: ${reports.firstError}`);
    log(
      `${reports.calls} full reports in ${reports.seconds.toFixed(1)} s (${Math.round(reports.calls / reports.seconds)}/s, p99 ${ms(reports.latencies, 99)} ms)`,
    );
    return { enrol, reports };
  } finally {
    await client.close();
  }
}
