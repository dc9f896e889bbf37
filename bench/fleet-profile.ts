// Where the server's time goes in bench:fleet: reads a V8 CPU profile of the server (written
// with BENCH_FLEET_PROFILE=1 BENCH_KEEP=1 npm run bench:fleet, in bench/work/fleet/prof) and
// splits the full-report phase (known profiles) and the check-in phases into buckets.
//
//   node dist/bench/fleet-profile.js FILE.cpuprofile [REPORTS CHECKINS]
//
// With the number of calls of each phase (from the bench's output) it prints ms per call too.
// Samples are wall-clock: a server descheduled by other processes still counts its stack.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { textTable } from './common.js';

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

// innermost match wins: a hash under gunzip's caller is "packages", under authenticate "signature"
const BUCKETS: Array<[string, RegExp]> = [
  ['gunzip of the packages text (zlib inflate + UTF-8 decode)', /^gunzip reports\.js/],
  ['storeText (known profile: lookup by hash; new: validate lines, insert)', /^storeText profiles\.js/],
  ['split + sorted check of the lines (linesOf, checkSorted)', /^(linesOf profile-record|checkSorted reports)/],
  ['SHA-256 of the packages text, profile lookup (rest of profileOf)', /^profileOf reports\.js/],
  ['view of the sources (viewSpec, defineView)', /^(viewSpec reports|defineView outdated\.js)/],
  ['machine state write (setState: transaction, prepare, UPDATE + UPSERT)', /^setState machines/],
  ['cross-check after the answer (outdated cache lookup)', /^crossCheck reports/],
  ['signature: HMAC over the body, machine byId, UPDATE last_ts', /^authenticate auth\.js/],
  ['check-in lookups (machine byId, profile byId, open jobs)', /^checkIn fleet\.js/],
  ['clone check (identify: machine byId again)', /^identify auth\.js/],
  ['XML decode of the call (fast path, base64)', /^decodeCall codec/],
  ['XML encode of the answer (xmlrpc serializer, xmlbuilder)', /^encodeResponse codec/],
  ['response write (writev syscall on the socket)', /^(writev|Reply\.send reply)/],
  ['request body read into a string (fastify content-type parser)', /^(onData|onEnd) content-type-parser/],
  ['garbage collector', /^\(garbage collector\)/],
  ['idle (waiting for the network)', /^\(idle\)/],
];
const OTHER = 'HTTP parsing, fastify, promises, the rest';

function label(n: CpuNode): string {
  const url = n.callFrame.url.replace(/^.*\//, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}`.trim();
}

/** Prints the buckets of both phases; `calls` = [full reports of known profiles, check-ins] for ms per call. */
export function summarize(p: CpuProfile, calls: number[] = []): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackHas = (id: number, re: RegExp) => {
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x))
      if (re.test(label(byId.get(x)!))) return true;
    return false;
  };
  const bucketOf = (id: number) => {
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const l = label(byId.get(x)!);
      for (const [name, re] of BUCKETS) if (re.test(l)) return name;
    }
    return OTHER;
  };
  const times: number[] = [];
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    times.push(t);
  }
  // the phases, from what the server was doing: full reports of known profiles run from the last
  // new profile to the last gunzip; check-ins from the first to the last checkIn
  const has = (id: number, res: RegExp[]) => res.every((re) => stackHas(id, re));
  const last = (...res: RegExp[]) => {
    for (let i = p.samples.length - 1; i >= 0; i--) if (has(p.samples[i]!, res)) return i;
    return -1;
  };
  const first = (...res: RegExp[]) => p.samples.findIndex((s) => has(s, res));
  const phases: Array<[string, number, number]> = [
    // storeText runs for every full report; only a new profile gets its lines parsed in it
    [
      'full reports, known profiles',
      last(/^storeText profiles/, /^parseRecordLine profile-record/) + 1,
      last(/^gunzip reports/),
    ],
    ['no-change check-ins', first(/^checkIn fleet\.js/), last(/^checkIn fleet\.js/)],
  ];
  phases.forEach(([name, from, to], k) => {
    if (from < 0 || to <= from) {
      process.stdout.write(`${name}: not found in this profile\n`);
      return;
    }
    const ms = new Map<string, number>();
    let total = 0;
    for (let i = from; i <= to; i++) {
      const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
      const b = bucketOf(p.samples[i]!);
      ms.set(b, (ms.get(b) ?? 0) + dt);
      total += dt;
    }
    const n = calls[k];
    const rows = [...ms]
      .sort((a, b) => b[1] - a[1])
      .map(([b, v]) => [b, v.toFixed(0), `${((100 * v) / total).toFixed(1)}%`, n ? (v / n).toFixed(3) : '']);
    rows.push(['total', total.toFixed(0), '100%', n ? (total / n).toFixed(3) : '']);
    process.stdout.write(
      `\n${name}: ${((times[to]! - times[from]!) / 1e6).toFixed(1)} s of the profile\n${textTable(['bucket', 'ms', 'share', 'ms per call'], rows)}\n`,
    );
  });
}

export function summarizeFile(file: string, calls: number[] = []): void {
  summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, calls);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv[2]) summarizeFile(process.argv[2], process.argv.slice(3).map(Number));
  else process.stderr.write('usage: node dist/bench/fleet-profile.js FILE.cpuprofile [REPORTS CHECKINS]\n');
}
