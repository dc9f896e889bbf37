// bench:classes — the administrative operations on classes and jobs at 20,000 machines, run as
// the API runs them (ops/run.ts on the event loop), measuring the longest synchronous stretch
// each holds the loop: a setImmediate probe notes the gap between its turns while the operation
// runs, up to the serialization of the answer (fastify's, with the operation's output schema),
// which the server does in the same turn as the operation's last stretch (also timed alone).
// The fleet is written straight into a fresh database with the state stores (no agents):
// A rollout of production to 14,000 of them too (start, status, ticks, abort).
// `npx tsc -p . && node dist/bench/classes.js [machines]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import fastJson from 'fast-json-stringify';
import { localPrincipal } from '../src/access/principal.js';
import { assemble, type Services } from '../src/assembly/services.js';
import { loadConfig } from '../src/config.js';
import { operation } from '../src/ops/registry.js';
import { runOperation } from '../src/ops/run.js';
import { openDb } from '../src/state/db.js';
import { MachineStore } from '../src/state/machines.js';

const MACHINES = Number(process.argv[2] ?? 20_000);
const ROUNDS = 5;
const ARCHS = ['amd64', 'amd64', 'amd64', 'arm64'];
const CODENAMES = ['bookworm', 'bookworm', 'trixie'];
const ROLES = ['web', 'web', 'web', 'web', 'app', 'app', 'db', 'ws', 'ws', 'ws', 'ws', 'ws', 'ws', 'ws', 'ws', 'ws'];

/** 20,000 machines (every 25th an LTSP chroot of the host before it) and six classes. */
function buildFleet(services: Services, db: ReturnType<typeof openDb>): void {
  const store = new MachineStore(db);
  db.transaction(() => {
    let host = 0;
    for (let i = 0; i < MACHINES; i++) {
      const chroot = i % 25 === 24;
      const id = store.insert({
        machineId: `bench-${i.toString(16).padStart(32, '0')}`,
        parentId: chroot ? host : null,
        hostname: `${ROLES[i % ROLES.length]}-${String(i).padStart(5, '0')}.bench.example.org`,
        architecture: ARCHS[i % ARCHS.length]!,
        codename: CODENAMES[i % CODENAMES.length]!,
        status: i % 50 === 7 ? 'pending' : 'approved',
        secret: 'x',
        tokenId: null,
        facts: '{}',
      });
      if (!chroot) host = id;
    }
  })();
  const c = services.fleet.classes;
  // web: 5,000 by a hostname glob; arm64: 5,000 by architecture; bookworm: 13,000 by codename;
  // db: a /regex/ plus explicit members; canary: 500 explicit members; everyone: all 20,000
  c.create('web', { priority: 10 });
  c.addRule('web', 'hostname', 'web-*');
  c.create('arm64');
  c.addRule('arm64', 'architecture', 'arm64');
  c.create('bookworm');
  c.addRule('bookworm', 'codename', 'bookworm');
  c.create('db', { priority: 5 });
  c.addRule('db', 'hostname', '/db-[0-9]/');
  c.create('canary', { priority: 20 });
  c.create('everyone', { priority: -10 });
  c.addRule('everyone', 'hostname', '*');
  db.transaction(() => {
    for (let id = 1; id <= MACHINES; id += 40) c.addMember('canary', id);
    for (let id = 2; id <= MACHINES; id += 97) c.addMember('db', id);
  })();
  c.addWindow('canary', { days: 0x7f, startMin: 60, endMin: 300 });
  c.bindStage('canary', services.config.gate.stages[0]!, true, services.config.gate.stages);
}

interface Figure {
  name: string;
  /** longest gap between two turns of the probe while the operation ran (ms) */
  maxStretch: number;
  /** CPU time spent in that longest-in-CPU stretch (ms): the stretch without the time the OS ran others */
  maxCpu: number;
  /** the operation from call to answer (ms) */
  wall: number;
  /** the answer's serialization (ms), part of the last stretch */
  serialize: number;
  bytes: number;
}

/** Runs one operation as the API would and measures the longest stretch it held the loop. */
async function measure(services: Services, name: string, input: object): Promise<Figure> {
  const o = operation(name);
  const stringify = fastJson(o.output as unknown as Parameters<typeof fastJson>[0]);
  let serialize = 0;
  const f = await measureFn(name, async () => {
    const answer = await runOperation(o, services, localPrincipal('bench'), input);
    const t1 = performance.now();
    const text = stringify(answer);
    serialize = performance.now() - t1;
    return text;
  });
  return { ...f, serialize };
}

/** Runs `fn` (its answer serialized, if any) and measures the longest stretch it held the loop. */
async function measureFn(name: string, fn: () => Promise<string | void>): Promise<Figure> {
  let last = performance.now();
  let lastCpu = cpuMs();
  let max = 0;
  let maxCpu = 0;
  let running = true;
  const turn = (): void => {
    const now = performance.now();
    const cpu = cpuMs();
    max = Math.max(max, now - last);
    maxCpu = Math.max(maxCpu, cpu - lastCpu);
    last = now;
    lastCpu = cpu;
  };
  const probe = (): void => {
    turn();
    if (running) setImmediate(probe);
  };
  setImmediate(probe);
  await new Promise<void>((resolve) => setImmediate(resolve));
  last = performance.now();
  lastCpu = cpuMs();
  max = 0;
  maxCpu = 0;
  const t0 = performance.now();
  // the server serializes the answer in the same turn as the operation's last stretch: both count
  const text = (await fn()) ?? '';
  const wall = performance.now() - t0;
  turn();
  running = false;
  return { name, maxStretch: max, maxCpu, wall, serialize: 0, bytes: Buffer.byteLength(text) };
}

/** CPU time of the process so far (user + system, ms): a stretch's own work, whatever the load. */
function cpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

/**
 * A rollout of production to the class everyone (the machines no class of higher precedence
 * binds elsewhere: about 14,000): its start (wave 1's jobs), status, the tick with wave 1 pending,
 * the tick that opens wave 2 once wave 1 succeeded (its jobs), an abort; and a machine's view,
 * which every check-in asks.
 */
async function rollouts(services: Services, db: ReturnType<typeof openDb>): Promise<string[]> {
  const ladder = services.config.gate.stages;
  const last = ladder.at(-1)!;
  const snap = Number(
    db
      .prepare(
        "INSERT INTO snapshot (backend, suite, kind, sha256, date, fetched_at) VALUES ('debian', 'bookworm', 'inrelease', 'bench', 0, 0)",
      )
      .run().lastInsertRowid,
  );
  const gen = (kind: 'initial' | 'promote') =>
    services.state.stages.add({
      ...{ stage: last, backend: 'debian', suite: 'bookworm', baseSnapshot: snap, overrides: [], kind },
      ...{ createdAt: Date.now(), actor: 'bench', reason: null, forced: false, evidence: null },
    });
  gen('initial');
  gen('promote');
  services.fleet.classes.bindStage('everyone', last, false, ladder);
  const rows: string[] = [];
  const once = async (label: string, fn: () => Promise<string | void>) => {
    const f = await measureFn(label, fn);
    rows.push(
      `| ${label} | ${f.maxStretch.toFixed(1)} | - | ${f.maxCpu.toFixed(1)} | - | - | ${f.wall.toFixed(0)} | ${(f.bytes / 1024).toFixed(0)} |`,
    );
    console.log(rows.at(-1));
  };
  const run = (name: string, input: object) => async () =>
    JSON.stringify(await runOperation(operation(name), services, localPrincipal('bench'), input));
  await once(
    'rollouts.start production → everyone, waves 10%,50%,100%',
    run('rollouts.start', { stage: last, class: 'everyone', waves: '10%,50%,100%', soak: '0s', halt: '5%' }),
  );
  const id = services.rollouts.list()[0]!.id;
  await once('rollouts.show (every machine with its standing)', run('rollouts.show', { id }));
  await once('rollout tick, wave 1 pending', async () => void (await services.rollouts.tick()));
  db.prepare("UPDATE job SET state = 'succeeded', started_at = ?, finished_at = ?, exit_code = 0 WHERE origin = ?").run(
    Date.now(),
    Date.now(),
    `rollout ${id} wave 1`,
  );
  await once('rollout tick: wave 1 succeeded, wave 2 opens (its jobs)', async () =>
    JSON.stringify(await services.rollouts.tick()),
  );
  await once('rollouts.abort (its queued jobs taken back)', run('rollouts.abort', { id }));
  // what each check-in asks: the view of the machine
  const ids = db.prepare<[], { id: number }>('SELECT id FROM machine ORDER BY id').all();
  const t0 = performance.now();
  for (const { id: m } of ids) services.rollouts.viewOf(m, last, 'everyone');
  const per = ((performance.now() - t0) * 1000) / ids.length;
  rows.push(`| a machine's view at check-in (viewOf), per call | - | - | - | - | - | ${per.toFixed(1)} µs | - |`);
  return rows;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'aptgate-bench-classes-'));
  try {
    const dbFile = join(dir, 'aptgate.db');
    const config = loadConfig({ env: {}, overrides: { db: dbFile, cacheDir: join(dir, 'cache') } });
    const db = openDb(dbFile);
    const services = assemble(config, { db, dbFile, mode: 'cli' });
    const t0 = performance.now();
    buildFleet(services, db);
    console.log(`${MACHINES} machines and 6 classes written in ${(performance.now() - t0).toFixed(0)} ms`);
    const cases: Array<[string, object, string]> = [
      ['classes.list', {}, 'classes.list'],
      ['classes.show', { name: 'bookworm' }, 'classes.show bookworm (13,000)'],
      ['classes.show', { name: 'web' }, 'classes.show web (5,000)'],
      ['classes.bind', { name: 'web', stage: config.gate.stages[0] ?? 'testing' }, 'classes.bind web'],
      ['stages.list', {}, 'stages.list (classes bound: web, canary as a gate class)'],
      ['jobs.create', { kind: 'upgrade', to: ['web'] }, 'jobs.create upgrade → web (5,000)'],
      [
        'jobs.create',
        { kind: 'release-upgrade', to: ['bookworm'], codename: 'trixie' },
        'jobs.create release-upgrade → bookworm',
      ],
      ['jobs.create', { kind: 'reboot', to: ['canary', 'db'] }, 'jobs.create reboot → canary, db'],
      ['jobs.create', { kind: 'update', to: ['everyone'] }, 'jobs.create update → everyone (20,000)'],
    ];
    const rows: string[] = [];
    for (const [name, input, label] of cases) {
      const figs: Figure[] = [];
      for (let r = 0; r < ROUNDS; r++) figs.push(await measure(services, name, input));
      const med = (f: (x: Figure) => number) => {
        const v = figs.map(f).sort((a, b) => a - b);
        return v[Math.floor(v.length / 2)]!;
      };
      const worst = (f: (x: Figure) => number) => Math.max(...figs.map(f));
      rows.push(
        `| ${label} | ${med((x) => x.maxStretch).toFixed(1)} | ${worst((x) => x.maxStretch).toFixed(1)} | ${med((x) => x.maxCpu).toFixed(1)} | ${worst((x) => x.maxCpu).toFixed(1)} | ${med((x) => x.serialize).toFixed(1)} | ${med((x) => x.wall).toFixed(0)} | ${(figs[0]!.bytes / 1024).toFixed(0)} |`,
      );
      console.log(rows.at(-1));
    }
    rows.push(...(await rollouts(services, db)));
    console.log('');
    console.log(
      `machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}`,
    );
    console.log(`${ROUNDS} rounds each; ms`);
    console.log(
      '| operation | longest stretch (wall), median | worst | longest stretch (CPU), median | worst | serialization, median | whole call, median | answer KiB |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(r);
    await services.stop();
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
