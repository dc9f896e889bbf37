// A probe of the overview and the filtered machine list over a bench:api database (20,000
// machines), in this process: each question's time per answer (p50 / p99) and the longest hold
// of the event loop while answering (monitorEventLoopDelay at 1 ms). No HTTP, no fleet building:
// `node dist/bench/fast-probe.js DBFILE [CACHEDIR]` on a copy of bench/work/api/aptgate.db
// (BENCH_KEEP=1 npm run bench:api keeps one). FAST_PROBE_COUNT: answers per question (30).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { localPrincipal } from '../src/access/principal.js';
import { assemble } from '../src/assembly/services.js';
import { loadConfig } from '../src/config.js';
import { operation } from '../src/ops/registry.js';
import { queryContext } from '../src/assembly/queries.js';
import { openDb } from '../src/state/db.js';

const [dbFile, cacheDir] = [process.argv[2], process.argv[3]];
if (!dbFile) throw new Error('usage: node dist/bench/fast-probe.js DBFILE [CACHEDIR]');
const COUNT = Number(process.env.FAST_PROBE_COUNT ?? 30);
const QUESTIONS: [string, string, object][] = [
  ['overview', 'overview.show', {}],
  ['outdated by hostname', 'machines.list', { state: 'outdated', sort: 'hostname', page: 1, limit: 50 }],
  ['security, most outdated first', 'machines.list', { state: 'security', sort: 'outdated', dir: 'desc', limit: 50 }],
  ['one class by last seen', 'machines.list', { class: 'site-ber', sort: 'lastSeen', dir: 'desc', limit: 50 }],
  ['search by host name', 'machines.list', { q: 'ws-ber-0000', limit: 50 }],
  ['page 200 by class', 'machines.list', { sort: 'class', page: 200, limit: 50 }],
];

const config = loadConfig({ env: {}, overrides: { db: dbFile, cacheDir: cacheDir ?? join(dirname(dbFile), 'cache') } });
const db = openDb(dbFile);
const services = assemble(config, { db, dbFile, mode: 'cli' });
const ctx = { services, fleet: queryContext(services), principal: localPrincipal('probe') };
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.ceil((p / 100) * xs.length) - 1]!;
try {
  for (const [name, op, input] of QUESTIONS) {
    const times: number[] = [];
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    for (let i = 0; i <= COUNT; i++) {
      const t0 = performance.now();
      const answer = await operation(op).run(ctx, input);
      times.push(performance.now() - t0);
      // a turn between answers: the delay monitor sees each answer's holds
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
      // the first answer (statements prepared, views loaded) is shown, not counted
      if (i === 0) {
        process.stdout.write(`${name}: first ${times.pop()!.toFixed(1)} ms: ${JSON.stringify(answer).slice(0, 120)}\n`);
        h.reset();
      }
    }
    h.disable();
    process.stdout.write(
      `${name}: p50 ${pct(times, 50).toFixed(1)} / p99 ${pct(times, 99).toFixed(1)} / max ${Math.max(...times).toFixed(1)} ms; ` +
        `longest loop hold ${(h.max / 1e6).toFixed(1)} ms\n`,
    );
  }
} finally {
  await services.stop();
  db.close();
}
