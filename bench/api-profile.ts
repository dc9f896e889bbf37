// Where the API's time goes in bench:api: reads a V8 CPU profile of the server (written with
// BENCH_API_PROFILE=1 npm run bench:api, in bench/work/api/prof; BENCH_API_ONLY=REGEX keeps
// the run to the questions of interest) and prints, over the samples taken while an operation
// ran (runOperation on the stack), the functions with the most self time and the most total
// time (every frame on the stack counted once per sample).
//
//   node dist/bench/api-profile.js FILE.cpuprofile [TOP [ROOT]]
//
// ROOT (a regular expression over "function file:line", default ^runOperation) narrows the
// samples to those with such a frame on the stack, e.g. '^gateStatus ' for GET /gate alone.
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
  samples: number[];
  timeDeltas: number[];
}

function label(n: CpuNode): string {
  const url = n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^node:/, '');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`.trim();
}

export function summarizeApi(p: CpuProfile, top = 25, root: RegExp = /^runOperation /): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let inOps = 0;
  let all = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    all += dt;
    const stack: string[] = [];
    let under = false;
    for (let x: number | undefined = p.samples[i]; x !== undefined; x = parent.get(x)) {
      const l = label(byId.get(x)!);
      stack.push(l);
      if (root.test(l)) under = true;
    }
    if (!under) continue;
    inOps += dt;
    self.set(stack[0]!, (self.get(stack[0]!) ?? 0) + dt);
    for (const l of new Set(stack)) total.set(l, (total.get(l) ?? 0) + dt);
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([l, v]) => [l, v.toFixed(0), `${((100 * v) / Math.max(inOps, 1e-9)).toFixed(1)}%`]);
  process.stdout.write(
    `\nprofile: ${(all / 1000).toFixed(1)} s sampled, ${(inOps / 1000).toFixed(1)} s inside operations\n` +
      `\nself time inside operations:\n${textTable(['function', 'ms', 'share'], rows(self))}\n` +
      `\ntotal time inside operations:\n${textTable(['function', 'ms', 'share'], rows(total))}\n`,
  );
}

export function summarizeApiProfile(file: string, top = 25, root?: RegExp): void {
  summarizeApi(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top, root);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, top, root] = process.argv.slice(2);
  if (file) summarizeApiProfile(file, Number(top ?? 25), root ? new RegExp(root) : undefined);
  else process.stderr.write('usage: node dist/bench/api-profile.js FILE.cpuprofile [TOP [ROOT-REGEX]]\n');
}
