// The fleet of bench:api, made as bench:fleet makes it (bench/fleet-data.ts: 200 profiles,
// machines with their facts and report extras) and brought into the server the way agents do:
// agent.enroll and one agent.report per machine over real /RPC2, signed (the packages in full for
// the first machine of each profile, by hash for the others, as agents do). On top of
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
  fullReports: LoadResult;
  reports: LoadResult;
}

const ms = (xs: Float64Array, p: number) => percentile(xs, p).toFixed(1);

/** Enrols every machine (32 in flight) and sends one report per approved machine. */
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
    // the first machine of a profile sends its packages in full; the others only the hash, as an
    // agent does once its check-in answer says the server knows its packages (packagesKnown)
    const reporting = machines.filter((m) => !isPending(m));
    const sentFull = new Set<number>();
    const full = reporting.filter((m) => !sentFull.has(m.profile.index) && sentFull.add(m.profile.index));
    const byHash = reporting.filter((m) => !full.includes(m));
    const report = (list: SimMachine[]) => async (i: number, start: () => void) => {
      const m = list[i]!;
      const packages = list === full ? { hash: m.profile.hash, full: m.profile.gz } : { hash: m.profile.hash };
      const body = encodeCall('agent.report', [{ machineId: m.machineId, state: m.state, packages, ...m.extras }]);
      const headers = sign(m, body);
      start();
      await decoded<{ profile: number }>(await client.post(body, headers));
    };
    const fullReports = await runLoad(full.length, 32, report(full));
    const reports = await runLoad(byHash.length, 32, report(byHash));
    for (const [r, what] of [
      [fullReports, 'full reports (a new installed set each)'],
      [reports, 'reports by hash (a known set)'],
    ] as const) {
      if (r.errors) throw new Error(`${what}: ${r.errors} failed; first: ${r.firstError}`);
      log(
        `${r.calls} ${what} in ${r.seconds.toFixed(1)} s (${Math.round(r.calls / r.seconds)}/s, p99 ${ms(r.latencies, 99)} ms)`,
      );
    }
    return { enrol, fullReports, reports };
  } finally {
    await client.close();
  }
}
