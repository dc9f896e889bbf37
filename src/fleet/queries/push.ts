// `push`'s part in the database: the targets' pull-now flag, and the hosts to reach (an LTSP
// chroot is run by the agent on its server). The ssh runs themselves are fleet/push.ts.
import type { PushTarget } from '../push.js';
import type { FleetQueryContext } from './context.js';

export interface PushPlan {
  /** approved machines whose pull-now flag is set */
  pullNow: Array<{ id: number; hostname: string }>;
  /** targets left alone, and why */
  skipped: Array<{ id: number; hostname: string; reason: string }>;
  /** the hosts to run the agent on */
  hosts: PushTarget[];
}

/** Sets the pull-now flag of the approved machines among `refs` (class names, machine ids or hostnames). */
export function markPullNow(ctx: FleetQueryContext, refs: readonly string[]): PushPlan {
  const targets = ctx.fleet.targets(refs);
  const approved = targets.filter((m) => m.status === 'approved');
  const skipped = targets
    .filter((m) => m.status !== 'approved')
    .map((m) => ({ id: m.id, hostname: m.hostname, reason: 'pending approval' }));
  ctx.fleet.setPullNow(
    approved.map((m) => m.id),
    true,
  );
  const hosts = new Map<number, PushTarget>();
  for (const m of approved) {
    const host = m.parentId === null ? m : (ctx.fleet.machines.byId(m.parentId) ?? m);
    hosts.set(host.id, { id: host.id, hostname: host.hostname });
  }
  return { pullNow: approved.map((m) => ({ id: m.id, hostname: m.hostname })), skipped, hosts: [...hosts.values()] };
}
