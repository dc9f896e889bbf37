// What the server says this machine is exposed to (agent.exposures, issue 17), for the status
// line: best effort, a status never fails because the server is away.
import type { AgentExposures } from '../protocol/wire.js';
import { RpcClient } from './client.js';
import type { AgentConfig } from './config.js';
import type { AgentState } from './identity.js';

type Identity = NonNullable<ReturnType<AgentState['identity']>>;

/** The server's answer, or why there is none (not enrolled, not reached, refused). */
export async function serverExposures(
  c: AgentConfig,
  identity: Identity | undefined,
  state: AgentState,
  places: { server: string; configFile: string },
): Promise<{ exposures: AgentExposures | null; why: string | null }> {
  if (!identity) return { exposures: null, why: 'not enrolled' };
  try {
    const client = new RpcClient(
      { server: c.server || identity.server, caFile: c.caFile, timeoutS: Math.min(c.timeoutS, 15), places },
      { identity, state },
    );
    const exposures = await client.call<AgentExposures>('agent.exposures', [{ machineId: identity.machineId }]);
    return { exposures, why: null };
  } catch (err) {
    return { exposures: null, why: (err as Error).message.split('\n')[0]!.slice(0, 200) };
  }
}

/** "exposed to 7 CVEs (2 high, 5 medium): CVE-…, CVE-…", or why that is not known. */
export function exposuresLine(r: { exposures: AgentExposures | null; why: string | null }): string {
  const e = r.exposures;
  if (!e) return `security advisories: not known (${r.why ?? 'no answer'})`;
  if (!e.known) return 'security advisories: the server cannot tell yet';
  if (!e.total) return 'security advisories: exposed to no known CVE';
  const order = ['critical', 'high', 'medium', 'low', 'unimportant', 'unknown'];
  const counts = order.filter((u) => e.byUrgency[u]).map((u) => `${e.byUrgency[u]} ${u}`);
  const names = e.cves.slice(0, 5).map((x) => x.cve);
  return `security advisories: exposed to ${e.total} CVE${e.total === 1 ? '' : 's'} (${counts.join(', ')}): ${names.join(', ')}${e.total > names.length ? ', …' : ''}`;
}
