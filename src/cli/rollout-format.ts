// Human output of the rollout commands; --json prints the data of gate/rollout-queries.ts itself.
// Hostnames and failure texts come from agents: table() and visible() show their control characters.
import type { RolloutDetailJson, RolloutJson, PromoteWithRolloutJson } from '../gate/rollout-queries.js';
import { visible } from '../term/visible.js';
import { table, when } from './fleet-format.js';
import { duration, formatPromote } from './gate-format.js';

const indent = (text: string, by = '    ') => text.trimEnd().replace(/^/gm, by);

const wavesText = (w: readonly number[]) => w.map((x) => `${x}%`).join(',');

function haltText(halt: string): string {
  return halt.endsWith('%') ? `${halt} of the open wave failed` : `${halt} machine${halt === '1' ? '' : 's'} failed`;
}

/** "wave 2 of 3" while it moves, else the state alone. */
function progress(r: RolloutJson): string {
  return r.state === 'done' ? 'done' : `${r.state}, wave ${r.wave} of ${r.waves.length}`;
}

export function formatRollouts(rs: readonly RolloutJson[]): string {
  if (!rs.length) return 'no rollouts (aptgate rollout start STAGE --class CLASS)\n';
  return table(
    ['ID', 'STAGE', 'CLASS', 'WAVES', 'STATE', 'STARTED', 'ACTOR', 'WHY'],
    rs.map((r) => [
      String(r.id),
      r.stage,
      r.class,
      wavesText(r.waves),
      progress(r),
      when(r.createdAt),
      r.actor,
      r.stateReason ?? r.reason ?? '',
    ]),
  );
}

export function formatRollout(r: RolloutDetailJson): string {
  const o = r.outcome;
  const L = [
    `rollout ${r.id}: ${visible(r.stage)} to class ${visible(r.class)}: ${progress(r).toUpperCase()}`,
    `  started ${when(r.createdAt)} by ${visible(r.actor)}${r.reason ? `: ${visible(r.reason)}` : ''}`,
    `  waves ${wavesText(r.waves)}; soak ${duration(r.soakMs)}; halt when ${haltText(r.halt)}; jobs: ${r.jobs}`,
  ];
  if (r.stateReason) L.push(`  why ${r.state}: ${visible(r.stateReason)}`);
  if (r.state !== 'aborted' && r.state !== 'done')
    L.push(
      `  wave ${r.wave} (open since ${when(r.waveOpened[r.wave - 1] ?? r.createdAt)}): ${o.machines} machines, ${o.succeeded} succeeded, ${o.failed} failed, ${o.pending} pending${r.soakEnds ? `; soak ends ${when(r.soakEnds)}` : ''}`,
    );
  L.push(
    `  content: ${r.pins.map((p) => `${visible(`${p.backend}/${p.suite}`)} generation ${p.from}${p.from === p.to ? ' (unchanged)' : ` → ${p.to}`}`).join('; ') || '-'}`,
  );
  if (!r.machines.length) L.push('  machines: none in the class');
  else
    L.push(
      `  machines (${r.machines.length}):`,
      indent(
        table(
          ['WAVE', 'ID', 'HOSTNAME', 'STANDING', 'JOB', 'WHY'],
          r.machines.map((m) => [
            String(m.wave),
            String(m.id),
            m.hostname,
            m.status,
            m.job === null ? '-' : String(m.job),
            m.reason,
          ]),
        ),
      ),
    );
  if (r.events.length)
    L.push(
      '  events:',
      indent(
        table(
          ['WHEN', 'WHAT', 'ACTOR', 'DETAIL'],
          r.events.map((e) => [when(e.at), e.what, e.actor ?? '-', e.detail ?? '']),
        ),
      ),
    );
  if (r.state === 'running' || r.state === 'paused' || r.state === 'halted')
    L.push(
      `  ${r.state === 'running' ? `aptgate rollout pause ${r.id}` : `aptgate rollout resume ${r.id}`}; aptgate rollout abort ${r.id}`,
    );
  return L.join('\n') + '\n';
}

/** promote --rollout: the promotion, then the rollout it started (its class gets the content in waves). */
export function formatPromoteRollout(p: PromoteWithRolloutJson): string {
  const lines = formatPromote(p).trimEnd().split('\n');
  lines[lines.length - 1] =
    `machines of ${visible(p.to)} are offered these at their next apt-get update, but those a rollout holds: class ${visible(p.rollout.class)} in waves`;
  return `${lines.join('\n')}\n${formatRollout(p.rollout)}`;
}
