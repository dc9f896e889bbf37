// Human output of `aptgate cache import`.
import type { ImportResult } from '../proxy/import-acng.js';
import { PROBLEM_REASONS } from '../proxy/import-acng.js';
import { formatBytes } from '../term/bytes.js';
import { visible } from '../term/visible.js';

/** Refused files listed one per line; the rest is counted (`--json` lists them all). */
const MAX_LINES = 50;

export function formatImportResult(r: ImportResult): string {
  const would = r.dryRun ? 'would take' : 'took';
  const lines = [
    `${would} ${r.taken.length} files, ${formatBytes(r.takenBytes)} from ${visible(r.source)}: ` +
      (['root', 'index', 'pool'] as const)
        .map(
          (k) =>
            `${r.byKind[k].files} ${k === 'root' ? 'signed roots' : k === 'index' ? 'indexes' : 'pool files'} (${formatBytes(r.byKind[k].bytes)})`,
        )
        .join(', '),
  ];
  if (r.present.length) lines.push(`already in the cache: ${r.present.length} files`);
  const counts = new Map<string, number>();
  for (const x of r.refused) counts.set(x.reason, (counts.get(x.reason) ?? 0) + 1);
  lines.push(
    `refused ${r.refused.length}${counts.size ? ` (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})` : ''}`,
  );
  // what needs a look first
  const ordered = [...r.refused].sort(
    (a, b) => Number(PROBLEM_REASONS.has(b.reason)) - Number(PROBLEM_REASONS.has(a.reason)),
  );
  for (const x of ordered.slice(0, MAX_LINES)) {
    const extent = x.files !== undefined ? ` (${x.files} files, ${formatBytes(x.bytes ?? 0)})` : '';
    lines.push(`  ${x.reason.padEnd(13)} ${visible(x.path)}${extent}: ${visible(x.detail)}`);
  }
  if (ordered.length > MAX_LINES) lines.push(`  ... and ${ordered.length - MAX_LINES} more (--json lists every one)`);
  for (const w of r.warnings) lines.push(`warning: ${visible(w)}`);
  if (r.problems > 0)
    lines.push(
      `${r.problems} files failed verification against a signed index or keyring (tampered or damaged): not taken`,
    );
  return lines.join('\n') + '\n';
}
