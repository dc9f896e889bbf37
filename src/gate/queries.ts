// The release gate for the administrator and the API: plain functions over the gate's service
// (and the fleet's classes bound to stages) that return the JSON shapes of docs/gate.md;
// cli/gate-format.ts turns them into text. Promotions and rollbacks only write stage generations:
// the running server publishes a generation (signed InRelease, Packages) when a client first reads the stage.
import type { Config } from '../config.js';
import { fail, isAptgateError } from '../errors.js';
import { visible } from '../term/visible.js';
import type { StageGeneration } from '../state/stages.js';
import type { Standing } from './gate.js';
import type { GateService } from './service.js';
import type { Update } from './stages.js';

/** What the gate's queries read: the configuration, the gate, and the fleet's classes (stage bindings). */
export interface GateQueryContext {
  config: Config;
  gate: GateService;
  fleet: {
    classes: {
      all(): ReadonlyArray<{ id: number; name: string; stage: string | null; gate: boolean }>;
      membersOf(classId: number): readonly number[];
      testMachines(stage: string, ladder: readonly string[]): readonly number[];
    };
  };
}

const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

// ---- shapes ----

/** An update as --json shows it: the gate's own (stages.ts). */
export type UpdateJson = Update;

export interface StandingJson {
  id: number;
  hostname: string;
  status: Standing['status'];
  job: number | null;
  reason: string | null;
}

export interface GateStatusJson {
  stage: string;
  next: string | null;
  /** when the stage's current content was made (its newest generation) */
  publishedAt: string | null;
  holds: boolean;
  missing: string[];
  updates: UpdateJson[];
  machines: StandingJson[];
}

/** What a generation records about why it was made (null for initial and follow). */
export interface EvidenceJson {
  /** promote: the stage the updates came from */
  from: string | null;
  /** promote: "source from → to" per update moved */
  updates: string[];
  /** promote: whether the gate held */
  gateHeld: boolean | null;
  /** promote: the test machines' standing at the time */
  machines: StandingJson[];
  missing: string[];
  /** rollback: the generation whose content the stage returned to */
  rollbackTo: number | null;
}

export interface GenerationJson {
  id: number;
  stage: string;
  backend: string;
  suite: string;
  kind: StageGeneration['kind'];
  createdAt: string;
  actor: string | null;
  reason: string | null;
  forced: boolean;
  baseSnapshot: number;
  overrides: Array<{ source: string; snapshot: number }>;
  /** its files are written (the server writes them when a client first reads the stage) */
  published: boolean;
  evidence: EvidenceJson | null;
}

export interface PromoteJson {
  stage: string;
  to: string;
  actor: string;
  forced: boolean;
  reason: string | null;
  generations: GenerationJson[];
}
export interface RollbackJson {
  stage: string;
  actor: string;
  reason: string | null;
  generations: GenerationJson[];
}
export interface HistoryJson {
  stage: string;
  generations: GenerationJson[];
}

export interface StageListJson {
  ladder: string[];
  stages: Array<{
    name: string;
    next: string | null;
    /** auto-promotion soak time in ms ([gate] auto_promote), null when promoted by hand only */
    autoPromoteSoakMs: number | null;
    suites: Array<{
      backend: string;
      suite: string;
      generation: number;
      kind: StageGeneration['kind'];
      createdAt: string;
      baseSnapshot: number;
      overrides: Array<{ source: string; snapshot: number }>;
      published: boolean;
    }>;
    classes: Array<{ name: string; gate: boolean; members: number }>;
    testMachines: number;
  }>;
}

export interface KeyExportJson {
  fingerprint: string;
  format: 'armored' | 'binary';
  output: string | null;
  key: string | null;
}

// ---- helpers ----

const standingJson = (m: { id: number; hostname: string } & Partial<Standing> & { status?: string }): StandingJson => ({
  id: m.id,
  hostname: m.hostname,
  status: (m.status ?? 'waiting') as Standing['status'],
  job: 'job' in m && typeof m.job === 'number' ? m.job : null,
  reason: 'reason' in m && typeof m.reason === 'string' ? m.reason : null,
});

function evidenceJson(g: StageGeneration): EvidenceJson | null {
  const e = g.evidence as Record<string, unknown> | null;
  if (!e || typeof e !== 'object') return null;
  const gate = (e['gate'] ?? null) as { holds?: unknown; machines?: unknown; missing?: unknown } | null;
  const machines = Array.isArray(gate?.machines)
    ? (gate.machines as Array<{ id: number; hostname: string }>).map(standingJson)
    : [];
  return {
    from: typeof e['from'] === 'string' ? e['from'] : null,
    updates: Array.isArray(e['updates']) ? (e['updates'] as unknown[]).map(String) : [],
    gateHeld: typeof gate?.holds === 'boolean' ? gate.holds : null,
    machines,
    missing: Array.isArray(gate?.missing) ? (gate.missing as unknown[]).map(String) : [],
    rollbackTo: typeof e['to'] === 'number' ? e['to'] : null,
  };
}

export function generationJson(g: StageGeneration): GenerationJson {
  return {
    id: g.id,
    stage: g.stage,
    backend: g.backend,
    suite: g.suite,
    kind: g.kind,
    createdAt: iso(g.createdAt)!,
    actor: g.actor,
    reason: g.reason,
    forced: g.forced,
    baseSnapshot: g.baseSnapshot,
    overrides: g.overrides.map((o) => ({ source: o.source, snapshot: o.snapshot })),
    published: g.publishedSha256 !== null,
    evidence: evidenceJson(g),
  };
}

/** A stage named on the command line: NOT_FOUND when the ladder has none of that name. */
export function checkStage(config: Config, stage: string): string {
  const ladder = config.gate.stages;
  if (!ladder.includes(stage)) fail('NOT_FOUND', `no stage "${stage.slice(0, 40)}" (stages: ${ladder.join(', ')})`);
  return stage;
}

// ---- gate status ----

export function gateStatus(ctx: GateQueryContext, stages: readonly string[]): { stages: GateStatusJson[] } {
  const ladder = ctx.config.gate.stages;
  const names = stages.length ? stages.map((s) => checkStage(ctx.config, s)) : ladder.slice(0, -1);
  return {
    stages: names.map((stage) => {
      const st = ctx.gate.status(stage);
      return {
        stage,
        next: st.next ?? null,
        publishedAt: iso(st.publishedAt),
        holds: st.holds,
        missing: st.missing,
        updates: st.updates.map((u) => ({
          backend: u.backend,
          suite: u.suite,
          source: u.source,
          from: u.from,
          to: u.to,
          security: u.security,
          snapshot: u.snapshot,
          firstSeen: u.firstSeen,
          lane: u.lane,
          fastLane: u.fastLane,
          fixes: u.fixes,
          eligibleAt: u.eligibleAt,
          inCooldown: u.inCooldown,
        })),
        machines: st.machines.map((m) => standingJson({ id: m.id, hostname: m.hostname, ...m.standing })),
      };
    }),
  };
}

// ---- promote, rollback, history, list ----

export interface PromoteOptions {
  to?: string;
  only?: string[];
  securityOnly?: boolean;
  force?: boolean;
  reason?: string;
  actor: string;
}

/** Checks what needs no database: --to is the next rung, --force has a --reason. */
export function checkPromote(config: Config, stage: string, o: PromoteOptions): void {
  const ladder = config.gate.stages;
  checkStage(config, stage);
  const next = ladder[ladder.indexOf(stage) + 1];
  if (next === undefined) fail('USAGE', `${stage} is the last stage (${ladder.join(' → ')}): nothing to promote to`);
  if (o.to !== undefined && o.to !== next) {
    fail(
      'USAGE',
      `--to ${o.to.slice(0, 40)}: ${stage} promotes to ${next} only (the ladder ${ladder.join(' → ')} is climbed one step at a time)`,
    );
  }
  if (o.force && !o.reason?.trim())
    fail('USAGE', 'a forced promotion needs --reason TEXT (it is recorded in the stage history)');
  if (o.only && !o.only.length) fail('USAGE', '--only needs at least one source package name');
}

/**
 * Promotes a stage one rung. A gate that does not hold is GATE_CLOSED with what is missing (also
 * in its details) and how to go on.
 */
export async function promote(ctx: GateQueryContext, stage: string, o: PromoteOptions): Promise<PromoteJson> {
  checkPromote(ctx.config, stage, o);
  let made: StageGeneration[];
  try {
    made = await ctx.gate.promote(stage, {
      actor: o.actor,
      ...(o.only ? { only: o.only } : {}),
      ...(o.securityOnly ? { securityOnly: true } : {}),
      ...(o.force ? { force: true } : {}),
      ...(o.reason?.trim() ? { reason: o.reason.trim() } : {}),
    });
  } catch (err) {
    if (!isAptgateError(err, 'GATE_CLOSED')) throw err;
    const missing = (err.details?.['missing'] ?? []) as string[];
    fail(
      'GATE_CLOSED',
      `the gate of ${stage} does not hold:\n${missing.map((m) => `  - ${visible(m)}`).join('\n')}\n(aptgate gate status ${stage}; --force --reason TEXT promotes anyway, recorded)`,
      { missing },
    );
  }
  const gens = made.map(generationJson);
  return {
    stage,
    to: made[0]?.stage ?? ctx.config.gate.stages[ctx.config.gate.stages.indexOf(stage) + 1]!,
    actor: o.actor,
    forced: made.some((g) => g.forced),
    reason: o.reason?.trim() || null,
    generations: gens,
  };
}

export async function rollback(
  ctx: GateQueryContext,
  stage: string,
  o: { reason?: string; actor: string },
): Promise<RollbackJson> {
  checkStage(ctx.config, stage);
  const reason = o.reason?.trim() || undefined;
  const made = await ctx.gate.rollback(stage, o.actor, reason);
  return { stage, actor: o.actor, reason: reason ?? null, generations: made.map(generationJson) };
}

/** Every generation of a stage, oldest first; or a page: the `limit` newest before the id `before`. */
export function history(
  ctx: GateQueryContext,
  stage: string,
  page: { before?: number; limit?: number } = {},
): HistoryJson {
  checkStage(ctx.config, stage);
  return { stage, generations: ctx.gate.history(stage, page).map(generationJson) };
}

export function listStages(ctx: GateQueryContext): StageListJson {
  const ladder = ctx.config.gate.stages;
  // only the classes bound to a stage are counted (by SQL: a class may hold 20,000 machines)
  const classes = ctx.fleet.classes
    .all()
    .filter((c) => c.stage !== null)
    .map((c) => ({ ...c, members: ctx.fleet.classes.membersOf(c.id) }));
  return {
    ladder: [...ladder],
    stages: ladder.map((name, i) => ({
      name,
      next: ladder[i + 1] ?? null,
      autoPromoteSoakMs: ctx.config.gate.autoPromote.get(name) ?? null,
      suites: currentOf(ctx, name),
      classes: classes
        .filter((c) => c.stage === name)
        .map((c) => ({ name: c.name, gate: c.gate, members: c.members.length })),
      testMachines: ctx.fleet.classes.testMachines(name, ladder).length,
    })),
  };
}

function currentOf(ctx: GateQueryContext, stage: string): StageListJson['stages'][number]['suites'] {
  return ctx.gate
    .current(stage)
    .sort((a, b) => a.backend.localeCompare(b.backend) || a.suite.localeCompare(b.suite))
    .map((g) => ({
      backend: g.backend,
      suite: g.suite,
      generation: g.id,
      kind: g.kind,
      createdAt: iso(g.createdAt)!,
      baseSnapshot: g.baseSnapshot,
      overrides: g.overrides.map((o) => ({ source: o.source, snapshot: o.snapshot })),
      published: g.publishedSha256 !== null,
    }));
}

// ---- the server's key ----

/**
 * The server's public key for clients' Signed-By: armored text, or a binary keyring in base64
 * (`aptgate key export --binary --output FILE` writes its bytes). The server makes the key at its
 * first start; the command line only opens it (SIGNING_KEY before that).
 */
export async function keyExport(ctx: GateQueryContext, binary: boolean): Promise<KeyExportJson> {
  const { fingerprint, data } = await ctx.gate.exportKey(binary);
  return binary
    ? { fingerprint, format: 'binary', output: null, key: data.toString('base64') }
    : { fingerprint, format: 'armored', output: null, key: data.toString('utf8') };
}
