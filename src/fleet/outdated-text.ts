// How an outdated answer is kept in outdated_cache: its counts as one JSON line, then one JSON
// line per entry, so that a large answer (thousands of entries, megabytes) is written and read
// back in slices instead of one JSON.stringify/parse holding the event loop. Rows written
// before as one JSON document are still read.
import type { OutdatedEntry, OutdatedResult } from '../index/outdated.js';
import type { TimeSlicer } from '../sys/time-slice.js';

const EVERY = 64;

export function encodeResult(r: OutdatedResult): string {
  return [JSON.stringify(r.counts), ...r.entries.map((e) => JSON.stringify(e)), ''].join('\n');
}

export async function encodeResultInSlices(r: OutdatedResult, slicer: TimeSlicer): Promise<string> {
  const parts = [JSON.stringify(r.counts)];
  for (let i = 0; i < r.entries.length; i++) {
    parts.push(JSON.stringify(r.entries[i]));
    if (i % EVERY === EVERY - 1) await slicer.tick();
  }
  parts.push('');
  return parts.join('\n');
}

/**
 * Whether a kept answer has every field an entry has now (rows written before installed and
 * candidate architectures were reported are computed again when read).
 */
export function isCurrent(text: string): boolean {
  return !text.includes('"package":') || text.includes('"installedArchitecture":');
}

/** The first line: the counts, or (a row from before) the whole answer. */
function head(text: string): { first: unknown; rest: number } {
  const nl = text.indexOf('\n');
  return { first: JSON.parse(nl === -1 ? text : text.slice(0, nl)), rest: nl === -1 ? text.length : nl + 1 };
}

export function decodeResult(text: string): OutdatedResult {
  const { first, rest } = head(text);
  if ((first as Partial<OutdatedResult>).entries) return first as OutdatedResult;
  const lines = text.slice(rest).split('\n').filter(Boolean);
  return { counts: first as OutdatedResult['counts'], entries: lines.map((l) => JSON.parse(l) as OutdatedEntry) };
}

export async function decodeResultInSlices(text: string, slicer: TimeSlicer): Promise<OutdatedResult> {
  const { first, rest } = head(text);
  if ((first as Partial<OutdatedResult>).entries) return first as OutdatedResult;
  const entries: OutdatedEntry[] = [];
  for (let pos = rest; pos < text.length;) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    if (nl > pos) entries.push(JSON.parse(text.slice(pos, nl)) as OutdatedEntry);
    pos = nl + 1;
    if (entries.length % EVERY === 0) await slicer.tick();
  }
  return { counts: first as OutdatedResult['counts'], entries };
}
