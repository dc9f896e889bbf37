// Issue 16: classes and jobs of a fleet too large for one slice of the event loop (5,000
// machines written straight into the database): class membership is worked out by SQL over ranges
// of machine ids between turns of the loop, classes.list counts members and classes.show pages
// them, and a job for a large class is added a few thousand machines per turn of the loop: all of
// it or nothing (a turn that fails takes the earlier turns' jobs back), each named with its own machine.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localPrincipal } from '../src/access/principal.js';
import { assemble, type Services } from '../src/assembly/services.js';
import { loadConfig } from '../src/config.js';
import { JOBS_PER_TURN } from '../src/fleet/jobs.js';
import { operation } from '../src/ops/registry.js';
import { runOperation } from '../src/ops/run.js';
import { openDb, type Db } from '../src/state/db.js';
import { MachineStore } from '../src/state/machines.js';

const MACHINES = 5000;

interface Added {
  kind: string;
  jobs: Array<{ id: number; machine: { id: number; hostname: string }; pending: boolean }>;
}

describe('issue 16: classes and jobs at a scale beyond one slice', () => {
  let dir: string;
  let db: Db;
  let services: Services;
  /** machine ids of the hosts named web-*, in id order */
  const web: number[] = [];
  const hostname = new Map<number, string>();
  const run = (name: string, input: object) => runOperation(operation(name), services, localPrincipal(), input);
  const jobCount = () => (db.prepare('SELECT count(*) AS n FROM job').get() as { n: number }).n;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-scale-'));
    const dbFile = path.join(dir, 'aptgate.db');
    db = openDb(dbFile);
    services = assemble(loadConfig({ env: {}, overrides: { db: dbFile, cacheDir: path.join(dir, 'cache') } }), {
      db,
      dbFile,
      mode: 'cli',
    });
    const store = new MachineStore(db);
    db.transaction(() => {
      let host = 0;
      for (let i = 0; i < MACHINES; i++) {
        // every 10th machine an LTSP chroot of the host before it (also named web-*)
        const chroot = i % 10 === 9;
        const name = `${i % 2 ? 'web' : 'db'}-${String(i).padStart(5, '0')}`;
        const id = store.insert({
          machineId: `scale-${i}`,
          parentId: chroot ? host : null,
          hostname: name,
          architecture: 'amd64',
          codename: 'bookworm',
          status: i % 100 === 1 ? 'pending' : 'approved',
          secret: 'x',
          tokenId: null,
          facts: '{}',
        });
        if (!chroot) host = id;
        hostname.set(id, name);
        if (name.startsWith('web-')) web.push(id);
      }
    })();
    services.fleet.classes.create('web');
    services.fleet.classes.addRule('web', 'hostname', 'WEB-*'); // globs ignore case, as apt's do
    services.fleet.classes.create('few');
    services.fleet.classes.addMember('few', web[3]!);
    services.fleet.classes.addMember('few', web[0]!);
  });
  after(async () => {
    await services?.stop();
    db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('classes.list counts the members, classes.show pages them in id order', async () => {
    const list = (await run('classes.list', {})) as { classes: Array<{ name: string; memberCount: number }> };
    assert.deepEqual(
      list.classes.map((c) => [c.name, c.memberCount]),
      [
        ['few', 2],
        ['web', MACHINES / 2],
      ],
    );
    const page = (await run('classes.show', { name: 'web', page: 3, limit: 1000 })) as {
      members: Array<{ id: number; hostname: string }>;
      memberCount: number;
    };
    assert.equal(page.memberCount, MACHINES / 2);
    assert.deepEqual(
      page.members,
      web.slice(2000, 3000).map((id) => ({ id, hostname: hostname.get(id) })),
    );
    const few = (await run('classes.show', { name: 'few' })) as { members: Array<{ id: number }> };
    assert.deepEqual(
      few.members.map((m) => m.id),
      [web[0], web[3]],
    );
  });

  it('a job for a large class: one per member, each named with its machine, and other callbacks ran meanwhile', async () => {
    let turns = 0;
    let running = true;
    const probe = () => {
      turns++;
      if (running) setImmediate(probe);
    };
    setImmediate(probe);
    const before = jobCount();
    const added = (await run('jobs.create', { kind: 'upgrade', to: ['web'] })) as Added;
    running = false;
    assert.ok(turns > 1, 'the event loop turned while the jobs were made');
    assert.equal(jobCount() - before, MACHINES / 2);
    assert.deepEqual(
      added.jobs.map((j) => [j.machine.id, j.machine.hostname, j.pending]),
      web.map((id) => [id, hostname.get(id), hostname.get(id)!.endsWith('01')]),
    );
    // each answer's job is the machine's own job
    const rows = db.prepare('SELECT id, machine_id AS m FROM job WHERE id > ?').all(added.jobs[0]!.id - 1) as Array<{
      id: number;
      m: number;
    }>;
    assert.deepEqual(
      added.jobs.map((j) => [j.id, j.machine.id]),
      rows.map((r) => [r.id, r.m]),
    );
  });

  it('a kind that skips some members (reboot: not for chroots) names the right machine for each job', async () => {
    const added = (await run('jobs.create', { kind: 'reboot', to: ['web'] })) as Added;
    const hosts = web.filter((id) => services.fleet.machines.byId(id)!.parentId === null);
    assert.ok(hosts.length < web.length);
    assert.deepEqual(
      added.jobs.map((j) => j.machine.id),
      hosts,
    );
    for (const j of added.jobs.slice(0, 50)) assert.equal(services.fleet.jobs.byId(j.id)!.machineId, j.machine.id);
  });

  it('all or nothing: an insert that fails part-way leaves no job of the class', async () => {
    const before = jobCount();
    // the 2,100th member's job cannot be written: its turn fails after the first turn's 2,000 jobs are in
    assert.ok(web.length > JOBS_PER_TURN + 100);
    db.exec(`CREATE TEMP TRIGGER refuse_one BEFORE INSERT ON job WHEN NEW.machine_id = ${web[JOBS_PER_TURN + 99]}
      BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    try {
      await assert.rejects(run('jobs.create', { kind: 'update', to: ['web'] }), /refused by the test/);
    } finally {
      db.exec('DROP TRIGGER refuse_one');
    }
    assert.equal(jobCount(), before, 'no job of the class was left behind');
    const audit = services.audit.query({ action: 'jobs.create', limit: 1 });
    assert.equal(audit[0]!.result, 'INTERNAL');
    // the same request afterwards makes every job
    const added = (await run('jobs.create', { kind: 'update', to: ['web'] })) as Added;
    assert.equal(added.jobs.length, MACHINES / 2);
    assert.equal(jobCount(), before + MACHINES / 2);
  });

  it('a machine removed after the targets were found gets no job; the others do', () => {
    const gone = web[10]!;
    const ids = web.slice(0, 20);
    assert.ok(services.fleet.removeMachine(gone));
    const made = services.fleet.jobs.createFor(ids, { kind: 'update', origin: 'test' });
    assert.deepEqual(
      made.map((x) => x.machineId),
      ids.filter((id) => id !== gone),
    );
  });
});
