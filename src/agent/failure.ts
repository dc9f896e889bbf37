// Why an apt/dpkg run failed, read from what apt and dpkg printed (C locale messages).
import type { FailureReason } from './types.js';

interface Rule {
  reason: FailureReason;
  patterns: RegExp[];
}

// Order matters: the first rule with a match wins (a lock error hides everything after it; a
// signature problem also makes downloads fail; a full disk too).
const RULES: Rule[] = [
  {
    reason: 'dpkg-lock',
    patterns: [
      /Could not get lock /,
      /Unable to acquire the dpkg frontend lock/,
      /Unable to lock the administration directory/,
      /is held by process \d+/,
      /lock was locked by another process with pid \d+/,
    ],
  },
  { reason: 'dpkg-interrupted', patterns: [/dpkg was interrupted, you must manually run/] },
  { reason: 'disk-full', patterns: [/No space left on device/, /You don't have enough free space in/] },
  {
    reason: 'conffile-prompt',
    patterns: [
      /Configuration file '[^'\n]*'\n\s*==> Modified/,
      /end of file on stdin at conffile prompt/,
      /conffile[^\n]*\n?[^\n]*(?:EOF|end of file)/i,
    ],
  },
  {
    reason: 'signature',
    patterns: [
      /\bNO_PUBKEY\b/,
      /\bis not signed\b/,
      /is no longer signed/,
      /The following signatures were invalid/,
      /\bEXPKEYSIG\b/,
      /\bBADSIG\b/,
      /\bREVKEYSIG\b/,
      /The following signatures couldn't be verified/,
    ],
  },
  {
    reason: 'held-packages',
    patterns: [/E: Held packages were changed/, /The following held packages will be changed/],
  },
  {
    reason: 'broken-dependencies',
    patterns: [
      / : (?:Pre-)?Depends: .* but (?:it is not installable|it is not going to be installed|[^\n]* is to be installed)/,
      /Unmet dependencies/,
      /have unmet dependencies/,
      /you have held broken packages/,
      /\bbroken packages\b/,
      /dependency problems - leaving unconfigured/,
    ],
  },
  {
    reason: 'network',
    patterns: [
      /Could not resolve '/,
      /Temporary failure resolving/,
      /Failed to fetch/,
      /Connection failed/,
      /Could not connect to/,
      /Unable to connect to/,
      /Connection timed out/,
      /Some index files failed to download/,
    ],
  },
];

/** Names (without ":arch") listed under "The following packages have been kept back:". */
export function keptBack(transcript: string): string[] {
  const out: string[] = [];
  const re = /The following packages have been kept back:\n((?:[ \t]+[^\n]*\n?)+)/g;
  for (let m = re.exec(transcript); m; m = re.exec(transcript)) {
    for (const w of m[1]!.split(/\s+/)) if (w) out.push(w.replace(/:.*$/, ''));
  }
  return [...new Set(out)];
}

export interface ClassifyOptions {
  /** package names the job asked for: if apt keeps one of them back the job failed on a hold */
  required?: readonly string[];
}

/** The reason a run failed; undefined when it exited 0. */
export function classifyFailure(
  transcript: string,
  exitCode: number,
  opts: ClassifyOptions = {},
): FailureReason | undefined {
  if (exitCode === 0) return undefined;
  const text = transcript.replace(/\r/g, '');
  for (const rule of RULES) {
    if (rule.reason === 'held-packages' && opts.required?.length) {
      const kept = new Set(keptBack(text));
      if (opts.required.some((n) => kept.has(n.replace(/[:=].*$/, '')))) return 'held-packages';
    }
    if (rule.patterns.some((p) => p.test(text))) return rule.reason;
  }
  return 'other';
}

/** "process 1234 (apt-get)" from apt's or dpkg's lock messages. */
export function lockHolder(transcript: string): string | undefined {
  const apt = /held by process (\d+)(?: \(([^)\n]+)\))?/.exec(transcript);
  if (apt) return apt[2] ? `process ${apt[1]} (${apt[2]})` : `process ${apt[1]}`;
  const dpkg = /locked by another process with pid (\d+)/.exec(transcript);
  return dpkg ? `process ${dpkg[1]}` : undefined;
}

/**
 * The first line (in output order, headers ending in ":" skipped) that made `reason` the
 * classification, e.g. apt's "Could not connect to ..." line; for a summary.
 */
export function reasonLine(transcript: string, reason: FailureReason): string | undefined {
  const patterns = RULES.find((r) => r.reason === reason)?.patterns ?? [];
  const text = transcript.replace(/\r/g, '');
  const line = text.split('\n').find((l) => !l.trimEnd().endsWith(':') && patterns.some((p) => p.test(l)));
  if (line !== undefined) return line.trim().slice(0, 300);
  for (const p of patterns) {
    const m = p.exec(text);
    if (!m) continue;
    const end = text.indexOf('\n', m.index);
    return text
      .slice(text.lastIndexOf('\n', m.index) + 1, end === -1 ? undefined : end)
      .trim()
      .slice(0, 300);
  }
  return undefined;
}

/** The last error line apt or dpkg printed ("E: ...", "dpkg: error ..."), for a summary. */
export function lastError(transcript: string): string | undefined {
  const lines = transcript.replace(/\r/g, '').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (/^E: /.test(l) || /^dpkg: error/.test(l) || /^Err:\d+ /.test(l)) return l.slice(0, 300);
  }
  return undefined;
}
