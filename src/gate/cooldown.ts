// The cooldown ([gate] min_age): a version enters a stage by promotion only once it was first
// seen upstream long enough ago, so an upload withdrawn within days never reaches production.
// The fast lane ([gate] min_age_security, none by default) is for security suites and for
// updates that fix a CVE of at least [gate] fast_lane_urgency (the security tracker's urgency).

export type Urgency = 'unimportant' | 'low' | 'medium' | 'high' | 'critical' | 'unknown';

export interface CooldownPolicy {
  minAge: ReadonlyMap<string, number>;
  minAgeSecurity: ReadonlyMap<string, number>;
  fastLaneUrgency: 'low' | 'medium' | 'high' | 'critical' | null;
}

/** A CVE an update fixes: the tracker has its fixed version within (from, to]. */
export interface FixedCve {
  cve: string;
  urgency: Urgency;
}

/** What an update fixes, by the imported advisories (the assembly gives it; none without them). */
export type FixesOf = (u: { source: string; from: string | null; to: string; codename: string | null }) => FixedCve[];

export interface CooldownAnswer {
  lane: 'normal' | 'security' | 'fast';
  /** why the update takes the fast lane (null in the normal lane) */
  fastLane: string | null;
  /** when it may enter the stage (ms) */
  eligibleAt: number;
}

const RANK: Record<Urgency, number> = { unknown: -1, unimportant: 0, low: 1, medium: 2, high: 3, critical: 4 };

export function cooldownOf(
  policy: CooldownPolicy,
  stage: string,
  firstSeen: number,
  security: boolean,
  fixes: readonly FixedCve[],
): CooldownAnswer {
  const threshold = policy.fastLaneUrgency;
  const urgent = threshold ? fixes.filter((f) => RANK[f.urgency] >= RANK[threshold]) : [];
  if (security || urgent.length) {
    const why = security
      ? 'from a security suite'
      : `fixes ${urgent
          .slice(0, 3)
          .map((f) => `${f.cve} (${f.urgency})`)
          .join(', ')}${urgent.length > 3 ? ', …' : ''}`;
    return {
      lane: security ? 'security' : 'fast',
      fastLane: why,
      eligibleAt: firstSeen + (policy.minAgeSecurity.get(stage) ?? 0),
    };
  }
  return { lane: 'normal', fastLane: null, eligibleAt: firstSeen + (policy.minAge.get(stage) ?? 0) };
}
