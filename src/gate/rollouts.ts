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
import type { RolloutMachine, RolloutPin, RolloutRow, RolloutStore } from '../state/rollouts.js';
import type { StageGeneration, StageStore } from '../state/stages.js';
import {
  haltText,
  machineStanding,
  waveOutcome,
  type MachineStanding,
  type StandingFleet,
} from './rollout-standing.js';
import { nextStep, parseHalt, parseWaves, positionOf, type WaveOutcome } from './rollout-waves.js';

/** What rollouts need of the fleet (the assembly lends it). */
export interface RolloutFleet extends StandingFleet {
  /** the stage a class is bound to (null: none) and whether it is a gate class; undefined: no such class */
  classBinding(className: string): { stage: string | null; gate: boolean } | undefined;
  /** approved machines that follow the stage through this class (its first bound class) */
  classMachines(className: string, stage: string): Array<{ id: number; machineId: string }>;
  /** queues one upgrade job per machine and asks them to check in now: machine → job */
  queueUpgrades(machines: readonly number[], kind: 'upgrade' | 'dist-upgrade', origin: string): Map<number, number>;
  /** takes back a job not delivered yet */
  cancelJob(job: number): void;
}

export interface RolloutStart {
  stage: string;
  className: string;
  /** "20%,50%,100%" */
  waves: string;
  soakMs: number;
  /** "1" (machines) or "10%" (of the open wave) */
  halt: string;
  /** the job each wave's machines get when it opens; '' leaves them to the class's schedules */
  jobKind: '' | 'upgrade' | 'dist-upgrade';
  reshuffle?: boolean;
  actor: string;
  reason?: string;
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
    if (r.state === 'aborted') return stageViewName(stage, { id: r.id, side: 'from' });
    // a machine that joined the class since the start goes with the last wave
    const wave = this.d.store.waveOfMachine(r.id, machine) ?? r.waves - 1;
    return stageViewName(stage, { id: r.id, side: wave <= r.wave ? 'to' : 'from' });
  }

  /** Starts a rollout of the stage's current content to a class; its first wave opens at once. */
  start(o: RolloutStart): RolloutView {
    checkStart(o);
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
    const last = this.d.store.latest(o.stage, o.className);
    if (last && (last.state === 'running' || last.state === 'paused' || last.state === 'halted'))
      fail(
        'USAGE',
        `rollout ${last.id} of ${o.stage} to ${o.className} is ${last.state}: wait for it, or abort it (aptgate rollout abort ${last.id})`,
      );
    const pins = this.pinsFrom(o.stage, last);
    if (!pins.some((p) => p.from !== p.to))
      fail('USAGE', `nothing new in ${o.stage} for class ${o.className}${last ? ` since rollout ${last.id}` : ''}`);
    const members = this.d.fleet.classMachines(o.className, o.stage);
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
        machines: assignWaves(members, salt, waves),
      },
      {
        at: now,
        what: 'started',
        actor: o.actor,
        detail: `${members.length} machines in ${waves.length} waves (${waves.join('%, ')}%)${o.reshuffle ? ', order reshuffled' : ''}`,
      },
    );
    this.queueWave(r, 0);
    return this.show(r.id);
  }

  /**
   * Per suite, what the class reads now (from) and the stage's current content (to): after an
   * aborted rollout the content before it, after one done what it rolled out, a suite an earlier
   * rollout left alone the stage's current content (the class read it all along), else (the
   * class's first rollout) for the suites of the stage's last change (a promotion makes each
   * suite's generation at once) the generation before it: older changes reached the class already.
   */
  private pinsFrom(stage: string, last: RolloutRow | undefined): RolloutPin[] {
    const current = this.d.stages.currentAll(stage);
    const newest = current.reduce<StageGeneration | undefined>((a, g) => (!a || g.id > a.id ? g : a), undefined);
    const lastChange = (g: StageGeneration) =>
      g.kind === newest!.kind && g.actor === newest!.actor && newest!.createdAt - g.createdAt < SAME_CHANGE_MS;
    return current.map((g) => {
      const had = last?.pins.find((p) => p.backend === g.backend && p.suite === g.suite);
      const from = had
        ? last!.state === 'aborted'
          ? had.from
          : had.to
        : last || !lastChange(g)
          ? g.id
          : (this.d.stages.before(g)?.id ?? g.id);
      return { backend: g.backend, suite: g.suite, from, to: g.id };
    });
  }

  private queueWave(r: RolloutRow, wave: number, only?: readonly number[]): void {
    if (!r.jobKind) return;
    const ids = (only ?? this.d.store.machines(r.id).flatMap((m) => (m.wave === wave ? [m.machine] : []))).filter(
      (id) => this.d.fleet.hostname(id) !== undefined,
    );
    if (!ids.length) return;
    const jobs = this.d.fleet.queueUpgrades(ids, r.jobKind, `rollout ${r.id} wave ${wave + 1}`);
    for (const [machine, job] of jobs) this.d.store.setJob(r.id, machine, job);
  }

  /**
   * Machines that joined the class since the start are recorded with the last wave (so its
   * jobs, and an abort, reach them too); when that wave is open already, they get their job now.
   */
  private adoptJoined(r: RolloutRow): void {
    const known = new Set(this.d.store.machines(r.id).map((m) => m.machine));
    const joined = this.d.fleet.classMachines(r.className, r.stage).flatMap((m) => (known.has(m.id) ? [] : [m.id]));
    if (!joined.length) return;
    const last = r.waves.length - 1;
    this.d.store.addMachines(r.id, joined, last);
    if (r.wave === last) this.queueWave(r, last, joined);
  }

  private get(id: number): RolloutRow {
    const r = this.d.store.byId(id);
    if (!r) fail('NOT_FOUND', `no rollout ${id}`);
    return r;
  }

  /** A rollout with every machine's standing and the open wave's outcome. */
  show(id: number): RolloutView {
    const r = this.get(id);
    const machines = this.standings(r);
    const outcome = waveOutcome(machines, r.wave);
    const opened = r.waveOpened[r.wave] ?? r.createdAt;
    return { ...r, machines, outcome, soakEnds: r.state === 'running' ? opened + r.soakMs : null };
  }

  list(o: { stage?: string; limit?: number } = {}): RolloutRow[] {
    if (o.limit !== undefined && (!Number.isSafeInteger(o.limit) || o.limit < 1 || o.limit > 1000))
      fail('USAGE', 'limit: 1 to 1000');
    if (o.stage !== undefined && !this.d.ladder.includes(o.stage))
      fail('NOT_FOUND', `no stage ${String(o.stage).slice(0, 40)}`);
    return this.d.store.list(o);
  }

  /** Every machine's standing, or (`wave`) only that wave's (the tick's: its jobs read, no other's). */
  private standings(r: RolloutRow, wave?: number): MachineStanding[] {
    const listed = this.d.store.machines(r.id);
    const known = new Set(listed.map((m) => m.machine));
    // machines that joined the class since the start go with the last wave
    const joined: RolloutMachine[] = this.d.fleet
      .classMachines(r.className, r.stage)
      .filter((m) => !known.has(m.id))
      .map((m) => ({ machine: m.id, wave: r.waves.length - 1, job: null }));
    return [...listed, ...joined]
      .filter((m) => wave === undefined || m.wave === wave)
      .flatMap((m) => machineStanding(r, m, r.waveOpened[m.wave] ?? r.createdAt, this.d.fleet) ?? []);
  }

  pause(id: number, actor: string, reason?: string): RolloutView {
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
  resume(id: number, actor: string, reason?: string): RolloutView {
    checkReason(reason);
    const r = this.get(id);
    if (r.state !== 'paused' && r.state !== 'halted')
      fail('USAGE', `rollout ${id} is ${r.state}: only a paused or halted one resumes`);
    this.d.store.update(id, { state: 'running', stateReason: null }, this.event('resumed', actor, reason));
    return this.show(id);
  }

  /** Every machine of the class back to the content before the rollout; jobs not delivered yet taken back. */
  abort(id: number, actor: string, reason?: string): RolloutView {
    checkReason(reason);
    const r = this.get(id);
    if (r.state === 'aborted' || r.state === 'done') fail('USAGE', `rollout ${id} is ${r.state} already`);
    const latest = this.d.store.latestBrief(r.stage, r.className);
    if (latest && latest.id !== r.id) fail('USAGE', `rollout ${latest.id} of the same class came after it`);
    for (const m of this.d.store.machines(id)) if (m.job !== null) this.d.fleet.cancelJob(m.job);
    this.d.store.update(
      id,
      { state: 'aborted', stateReason: reason?.trim() || 'aborted' },
      this.event('aborted', actor, reason),
    );
    return this.show(id);
  }

  private event(what: string, actor: string, detail?: string) {
    return { at: this.d.now(), what, actor, ...(detail?.trim() ? { detail: detail.trim() } : {}) };
  }

  /**
   * A suite the rollout moves whose stage was rolled back since to content from before it: what
   * it rolls out was withdrawn (the class, pinned, would not see the rollback otherwise).
   */
  private withdrawn(r: RolloutRow): StageGeneration | undefined {
    for (const p of r.pins) {
      if (p.from === p.to) continue;
      const cur = this.d.stages.current(r.stage, p.backend, p.suite);
      const restored = cur?.kind === 'rollback' ? (cur.evidence as { to?: unknown } | null)?.to : undefined;
      if (cur && cur.id > p.to && typeof restored === 'number' && restored < p.to) return cur;
    }
    return undefined;
  }

  /**
   * Every running rollout one step on (the server's tick): halt, open the next wave, or end; any
   * not finished whose content was rolled back is aborted.
   */
  tick(): Array<{ id: number; action: string; detail?: string }> {
    const out: Array<{ id: number; action: string; detail?: string }> = [];
    for (const r of this.d.store.unfinished()) {
      const g = this.withdrawn(r);
      if (!g) continue;
      const why = `${r.stage} was rolled back (generation ${g.id}${g.actor ? ` by ${g.actor}` : ''}): what the rollout moves to is withdrawn`;
      this.abort(r.id, 'aptgate (rollback)', why);
      out.push({ id: r.id, action: 'aborted', detail: why });
    }
    for (const r0 of this.d.store.running()) {
      let r = r0;
      this.adoptJoined(r);
      // waves without machines open one after the other at once
      for (let guard = 0; guard <= r.waves.length; guard++) {
        const machines = this.standings(r, r.wave);
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
        this.queueWave(r, step.wave);
        out.push({ id: r.id, action: 'opened', detail: `wave ${step.wave + 1}` });
      }
    }
    return out;
  }
}

/** Generations of one change of a stage (a promotion's suites) are made within this of each other. */
const SAME_CHANGE_MS = 5_000;
const JOB_KINDS: ReadonlySet<string> = new Set(['', 'upgrade', 'dist-upgrade']);
const MAX_SOAK_MS = 366 * 86_400_000;

/** What a start names, checked before anything is read or written (it may come from any edge). */
function checkStart(o: RolloutStart): void {
  for (const [k, v] of [
    ['stage', o.stage],
    ['class', o.className],
    ['waves', o.waves],
    ['halt', o.halt],
    ['actor', o.actor],
  ] as const)
    if (typeof v !== 'string' || v.length > 200) fail('USAGE', `${k}: a name or text of up to 200 characters`);
  if (!Number.isSafeInteger(o.soakMs) || o.soakMs < 0 || o.soakMs > MAX_SOAK_MS)
    fail('USAGE', 'soak: a duration from 0 to 366 days, e.g. 1h');
  if (typeof o.jobKind !== 'string' || !JOB_KINDS.has(o.jobKind))
    fail('USAGE', `job: upgrade, dist-upgrade or none (empty), not "${String(o.jobKind).slice(0, 20)}"`);
  if (o.reshuffle !== undefined && typeof o.reshuffle !== 'boolean') fail('USAGE', 'reshuffle: true or false');
  checkReason(o.reason);
}

function checkReason(reason: unknown): void {
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1000))
    fail('USAGE', 'reason: a text of up to 1000 characters');
}

/**
 * Waves by rank: the machines ordered by their place (SHA-256 of salt and machine-id), the first
 * ceil(share × n) in the waves up to that share; with at least as many machines as waves, every
 * wave gets one more at least (3 machines at 5%, 25%, 100%: one each). A machine keeps its place
 * across rollouts of the same salt.
 */
export function assignWaves(
  members: ReadonlyArray<{ id: number; machineId: string }>,
  salt: string,
  waves: readonly number[],
): Array<{ machine: number; wave: number }> {
  const ordered = members
    .map((m) => ({ id: m.id, at: positionOf(m.machineId, salt) }))
    .sort((a, b) => a.at - b.at || a.id - b.id);
  const n = ordered.length;
  // how many machines the waves up to each one hold
  const upTo: number[] = [];
  waves.forEach((share, k) => {
    let c = Math.ceil((share / 100) * n - 1e-9);
    if (n >= waves.length) c = Math.min(n - (waves.length - 1 - k), Math.max(c, (upTo[k - 1] ?? 0) + 1));
    upTo.push(Math.min(n, c));
  });
  return ordered.map((m, rank) => ({
    machine: m.id,
    wave: Math.max(
      0,
      upTo.findIndex((c) => rank < c),
    ),
  }));
}
