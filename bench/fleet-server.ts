// The server side of bench:fleet: the enrolment token (made in the database before the server
// starts), the real CLI server in its own process, and the database's size by table afterwards.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Enrolment } from '../src/fleet/enrolment.js';
import { openDb } from '../src/state/db.js';
import { MachineStore } from '../src/state/machines.js';
import { Processes, REPO, freePort, sleep, type Started } from './common.js';
import { FleetClient } from './fleet-client.js';

/** An auto-approving token for every simulated machine, written straight into the database. */
export function createToken(dbFile: string): string {
  const db = openDb(dbFile);
  try {
    return new Enrolment({ machines: new MachineStore(db), joinClass: () => undefined }).createToken({
      autoApprove: true,
      note: 'bench:fleet',
    }).token;
  } finally {
    db.close();
  }
}

export interface FleetServer {
  proc: Started;
  url: string;
}

/** `node dist/src/cli/main.js serve` on a free port, log level warn; waits until it answers RPC. */
export async function startFleetServer(
  procs: Processes,
  o: { db: string; cacheDir: string; logFile: string; cpuProfDir?: string; config?: string },
): Promise<FleetServer> {
  const port = await freePort();
  const nodeArgs = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [];
  const proc = procs.start(
    'aptgate',
    process.execPath,
    [
      ...nodeArgs,
      join(REPO, 'dist', 'src', 'cli', 'main.js'),
      'serve',
      ...(o.config ? ['--config', o.config] : []),
      '--listen',
      '127.0.0.1',
      '--port',
      String(port),
      '--db',
      o.db,
      '--cache-dir',
      o.cacheDir,
    ],
    {
      // every simulated machine enrols from 127.0.0.1 with one token: no enrolment rate limits
      logFile: o.logFile,
      env: {
        ...process.env,
        APTGATE_SERVER_LOG_LEVEL: 'warn',
        // no security feed fetched, no .deb fetched for a changelog: the bench measures the fleet's work
        APTGATE_ADVISORIES_FETCH: 'off',
        APTGATE_ADVISORIES_CHANGELOGS: 'cached',
        APTGATE_FLEET_ENROL_LIMIT_ADDRESS: '0',
        APTGATE_FLEET_ENROL_LIMIT_TOKEN: '0',
      },
      cwd: REPO,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const probe = new FleetClient(url, 1);
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      if (proc.child.exitCode !== null)
        throw new Error(`aptgate exited with ${proc.child.exitCode} before listening (see ${o.logFile})`);
      try {
        await probe.call('system.listMethods', []);
        return { proc, url };
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`aptgate did not answer within 30 s: ${(err as Error).message}`);
        await sleep(50);
      }
    }
  } finally {
    await probe.close();
  }
}

export interface DbSizes {
  /** main file, -wal, -shm as the server left them */
  beforeCheckpoint: { db: number; wal: number; shm: number };
  /** after PRAGMA wal_checkpoint(TRUNCATE) */
  db: number;
  wal: number;
  pageSize: number;
  freePages: number;
  /** bytes per table or index (dbstat), largest first */
  objects: Array<{ name: string; bytes: number; perMachine: boolean }>;
  machinePart: number;
  fixedPart: number;
  rows: Record<string, number>;
}

const size = (f: string) => (existsSync(f) ? statSync(f).size : 0);

// what grows with the number of machines; everything else (profiles, shared package records,
// views, outdated answers, the proxy's tables, the schema, free pages) does not
const PER_MACHINE = new Set([
  'machine',
  'machine_report',
  'machine_by_hostname',
  'machine_by_profile',
  'class_member',
  'class_member_by_machine',
]);
const perMachine = (name: string) => PER_MACHINE.has(name) || name.startsWith('sqlite_autoindex_machine_');

/** Sizes after the server stopped: checkpoints the WAL into the main file first. */
export function dbSizes(dbFile: string): DbSizes {
  const beforeCheckpoint = { db: size(dbFile), wal: size(`${dbFile}-wal`), shm: size(`${dbFile}-shm`) };
  const db = openDb(dbFile);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const freePages = db.pragma('freelist_count', { simple: true }) as number;
    const objects = db
      .prepare<[], { name: string; bytes: number }>(
        'SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC',
      )
      .all()
      .map((o) => ({ ...o, perMachine: perMachine(o.name) }));
    const rows: Record<string, number> = {};
    for (const t of ['machine', 'machine_report', 'profile', 'inst_pkg', 'view_def', 'outdated_cache']) {
      rows[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    }
    const machinePart = objects.filter((o) => o.perMachine).reduce((a, o) => a + o.bytes, 0);
    db.close();
    const file = size(dbFile);
    return {
      beforeCheckpoint,
      db: file,
      wal: size(`${dbFile}-wal`),
      pageSize,
      freePages,
      objects,
      machinePart,
      fixedPart: file - machinePart,
      rows,
    };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** CPU profiles the server wrote (--cpu-prof), newest last. */
export function cpuProfiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
}
