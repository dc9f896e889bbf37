// Operations on the release gate (gate/queries.ts): its status, the ladder of stages, a stage's
// history, auto-promotion and the server's public key (viewer); promotion and rollback
// (operator, audited: the entry's detail names the stage generations made, so the audit log
// links to their evidence, #/gate/STAGE?gen=ID). Who promotes is the caller: a user, a token's
// owner, or on the server host the unix user (the one behind sudo).
import type { Principal } from '../access/principal.js';
import type { Services } from '../assembly/services.js';
import {
  gateStatus,
  history,
  keyExport,
  listStages,
  promote,
  rollback,
  type GateQueryContext,
  type PromoteJson,
  type RollbackJson,
} from '../gate/queries.js';
import { promoteWithRollout, type PromoteWithRolloutJson } from '../gate/rollout-queries.js';
import { bool, int, object, op, str, strings } from './operation.js';
import { rolloutOptions, rolloutSettings, type RolloutOptionsInput } from './rollout-options.js';
import { textOption } from './values.js';

const gateCtx = (s: Services): GateQueryContext => ({ config: s.config, gate: s.gate, fleet: s.fleet });

const stageName = str('a stage of the ladder ([gate] stages)', { maxLength: 64 });
const reason = str('why (recorded in the stage history and the audit log; at most 500 characters, one line)', {
  maxLength: 1000,
});

/** The name a promotion or rollback records: the account, or on the server host the unix user. */
export function actorOf(p: Principal, env: NodeJS.ProcessEnv = process.env): string {
  if (p.kind !== 'local') return p.name;
  const sudo = env['SUDO_USER'];
  if (sudo && /^[A-Za-z0-9._-]{1,64}$/.test(sudo)) return sudo;
  return p.name.replace(/^local /, '');
}

const reasonOf = (r: string | undefined) => (r === undefined ? {} : { reason: textOption('reason', r, 500) });

/** The audit entry's detail: the generations made, each with its stage (the audit page links them), the rollout. */
const generationsMade = (r: PromoteJson | RollbackJson | PromoteWithRolloutJson) => ({
  stage: 'to' in r ? r.to : r.stage,
  generations: r.generations.map((g) => ({ id: g.id, stage: g.stage })),
  ...('rollout' in r ? { rollout: r.rollout.id } : {}),
});

type PromoteInput = {
  stage: string;
  to?: string;
  only?: string[];
  securityOnly?: boolean;
  force?: boolean;
  reason?: string;
  rollout?: { class: string } & RolloutOptionsInput;
};

export const gateOps = [
  op({
    name: 'gate.status',
    summary: "per stage: the next stage, pending updates, each test machine's standing, whether the gate holds",
    role: 'viewer',
    method: 'GET',
    path: '/gate',
    input: { properties: { stage: strings('stages to show (default: every stage but the last)', 64) } },
    output: object('{ stages: [...] }, as aptgate gate status --json'),
    changes: false,
    run: ({ services }, i: { stage?: string[] }) => gateStatus(gateCtx(services), i.stage ?? []),
  }),
  op({
    name: 'gate.auto-promotion',
    summary: 'auto-promotion ([gate] auto_promote): per stage with a next one, the soak time or none',
    role: 'viewer',
    method: 'GET',
    path: '/gate/auto-promotion',
    input: { properties: {} },
    output: object('{ stages: [{ stage, next, soakMs }] } (soakMs null: promoted by hand only)'),
    changes: false,
    run: ({ services }) => {
      const ladder = services.config.gate.stages;
      return {
        stages: ladder.slice(0, -1).map((stage, i) => ({
          stage,
          next: ladder[i + 1]!,
          soakMs: services.config.gate.autoPromote.get(stage) ?? null,
        })),
      };
    },
  }),
  op({
    name: 'stages.list',
    summary: 'the ladder: per stage its suites and their current generation, the classes bound to it, auto-promotion',
    role: 'viewer',
    method: 'GET',
    path: '/stages',
    input: { properties: {} },
    output: object('{ ladder, stages: [...] }, as aptgate stage list --json'),
    changes: false,
    run: ({ services }) => listStages(gateCtx(services)),
  }),
  op({
    name: 'stages.history',
    summary: 'every generation of a stage: when, kind, who, why, evidence, content',
    role: 'viewer',
    method: 'GET',
    path: '/stages/:stage/history',
    input: {
      properties: {
        stage: stageName,
        limit: int('only the newest this many (default: all)', 1, 10_000),
        before: int('only generations older than this id (the next page)', 1),
      },
      required: ['stage'],
    },
    output: object('{ stage, generations: [...] }, oldest first, as aptgate stage history --json'),
    changes: false,
    run: ({ services }, i: { stage: string; limit?: number; before?: number }) =>
      history(gateCtx(services), i.stage, {
        ...(i.limit === undefined ? {} : { limit: i.limit }),
        ...(i.before === undefined ? {} : { before: i.before }),
      }),
  }),
  op({
    name: 'gate.promote',
    summary:
      "move a stage's updates to the next one (all, only some sources, or security only); refused while its gate does not hold unless forced with a reason",
    role: 'operator',
    method: 'POST',
    path: '/stages/:stage/promote',
    input: {
      properties: {
        stage: stageName,
        to: str('the next stage (checked: one step of the ladder at a time)', { maxLength: 64 }),
        only: strings('only these source packages (their binaries move together)', 1000),
        securityOnly: bool('only updates from security suites'),
        force: bool('promote although the gate does not hold (needs a reason; recorded)'),
        reason,
        rollout: {
          type: 'object',
          description:
            'then roll the promoted content out to this class of the next stage in waves (checked before promoting)',
          properties: { class: str('a class bound to the next stage', { maxLength: 200 }), ...rolloutOptions },
          required: ['class'],
          additionalProperties: false,
        },
      },
      required: ['stage'],
    },
    output: object('{ stage, to, actor, forced, reason, generations, rollout? }, as aptgate promote --json'),
    changes: true,
    auditDetail: generationsMade,
    run: ({ services, principal }, i: PromoteInput) => {
      const o = {
        actor: actorOf(principal),
        ...(i.to === undefined ? {} : { to: i.to }),
        ...(i.only === undefined ? {} : { only: i.only }),
        securityOnly: i.securityOnly === true,
        force: i.force === true,
        ...reasonOf(i.reason),
      };
      if (i.rollout === undefined) return promote(gateCtx(services), i.stage, o);
      const r = rolloutSettings(i.rollout);
      return promoteWithRollout(gateCtx(services), services.rollouts, i.stage, o, { className: i.rollout.class, ...r });
    },
  }),
  op({
    name: 'stages.rollback',
    summary:
      'switch every suite of a stage back to its previous content (clients are no longer offered the newer versions; nothing is downgraded)',
    role: 'operator',
    method: 'POST',
    path: '/stages/:stage/rollback',
    input: { properties: { stage: stageName, reason }, required: ['stage'] },
    output: object('{ stage, actor, reason, generations }, as aptgate stage rollback --json'),
    changes: true,
    auditDetail: generationsMade,
    run: ({ services, principal }, i: { stage: string; reason?: string }) =>
      rollback(gateCtx(services), i.stage, { actor: actorOf(principal), ...reasonOf(i.reason) }),
  }),
  op({
    name: 'key.export',
    summary: "the server's public key, for clients' Signed-By: ASCII armor, or (binary) a keyring in base64",
    role: 'viewer',
    method: 'GET',
    path: '/key',
    input: { properties: { binary: bool('a binary keyring (base64 in `key`) instead of ASCII armor') } },
    output: object('{ fingerprint, format, output: null, key }'),
    changes: false,
    run: ({ services }, i: { binary?: boolean }) => keyExport(gateCtx(services), i.binary === true),
  }),
];
