// `node dist/bench/log-format.js`: what one access line costs the event loop in each log format
// (server.log_format): pino's JSON to its own destination, JSON through visibleText (a terminal),
// and the human line (src/log-human.ts). Lines go to /dev/null, written synchronously as the
// server writes them; best of BENCH_RUNS (default 5) rounds of BENCH_LINES (default 200,000) each.
import { openSync, writeSync } from 'node:fs';
import pino from 'pino';
import { loggerOptions } from '../src/log-human.js';

const LINES = Number(process.env.BENCH_LINES ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const fd = openSync('/dev/null', 'w');
const write = (s: string) => {
  writeSync(fd, s);
};

const variants: Array<[string, () => pino.Logger]> = [
  ['json (pino destination)', () => pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }))],
  [
    'json on a terminal (visibleText)',
    () => {
      const o = loggerOptions('info', 'json', true, write) as { stream: pino.DestinationStream };
      return pino({ level: 'info' }, o.stream);
    },
  ],
  [
    'human',
    () => {
      const o = loggerOptions('info', 'human', true, write) as { stream: pino.DestinationStream };
      return pino({ level: 'info' }, o.stream);
    },
  ],
];

// rounds alternate between the variants (no variant gains from running after another has warmed up)
const loggers = variants.map(([name, make]) => ({ name, log: make().child({ reqId: 'req-1a' }), best: Infinity }));
for (let r = 0; r < RUNS; r++) {
  for (const v of loggers) {
    // as fastify's request.log: a child with the request id
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < LINES; i++) {
      v.log.info(
        {
          client: '10.0.0.5',
          method: 'GET',
          path: `/debian/pool/main/h/hello/hello_2.10-${i % 97}_amd64.deb`,
          result: 'hit',
          status: 200,
          bytes: 53_000 + (i % 1000),
          ms: i % 7,
        },
        'access',
      );
    }
    v.best = Math.min(v.best, Number(process.hrtime.bigint() - t0) / LINES);
  }
}
for (const v of loggers) console.log(`${v.name.padEnd(34)} ${(v.best / 1000).toFixed(2)} µs per access line`);
