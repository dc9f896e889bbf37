// Rollouts in waves (issue 17): a stage's new content reaches a class a share at a time. Each
// machine's wave is fixed at the start (its place in the order of SHA-256(salt, machine-id), the
// salt kept per stage and class); machines of waves not open yet read the content before the
// rollout (a stage view of its own, `<stage>--r<id>-from`), the open waves what it rolls out
// (`-to`). Each wave's machines get an upgrade job when it opens; the tick opens the next wave
// once they all succeeded and the soak passed, and halts the rollout when the failures reach the
// policy. Abort sends every machine of the class back to the content before it.
import { randomBytes } from 'node:crypto';
import { fail } from '../errors.js';
import { stageViewName } from '../index/stage-view.js';
import type { JobBrief, RolloutRow, RolloutStore } from '../state/rollouts.js';
import type { StageStore } from '../state/stages.js';
import { pinsFrom, withdrawn } from './rollout-pins.js';
import { haltText, machineStanding, waveOutcome, type MachineStanding } from './rollout-standing.js';
import { checkReason, checkStart, type RolloutStart } from './rollout-checks.js';
import { nextStep, parseHalt, parseWaves, positionOf, wavesByPlace, type WaveOutcome } from './rollout-waves.js';

export type { RolloutStart } from './rollout-checks.js';
export { assignWaves } from './rollout-waves.js';
import { TimeSlicer } from '../sys/time-slice.js';

/** What rollouts need of the fleet (the assembly lends it). */
export interface RolloutFleet {
  /**
   * the stage a class is bound to (null: none), whether it is a gate class and when it was made
   * (a class of the name made after a rollout is not its class); undefined: no such class
   */
  classBinding(className: string): { stage: string | null; gate: boolean; createdAt: number } | undefined;
  /** ids of the approved machines that follow the stage through this class (its first bound class), in slices */
  classMachines(className: string, stage: string, slicer: TimeSlicer): Promise<number[]>;
  /** queues one upgrade job per machine (in turns) and asks them to check in now: machine → job */
  queueUpgrades(
    machines: ReadonlyMap<number, number | null>,
    kind: 'upgrade' | 'dist-upgrade',
    origin: string,
  ): Promise<Map<number, number>>;
  /** takes back jobs not handed out yet */
  cancelJobs(jobs: readonly number[]): void;
  /** why a job failed, for people (what dpkg failed on, from its transcript) */
  failureOf(job: number): string;
}

export interface RolloutView extends RolloutRow {
  machines: MachineStanding[];
  outcome: WaveOutcome;
  /** when the open wave's soak ends */
  soakEnds: number | null;
}

/** Rollouts still in force: their class reads their views (a done one hands it back to the stage). */
const IN_FORCE: ReadonlySet<string> = new Set(['running', 'paused', 'halted', 'aborted']);

export class RolloutService {
  /** rollouts whose start is still placing machines: the tick leaves them alone until it is done */
  private readonly starting = new Set<number>();
  /** stage + class a promotion is starting a rollout of (from its checks to its start) */
  private readonly claimed = new Set<string>();

  constructor(
    private readonly d: {
      store: RolloutStore;
      stages: StageStore;
      ladder: readonly string[];
      fleet: RolloutFleet;
      now: () => number;
    },
  ) {}

  /**
   * The stage view a machine following `stage` through `className` reads: the stage itself, or a
   * side of the class's rollout in force.
   */
  viewOf(machine: number, stage: string, className: string): string {
    const r = this.d.store.latestBrief(stage, className);
    if (!r || !IN_FORCE.has(r.state)) return stage;
    // made a gate class since: its machines take the stage's content at once (no rollout reaches
    // it again); a class of the name made since is not the rollout's
    const bound = this.d.fleet.classBinding(className);
    if (!bound || bound.gate || bound.createdAt > r.createdAt) return stage;
    if (r.state === 'aborted') return stageViewName(stage, { id: r.id, side: 'from' });
    // a machine that joined the class since the start goes with the last wave
    const wave = this.d.store.waveOfMachine(r.id, machine) ?? r.waves - 1;
    return stageViewName(stage, { id: r.id, side: wave <= r.wave ? 'to' : 'from' });
  }

  /**
   * A promotion that starts a rollout holds the class from its checks to its start, so that no
   * other start slips in while it promotes (its promotion would be made, and its rollout refused).
   */
  claim(stage: string, className: string): () => void {
    const key = `${stage}\0${className}`;
    if (this.claimed.has(key)) fail('USAGE', `a promotion is starting a rollout of ${stage} to ${className}`);
    this.claimed.add(key);
    return () => this.claimed.delete(key);
  }

  /**
   * Starts a rollout of the stage's current content to a class; its first wave opens at once.
   * `claimed`: the caller holds the class (claim()).
   */
  async start(o: RolloutStart, claimed = false): Promise<RolloutView> {
    checkStart(o);
    if (!claimed && this.claimed.has(`${o.stage}\0${o.className}`))
      fail('USAGE', `a promotion is starting a rollout of ${o.stage} to ${o.className}`);
    if (!this.d.ladder.includes(o.stage)) fail('NOT_FOUND', `no stage ${o.stage.slice(0, 40)}`);
    const bound = this.d.fleet.classBinding(o.className);
    if (bound === undefined) fail('NOT_FOUND', `no class ${o.className.slice(0, 60)}`);
    if (bound.stage !== o.stage)
      fail(
        'USAGE',
        `class ${o.className} follows ${bound.stage ? `stage ${bound.stage}` : 'no stage'}, not ${o.stage}`,
      );
    // its machines' upgrades to the stage's content are the gate's evidence: waves would hold some back
    if (bound.gate)
      fail('USAGE', `class ${o.className} is a gate class of ${o.stage}: its machines take new content at once`);
    const waves = parseWaves(o.waves);
    parseHalt(o.halt);
    const last = this.latestOfClass(o.stage, o.className);
    if (last && (last.state === 'running' || last.state === 'paused' || last.state === 'halted'))
      fail(
        'USAGE',
        `rollout ${last.id} of ${o.stage} to ${o.className} is ${last.state}: wait for it, or abort it (aptgate rollout abort ${last.id})`,
      );
    const pins = pinsFrom(this.d.stages, o.stage, last);
    if (!pins.some((p) => p.from !== p.to))
      fail('USAGE', `nothing new in ${o.stage} for class ${o.className}${last ? ` since rollout ${last.id}` : ''}`);
    const salt = this.d.store.salt(o.stage, o.className, () => randomBytes(16).toString('hex'), o.reshuffle === true);
    const now = this.d.now();
    const r = this.d.store.add(
      {
        stage: o.stage,
        className: o.className,
        waves,
        soakMs: o.soakMs,
        halt: o.halt.trim(),
        jobKind: o.jobKind,
        salt,
        state: 'running',
        wave: 0,
        waveOpened: [now],
        createdAt: now,
        actor: o.actor,
        reason: o.reason?.trim() || null,
        // only the suites it moves: the others follow the stage (a security suite's fast lane goes on)
        pins: pins.filter((p) => p.from !== p.to),
      },
      {
        at: now,
        what: 'started',
        actor: o.actor,
        detail: `${waves.length} waves (${waves.join('%, ')}%)`,
      },
    );
    // in force from here, before anything waits: a promotion that starts it reaches no machine of
    // the class but through it. The machines are put in their waves a part at a time (a class of
    // 20,000 is no one transaction); until listed a machine reads the content before, as one of
    // the last wave does
    this.starting.add(r.id);
    try {
      await this.place(r, o, waves, salt);
    } finally {
      this.starting.delete(r.id);
    }
    return this.show(r.id);
  }

  /** A start's second half: its machines put in their waves, the first wave's jobs queued. */
  private async place(r: RolloutRow, o: RolloutStart, waves: number[], salt: string): Promise<void> {
    const slicer = new TimeSlicer();
    const members = await this.membersOf(o.className, o.stage, slicer);
    const placed: Array<{ id: number; at: number }> = [];
    for (const m of members) {
      placed.push({ id: m.id, at: positionOf(m.machineId, salt) });
      if (slicer.due()) await slicer.pause();
    }
    const assigned = wavesByPlace(placed, waves);
    for (let at = 0; at < assigned.length; at += ASSIGN_PART) {
      this.d.store.assign(r.id, assigned.slice(at, at + ASSIGN_PART));
      await slicer.tick();
    }
    this.d.store.amendStart(
      r.id,
      `${members.length} machines in ${waves.length} waves (${waves.join('%, ')}%)${o.reshuffle ? ', order reshuffled' : ''}`,
    );
    await this.queueWave(r, 0, slicer);
  }

  /** The class's machines with their machine-ids (what their place is drawn from). */
  private async membersOf(
    className: string,
    stage: string,
    slicer: TimeSlicer,
  ): Promise<Array<{ id: number; machineId: string }>> {
    const ids = await this.d.fleet.classMachines(className, stage, slicer);
    const out: Array<{ id: number; machineId: string }> = [];
    for (let at = 0; at < ids.length; at += ASSIGN_PART) {
      out.push(...this.d.store.machineKeys(ids.slice(at, at + ASSIGN_PART)));
      await slicer.tick();
    }
    return out;
  }

  /** `members`: the class's machines now (one that left it gets no job of its rollout). */
  private async queueWave(
    r: RolloutRow,
    wave: number,
    slicer: TimeSlicer,
    only?: readonly number[],
    members?: ReadonlySet<number>,
  ): Promise<void> {
    if (!r.jobKind) return;
    // machine → its host (an LTSP chroot's): the jobs' kinds are checked without a query each
    const parents = new Map<number, number | null>();
    if (only)
      for (let at = 0; at < only.length; at += ASSIGN_PART) {
        for (const m of this.d.store.machineKeys(only.slice(at, at + ASSIGN_PART))) parents.set(m.id, m.parentId);
        await slicer.tick();
      }
    else
      await this.inRanges(r.id, slicer, (lo, hi) => {
        for (const m of this.d.store.machinesIn(r.id, lo, hi, wave))
          if (!members || members.has(m.machine)) parents.set(m.machine, m.parentId);
      });
    if (!parents.size || this.d.store.byId(r.id)?.state === 'aborted') return;
    const jobs = await this.d.fleet.queueUpgrades(parents, r.jobKind, `rollout ${r.id} wave ${wave + 1}`);
    const all = [...jobs];
    for (let at = 0; at < all.length; at += ASSIGN_PART) {
      this.d.store.setJobs(r.id, new Map(all.slice(at, at + ASSIGN_PART)));
      await slicer.tick();
    }
    // aborted while the jobs were made (the abort took back only those recorded by then)
    if (this.d.store.byId(r.id)?.state === 'aborted') {
      const made = [...jobs.values()];
      for (let at = 0; at < made.length; at += CANCEL_PART) {
        this.d.fleet.cancelJobs(made.slice(at, at + CANCEL_PART));
        await slicer.tick();
      }
    }
  }

  /** Calls `step` for consecutive ranges (lo, hi] of the rollout's machine ids, a turn of the loop when due. */
  private async inRanges(id: number, slicer: TimeSlicer, step: (lo: number, hi: number) => void): Promise<void> {
    const max = this.d.store.maxMachine(id);
    for (let lo = 0; lo < max; lo += ID_RANGE) {
      step(lo, Math.min(lo + ID_RANGE, max));
      await slicer.tick();
    }
  }

  /**
   * Machines that joined the class since the start are recorded with the last wave (so its
   * jobs, and an abort, reach them too); when that wave is open already, they get their job now.
   */
  private async adoptJoined(r: RolloutRow, slicer: TimeSlicer): Promise<Set<number>> {
    const ids = await this.d.fleet.classMachines(r.className, r.stage, slicer);
    const members = new Set(ids);
    const known = new Set<number>();
    await this.inRanges(r.id, slicer, (lo, hi) => {
      for (const m of this.d.store.machinesIn(r.id, lo, hi, null)) known.add(m.machine);
    });
    const joined = ids.filter((id) => !known.has(id));
    if (!joined.length) return members;
    const last = r.waves.length - 1;
    this.d.store.assign(
      r.id,
      joined.map((machine) => ({ machine, wave: last })),
    );
    if (r.wave === last) await this.queueWave(r, last, slicer, joined);
    return members;
  }

  private get(id: number): RolloutRow {
    // 1e309 reaches here as Infinity
    if (!Number.isSafeInteger(id) || id < 1) fail('USAGE', 'the rollout: a whole number from 1');
    const r = this.d.store.byId(id);
    if (!r) fail('NOT_FOUND', `no rollout ${id}`);
    return r;
  }

  /** A rollout with every machine's standing and the open wave's outcome (read in slices). */
  async show(id: number): Promise<RolloutView> {
    const r = this.get(id);
    const slicer = new TimeSlicer();
    const ids = await this.d.fleet.classMachines(r.className, r.stage, slicer);
    // machines that left the class since are none of its machines while it goes on (the tick
    // judges without them); a finished one's list is its history
    const going = r.state === 'running' || r.state === 'paused' || r.state === 'halted';
    const machines = await this.standings(r, null, slicer, going ? new Set(ids) : undefined);
    // machines that joined the class since (the next tick records them with the last wave)
    const listed = new Set(machines.map((m) => m.id));
    const joined = ids.filter((m) => !listed.has(m));
    const last = r.waves.length - 1;
    for (let at = 0; at < joined.length; at += ASSIGN_PART) {
      for (const m of this.d.store.machineKeys(joined.slice(at, at + ASSIGN_PART)))
        machines.push(
          machineStanding(r, { machine: m.id, wave: last, job: null, hostname: m.hostname }, Infinity, [], () => ''),
        );
      await slicer.tick();
    }
    const outcome = waveOutcome(machines, r.wave);
    const opened = r.waveOpened[r.wave] ?? r.createdAt;
    return { ...r, machines, outcome, soakEnds: r.state === 'running' ? opened + r.soakMs : null };
  }

  /** The latest rollout of a stage to a class (the one its machines' views follow). */
  latest(stage: string, className: string): RolloutRow | undefined {
    return this.d.store.latest(stage, className);
  }

  /** latest(), unless it is of a class removed since whose name this one took. */
  latestOfClass(stage: string, className: string): RolloutRow | undefined {
    const made = this.d.fleet.classBinding(className)?.createdAt ?? Infinity;
    const r = this.d.store.latest(stage, className);
    return r && r.createdAt >= made ? r : undefined;
  }

  list(o: { stage?: string; limit?: number } = {}): RolloutRow[] {
    if (o.limit !== undefined && (!Number.isSafeInteger(o.limit) || o.limit < 1 || o.limit > 1000))
      fail('USAGE', 'limit: 1 to 1000');
    if (o.stage !== undefined && !this.d.ladder.includes(o.stage))
      fail('NOT_FOUND', `no stage ${String(o.stage).slice(0, 40)}`);
    return this.d.store.list(o);
  }

  /**
   * Every machine's standing, or (`wave`) only that wave's (the tick's: its jobs read, no
   * other's), by ranges of machine ids: two statements per range, a turn of the loop when due.
   */
  private async standings(
    r: RolloutRow,
    wave: number | null,
    slicer: TimeSlicer,
    members: ReadonlySet<number> | undefined,
  ): Promise<MachineStanding[]> {
    const out: MachineStanding[] = [];
    const open = r.state !== 'aborted';
    await this.inRanges(r.id, slicer, (lo, hi) => {
      const jobs = new Map<number, JobBrief[]>();
      if (open && (wave === null || wave <= r.wave))
        for (const j of this.d.store.upgradeJobsIn(r.id, lo, hi, r.createdAt, wave)) {
          const list = jobs.get(j.machineId);
          if (list) list.push(j);
          else jobs.set(j.machineId, [j]);
        }
      for (const m of this.d.store.machinesIn(r.id, lo, hi, wave))
        if (!members || members.has(m.machine))
          out.push(
            machineStanding(r, m, r.waveOpened[m.wave] ?? r.createdAt, jobs.get(m.machine) ?? [], (job) =>
              this.d.fleet.failureOf(job),
            ),
          );
    });
    return out.sort((a, b) => a.wave - b.wave || a.id - b.id);
  }

  pause(id: number, actor: string, reason?: string): Promise<RolloutView> {
    checkReason(reason);
    const r = this.get(id);
    if (r.state !== 'running') fail('USAGE', `rollout ${id} is ${r.state}, not running`);
    this.d.store.update(
      id,
      { state: 'paused', stateReason: reason?.trim() || 'paused' },
      this.event('paused', actor, reason),
    );
    return this.show(id);
  }

  /** Paused or halted: running again (a halted wave is judged again: a newer successful upgrade counts). */
  resume(id: number, actor: string, reason?: string): Promise<RolloutView> {
    checkReason(reason);
    const r = this.get(id);
    if (r.state !== 'paused' && r.state !== 'halted')
      fail('USAGE', `rollout ${id} is ${r.state}: only a paused or halted one resumes`);
    this.d.store.update(id, { state: 'running', stateReason: null }, this.event('resumed', actor, reason));
    return this.show(id);
  }

  /** Every machine of the class back to the content before the rollout; jobs not delivered yet taken back. */
  async abort(id: number, actor: string, reason?: string): Promise<RolloutView> {
    checkReason(reason);
    const r = this.get(id);
    if (r.state === 'aborted' || r.state === 'done') fail('USAGE', `rollout ${id} is ${r.state} already`);
    const latest = this.d.store.latestBrief(r.stage, r.className);
    if (latest && latest.id !== r.id) fail('USAGE', `rollout ${latest.id} of the same class came after it`);
    this.d.store.update(
      id,
      { state: 'aborted', stateReason: reason?.trim() || 'aborted' },
      this.event('aborted', actor, reason),
    );
    // every machine reads the content before from now on; the jobs not handed out yet go
    const slicer = new TimeSlicer();
    const queued = this.d.store.queuedJobs(id);
    for (let at = 0; at < queued.length; at += CANCEL_PART) {
      this.d.fleet.cancelJobs(queued.slice(at, at + CANCEL_PART));
      await slicer.tick();
    }
    return this.show(id);
  }

  private event(what: string, actor: string, detail?: string) {
    return { at: this.d.now(), what, actor, ...(detail?.trim() ? { detail: detail.trim() } : {}) };
  }

  /**
   * Every running rollout one step on (the server's tick): halt, open the next wave, or end; any
   * not finished whose content was rolled back is aborted.
   */
  async tick(): Promise<Array<{ id: number; action: string; detail?: string }>> {
    const slicer = new TimeSlicer();
    const out: Array<{ id: number; action: string; detail?: string }> = [];
    for (const r of this.d.store.unfinished()) {
      const g = withdrawn(this.d.stages, this.d.store, r);
      if (!g) continue;
      const why = `${r.stage} was rolled back (generation ${g.id}${g.actor ? ` by ${g.actor}` : ''}): what the rollout moves to is withdrawn`;
      await this.abort(r.id, 'aptgate (rollback)', why);
      out.push({ id: r.id, action: 'aborted', detail: why });
    }
    for (const r0 of this.d.store.running()) {
      // a start still placing its machines is left alone (it would seem to have none)
      if (this.starting.has(r0.id)) continue;
      let r = r0;
      const bound = this.d.fleet.classBinding(r.className);
      if (!bound || bound.createdAt > r.createdAt) {
        const why = `class ${r.className} was removed`;
        await this.abort(r.id, 'aptgate (class removed)', why);
        out.push({ id: r.id, action: 'aborted', detail: why });
        continue;
      }
      if (bound.stage !== r.stage || bound.gate) {
        // its machines no longer read its views: no job of it may reach them, no wave stand for it
        const why = `class ${r.className} ${bound.gate ? `is a gate class of ${r.stage} now` : `follows ${bound.stage ? `stage ${bound.stage}` : 'no stage'} now, not ${r.stage}`}`;
        this.d.store.update(
          r.id,
          { state: 'halted', stateReason: why },
          { at: this.d.now(), what: 'halted', detail: why },
        );
        out.push({ id: r.id, action: 'halted', detail: why });
        continue;
      }
      const members = await this.adoptJoined(r, slicer);
      // waves without machines open one after the other at once
      for (let guard = 0; guard <= r.waves.length; guard++) {
        const machines = await this.standings(r, r.wave, slicer, members);
        // paused, halted or aborted while it was read: that stands (and nothing is overwritten)
        const fresh = this.d.store.byId(r.id);
        if (fresh?.state !== 'running' || fresh.wave !== r.wave) break;
        r = fresh;
        const outcome = waveOutcome(machines, r.wave);
        const opened = r.waveOpened[r.wave] ?? r.createdAt;
        const step = outcome.machines
          ? nextStep({ ...r, openedAt: opened }, outcome, { soakMs: r.soakMs, halt: parseHalt(r.halt) }, this.d.now())
          : r.wave + 1 < r.waves.length
            ? ({ action: 'open', wave: r.wave + 1 } as const)
            : ({ action: 'done' } as const);
        if (step.action === 'wait') break;
        const at = this.d.now();
        if (step.action === 'halt') {
          const why = haltText(machines, r.wave, outcome);
          this.d.store.update(r.id, { state: 'halted', stateReason: why }, { at, what: 'halted', detail: why });
          out.push({ id: r.id, action: 'halted', detail: why });
          break;
        }
        if (step.action === 'done') {
          this.d.store.update(r.id, { state: 'done', stateReason: null }, { at, what: 'done' });
          out.push({ id: r.id, action: 'done' });
          break;
        }
        r = this.d.store.update(
          r.id,
          { wave: step.wave, openedAt: at },
          {
            at,
            what: `wave ${step.wave + 1} opened`,
            detail: `wave ${r.wave + 1}: ${outcome.succeeded} of ${outcome.machines} machines upgraded`,
          },
        );
        await this.queueWave(r, step.wave, slicer, undefined, members);
        out.push({ id: r.id, action: 'opened', detail: `wave ${step.wave + 1}` });
      }
    }
    return out;
  }
}

/** Machines per statement: their ids read, put in waves, given jobs. */
const ASSIGN_PART = 1000;
/** Jobs taken back per turn of the loop when a rollout is aborted. */
const CANCEL_PART = 100;
/** Machine ids per range when a rollout's machines are read. */
const ID_RANGE = 1000;
