// Issue 15: one word per thing. The machine credential's re-issue count is its credential
// version (the gate owns "generation"): a database made before the rename keeps every value
// under the new column names.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openDb } from '../src/state/db.js';
import { JobStore } from '../src/state/jobs.js';
import { MachineStore } from '../src/state/machines.js';
import { migrations } from '../src/state/migrations.js';

/** The last schema version that still called the credential version "generation". */
const BEFORE_RENAME = 8;

describe('issue 15: one word per thing', () => {
  it('a database at the schema before the rename keeps its credential versions (machines and job leases)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i15-words-'));
    try {
      const file = path.join(dir, 'state.db');
      // the database as the previous aptgate left it: migrated up to BEFORE_RENAME, with a
      // re-enrolled machine (generation 2), a job leased to it, and a job never delivered
      const old = new Database(file);
      for (const m of migrations.filter((x) => x.version <= BEFORE_RENAME)) old.exec(m.sql);
      old.pragma(`user_version = ${BEFORE_RENAME}`);
      const insertMachine = old.prepare(
        `INSERT INTO machine (machine_id, hostname, architecture, status, secret, facts, enrolled_at, generation)
         VALUES (?, ?, 'amd64', 'approved', 's', '{}', 1, ?)`,
      );
      const reissued = Number(insertMachine.run('a'.repeat(32), 'reissued', 2).lastInsertRowid);
      const first = Number(insertMachine.run('b'.repeat(32), 'first', 0).lastInsertRowid);
      const insertJob = old.prepare(
        `INSERT INTO job (machine_id, kind, params, policy, state, origin, disruptive, created_at, max_attempts, delivered_at, lease_generation)
         VALUES (?, 'upgrade', '{}', '{}', ?, 'test', 1, 1, 3, ?, ?)`,
      );
      const leased = Number(insertJob.run(reissued, 'delivered', 5, 2).lastInsertRowid);
      const queued = Number(insertJob.run(first, 'queued', null, null).lastInsertRowid);
      old.close();

      const db = openDb(file);
      try {
        assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
        const machines = new MachineStore(db);
        assert.deepEqual([machines.byId(reissued)!.credentialVersion, machines.byId(first)!.credentialVersion], [2, 0]);
        const jobs = new JobStore(db);
        assert.deepEqual(
          [jobs.byId(leased)!.leaseCredentialVersion, jobs.byId(queued)!.leaseCredentialVersion],
          [2, null],
        );
        const columns = (table: string) =>
          (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as Array<{ name: string }>).map(
            (c) => c.name,
          );
        assert.ok(columns('machine').includes('credential_version'));
        assert.ok(!columns('machine').includes('generation'));
        assert.ok(columns('job').includes('lease_credential_version'));
        assert.ok(!columns('job').includes('lease_generation'));
      } finally {
        db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
