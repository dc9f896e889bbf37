// What the server does on its own, over the assembled services: the schedule tick (with
// auto-promotion and the rollouts' next steps), a new snapshot's fan-out to the gate's stages and the cached outdated
// answers of its suite, the proxy's traffic sampled into its history every 5 minutes, and the
// security advisory feeds fetched when due.
import type { AdvisoryFeeds } from '../advisories/feeds.js';
import type { ChangelogRefsService } from '../advisories/changelog-refs.js';
import type { Fleet } from '../fleet/fleet.js';
import type { OutdatedService } from '../fleet/outdated.js';
import type { RolloutService } from '../gate/rollouts.js';
import type { GateService } from '../gate/service.js';
import type { Logger } from '../log.js';
import type { ProxyRuntime } from '../proxy/runtime.js';
import { TRAFFIC_SAMPLE_MS, type TrafficSampler } from '../proxy/traffic.js';

export interface BackgroundDeps {
  fleet: Fleet;
  gate: GateService;
  /** rollouts in waves: halted, a wave opened or done at each tick */
  rollouts: RolloutService;
  outdated: OutdatedService;
  proxy: ProxyRuntime;
  traffic: TrafficSampler;
  log: Logger;
  tickMs: number;
  /** the security advisory feeds, fetched when due */
  advisories: AdvisoryFeeds;
  /** works out every installed set's exposures once the feeds changed (0: nothing to do) */
  warmExposures?: () => Promise<number>;
  changelogRefs?: ChangelogRefsService;
}

/** Starts the background turns; the function returned stops them (work already begun finishes). */
export function startBackground(d: BackgroundDeps): () => void {
  const { fleet, gate, outdated, proxy, log } = d;
  let warming = false;
  let rolling = false;
  // a site cache has no gate of its own: its /stage/ serves its parent's (docs/sites.md)
  const own = !proxy.config.site.parent;
  const autoPromote = () => (own ? gate.autoPromote() : Promise.resolve([]));
  const onSnapshotIndexed = (id: number) => (own ? gate.onSnapshotIndexed(id) : Promise.resolve([]));
  // a stage that missed a snapshot takes it (normally nothing: each link is followed at once)
  const catchUp = () =>
    (own ? gate.catchUp() : Promise.resolve([])).then(
      (made) => {
        if (made.length)
          log.warn(
            { generations: made.map((g) => `${g.stage} ${g.backend}/${g.suite}`) },
            'stages caught up with snapshots they had missed',
          );
      },
      (err: Error) => log.error({ err: err.message }, 'stage catch-up failed'),
    );
  void catchUp();
  const tick = () => {
    try {
      const created = fleet.schedules.tick();
      if (created.length) log.info({ jobs: created.length }, 'schedules fired');
    } catch (err) {
      // the schedules that could fire did: their jobs are in the error's details
      const created = (err as { details?: { created?: unknown[] } }).details?.created?.length ?? 0;
      log.error({ err: (err as Error).message, jobs: created }, 'schedule tick failed');
    }
    void catchUp();
    autoPromote().then(
      (made) => {
        if (made.length)
          log.info({ generations: made.map((g) => `${g.stage} ${g.backend}/${g.suite}`) }, 'auto-promoted');
      },
      (err: Error) => log.error({ err: err.message }, 'auto-promotion failed'),
    );
    if (d.warmExposures && !warming) {
      warming = true;
      const started = performance.now();
      d.warmExposures()
        .then(
          (n) => {
            if (n) log.info({ groups: n, ms: Math.round(performance.now() - started) }, 'exposures worked out');
          },
          (err: Error) => log.error({ err: err.message }, 'working out the exposures failed'),
        )
        .finally(() => (warming = false));
    }
    // one rollout tick at a time (a class of 20,000 machines is read in slices)
    if (!rolling) {
      rolling = true;
      d.rollouts
        .tick()
        .then(
          (steps) => {
            for (const s of steps)
              (s.action === 'halted' ? log.warn : log.info).call(
                log,
                { rollout: s.id, detail: s.detail },
                `rollout ${s.action}`,
              );
          },
          (err: Error) => log.error({ err: err.message }, 'rollout tick failed'),
        )
        .finally(() => (rolling = false));
    }
  };
  const ticker = setInterval(tick, d.tickMs);
  ticker.unref();
  const sample = () => {
    try {
      d.traffic.sample();
    } catch (err) {
      // not recorded now: the next sample carries it
      log.warn({ err: (err as Error).message }, 'could not record the proxy traffic');
    }
  };
  const sampler = setInterval(sample, TRAFFIC_SAMPLE_MS);
  sampler.unref();
  // a new snapshot's Packages linked: bring cached outdated answers of that suite up to date
  // (once per suite per turn of the event loop, however many indexes were linked; the gate hears of each snapshot)
  const pending = new Map<string, Map<number, number>>();
  let closing = false;
  proxy.indexer.onLinked((snapshotId) => {
    if (closing) return;
    const snap = proxy.snapshots.byId(snapshotId);
    if (!snap) return;
    const key = `${snap.backend}\0${snap.suite}`;
    const linked = pending.get(key);
    if (linked) {
      linked.set(snap.id, snap.date);
      return;
    }
    pending.set(key, new Map([[snap.id, snap.date]]));
    setImmediate(() => {
      const ids = pending.get(key)!;
      pending.delete(key);
      if (closing) return;
      // every snapshot of the suite linked this turn, oldest first: the gate follows the newest,
      // and each one's generations are written again with what was indexed (never only the first)
      const order = [...ids].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([id]) => id);
      Promise.all(order.map((id) => onSnapshotIndexed(id)))
        .then((m) => m.flat())
        .then(
          (made) => {
            if (made.length)
              log.info(
                { backend: snap.backend, suite: snap.suite, generations: made.map((g) => `${g.stage}:${g.kind}`) },
                'stages updated',
              );
          },
          (err: Error) =>
            log.error({ backend: snap.backend, suite: snap.suite, err: err.message }, 'stage publishing failed'),
        );
      outdated.refreshInSlices(snap.backend, snap.suite).then(
        (stats) => {
          if (stats.recomputed || stats.carried)
            log.info({ backend: snap.backend, suite: snap.suite, ...stats }, 'outdated refreshed');
        },
        (err: Error) => {
          log.error({ backend: snap.backend, suite: snap.suite, err: err.message }, 'outdated refresh failed');
        },
      );
    });
  });
  proxy.addBusyProbe('outdated', () => pending.size > 0 || outdated.busy);
  // each outdated answer computed or read: its updates' changelogs are read in the background (issue 17)
  const refs = d.changelogRefs;
  if (refs) outdated.onAnswer = (r) => refs.enqueue(r.entries);
  const stopAdvisories = d.advisories.start();
  return () => {
    closing = true;
    outdated.onAnswer = undefined;
    stopAdvisories();
    clearInterval(ticker);
    clearInterval(sampler);
    sample(); // the minutes since the last sample
  };
}
