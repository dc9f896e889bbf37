// Human output of the release gate commands (and of classes list, which shows each class's
// stage); --json prints the data of gate/queries.ts itself. Package names and versions come from
// mirrors, hostnames and standings from agents: table() and visible() show their control characters.
import type { ClassInfoJson, ClassSummaryJson } from '../fleet/queries/classes.js';
import { table, when } from './fleet-format.js';
import { visible } from '../term/visible.js';
import type {
  EvidenceJson,
  GateStatusJson,
  GenerationJson,
  KeyExportJson,
  PromoteJson,
  RollbackJson,
  StageListJson,
  StandingJson,
} from '../gate/queries.js';

/** 172800000 → "2d", 5400000 → "90m". */
/** Where an update stands with the cooldown: until when, or why it may go now. */
function cooldownText(u: { inCooldown: boolean; eligibleAt: string; fastLane: string | null }): string {
  if (u.inCooldown) return `until ${when(u.eligibleAt)}`;
  return u.fastLane ? `fast lane: ${visible(u.fastLane)}` : 'done';
}

export function duration(ms: number): string {
  for (const [unit, n] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

export function standingText(m: Pick<StandingJson, 'status' | 'job' | 'reason'>): string {
  if (m.status === 'passed') return `passed (job ${m.job})`;
  return `${m.status}: ${visible(m.reason ?? '?')}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const indent = (text: string, by = '    ') => text.trimEnd().replace(/^/gm, by);

export function formatGateStatus(r: { stages: GateStatusJson[] }): string {
  if (!r.stages.length) return 'no stage has a next one: nothing is gated ([gate] stages)\n';
  return r.stages
    .map((raw) => {
      const s = { ...raw, stage: visible(raw.stage), next: raw.next === null ? null : visible(raw.next) };
      const L = [
        `${s.stage} → ${s.next ?? '(last stage)'}: gate ${s.holds ? 'HOLDS' : 'CLOSED'}`,
        `  content of ${s.stage} since ${s.publishedAt ? when(s.publishedAt) : '- (nothing yet: no snapshot indexed)'}`,
      ];
      if (!s.updates.length)
        L.push(`  pending updates: none (${s.next ?? 'the next stage'} has everything ${s.stage} has)`);
      else {
        L.push(
          `  pending updates (${s.updates.length}):`,
          indent(
            table(
              ['BACKEND/SUITE', 'SOURCE', 'FROM', '', 'TO', 'SECURITY', 'COOLDOWN'],
              s.updates.map((u) => [
                `${u.backend}/${u.suite}`,
                u.source,
                u.from ?? '(new)',
                '→',
                u.to,
                u.security ? 'security' : '',
                cooldownText(u),
              ]),
            ),
          ),
        );
      }
      if (!s.machines.length) L.push('  test machines: none');
      else
        L.push(
          `  test machines (${s.machines.length}):`,
          indent(
            table(
              ['ID', 'HOSTNAME', 'STANDING'],
              s.machines.map((m) => [String(m.id), m.hostname, standingText(m)]),
            ),
          ),
        );
      if (s.missing.length) L.push('  missing:', ...s.missing.map((m) => `    - ${visible(m)}`));
      if (s.next && s.updates.length)
        L.push(
          s.holds
            ? `  promote: aptgate promote ${s.stage}`
            : `  promote anyway: aptgate promote ${s.stage} --force --reason TEXT`,
        );
      return L.join('\n') + '\n';
    })
    .join('\n');
}

export function evidenceText(e: EvidenceJson | null): string {
  if (!e) return '';
  if (e.rollbackTo !== null) return `returned to the content of generation ${e.rollbackTo}`;
  const parts: string[] = [];
  if (e.updates.length) parts.push(`${e.from ? `from ${visible(e.from)}: ` : ''}${e.updates.map(visible).join(', ')}`);
  if (e.gateHeld !== null) parts.push(`gate ${e.gateHeld ? 'held' : 'did not hold'}`);
  if (e.machines.length)
    parts.push(
      e.machines.map((m) => `${visible(m.hostname)} ${m.status}${m.job !== null ? ` (job ${m.job})` : ''}`).join(', '),
    );
  else if (e.gateHeld !== null) parts.push('no test machines');
  return parts.join('; ');
}

function generationLine(g: GenerationJson): string {
  return `${visible(`${g.backend}/${g.suite}`)}: generation ${g.id}${g.overrides.length ? ` (snapshot ${g.baseSnapshot} + ${plural(g.overrides.length, 'override')})` : ` (snapshot ${g.baseSnapshot})`}`;
}

export function formatPromote(p: PromoteJson): string {
  const L = [
    `promoted ${visible(p.stage)} → ${visible(p.to)} by ${visible(p.actor)}${p.forced ? ' (FORCED: the gate did not hold)' : ''}${p.reason ? `: ${visible(p.reason)}` : ''}`,
  ];
  for (const g of p.generations) {
    L.push(`  ${generationLine(g)}`);
    if (g.evidence?.updates.length) L.push(...g.evidence.updates.map((u) => `      ${visible(u)}`));
  }
  const e = p.generations[0]?.evidence;
  if (e)
    L.push(
      `  evidence: gate ${e.gateHeld ? 'held' : 'did not hold'}${e.machines.length ? `; ${e.machines.map((m) => `${visible(m.hostname)} ${standingText(m)}`).join(', ')}` : ''}`,
    );
  L.push(`machines of ${visible(p.to)} are offered these at their next apt-get update`);
  return L.join('\n') + '\n';
}

export function formatRollback(r: RollbackJson): string {
  const L = [`${visible(r.stage)} rolled back by ${visible(r.actor)}${r.reason ? `: ${visible(r.reason)}` : ''}`];
  for (const g of r.generations)
    L.push(
      `  ${generationLine(g)}${g.evidence?.rollbackTo ? `, the content of generation ${g.evidence.rollbackTo}` : ''}`,
    );
  L.push(`machines of ${visible(r.stage)} are no longer offered the newer versions (nothing is downgraded)`);
  return L.join('\n') + '\n';
}

export function formatHistory(h: { stage: string; generations: GenerationJson[] }): string {
  if (!h.generations.length)
    return `${visible(h.stage)}: no generations yet (a stage gets its first content when a snapshot is indexed)\n`;
  return table(
    ['ID', 'WHEN', 'KIND', 'SUITE', 'BASE', 'OVERRIDES', 'ACTOR', 'REASON', 'EVIDENCE'],
    h.generations.map((g) => [
      String(g.id),
      when(g.createdAt),
      g.kind + (g.forced ? ' (forced)' : ''),
      `${g.backend}/${g.suite}`,
      String(g.baseSnapshot),
      g.overrides.map((o) => `${o.source}@${o.snapshot}`).join(' ') || '-',
      g.actor ?? '-',
      g.reason ?? '',
      evidenceText(g.evidence),
    ]),
  );
}

export function formatStageList(l: StageListJson): string {
  return l.stages
    .map((s) => {
      const L = [
        `${visible(s.name)}${s.next ? ` → ${visible(s.next)}` : ' (last stage)'}${s.autoPromoteSoakMs !== null ? `, auto-promoted after ${duration(s.autoPromoteSoakMs)} with the gate holding` : ''}`,
      ];
      L.push(
        `  classes: ${s.classes.map((c) => `${visible(c.name)}${c.gate ? ' (gate)' : ''} [${plural(c.members, 'member')}]`).join(', ') || 'none'}; ${plural(s.testMachines, 'test machine')}`,
      );
      if (!s.suites.length) L.push('  suites: none yet');
      else {
        L.push(
          indent(
            table(
              ['BACKEND/SUITE', 'GENERATION', 'KIND', 'SINCE', 'BASE', 'OVERRIDES', 'PUBLISHED'],
              s.suites.map((g) => [
                `${g.backend}/${g.suite}`,
                String(g.generation),
                g.kind,
                when(g.createdAt),
                String(g.baseSnapshot),
                g.overrides.map((o) => `${o.source}@${o.snapshot}`).join(' ') || '-',
                g.published ? 'yes' : 'at next read',
              ]),
            ),
            '  ',
          ),
        );
      }
      return L.join('\n') + '\n';
    })
    .join('\n');
}

export function formatKeyExport(k: KeyExportJson): string {
  if (k.key !== null) return k.key;
  return `the server's public key (${k.format}, fingerprint ${k.fingerprint}) written to ${visible(k.output)}\n`;
}

// ---- classes (with their stage) ----

export function formatClassList(cs: ReadonlyArray<ClassSummaryJson>): string {
  if (!cs.length) return 'no classes (aptgate classes create NAME)\n';
  return table(
    ['NAME', 'PRIORITY', 'MEMBERS', 'RULES', 'STAGE', 'WINDOWS', 'SCHEDULES', 'DESCRIPTION'],
    cs.map((c) => [
      c.name,
      String(c.priority),
      String(c.memberCount),
      c.rules.map((r) => `${r.field}=${r.pattern}`).join(' ') || '-',
      c.stage === null ? '-' : `${c.stage}${c.gate ? ' (gate)' : ''}`,
      c.windows.map((w) => `[${w.id}] ${w.window}`).join('; ') || '-',
      c.schedules.map((s) => `[${s.id}] ${s.kind} "${s.cron}"`).join('; ') || '-',
      c.description,
    ]),
  );
}

/** One class (classes show): its settings, then one page of its members. */
export function formatClass(c: ClassInfoJson): string {
  const first = (c.page - 1) * c.limit;
  const lines = [
    `class ${visible(c.name)} (priority ${c.priority})${c.description ? `: ${visible(c.description)}` : ''}`,
    `  stage      ${c.stage === null ? '-' : `${visible(c.stage)}${c.gate ? ' (gate)' : ''}`}`,
    `  rules      ${c.rules.map((r) => `${r.field}=${visible(r.pattern)}`).join(' ') || '-'}`,
    `  windows    ${c.windows.map((w) => `[${w.id}] ${w.window}`).join('; ') || '-'}`,
    `  schedules  ${c.schedules.map((s) => `[${s.id}] ${s.kind} "${visible(s.cron)}"`).join('; ') || '-'}`,
    `  members    ${plural(c.memberCount, 'machine')}${c.members.length ? `; ${first + 1}-${first + c.members.length} below` : ''}${first + c.members.length < c.memberCount ? ` (next: --page ${c.page + 1})` : ''}`,
    ...c.members.map((m) => `    ${String(m.id).padStart(6)}  ${visible(m.hostname)}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function formatBinding(b: { class: string; stage: string | null; gate: boolean; members: number }): string {
  if (b.stage === null)
    return `${visible(b.class)}: bound to no stage (agents of machines no other class binds remove their stage sources at the next check-in)\n`;
  return `${visible(b.class)}: bound to stage ${visible(b.stage)}${b.gate ? ` as a gate class (its ${plural(b.members, 'machine')} are test machines of ${visible(b.stage)})` : ` (${plural(b.members, 'machine')})`}\n`;
}
