// Ids that key caches are never given twice: a collected profile's id (the highest) and a pruned
// view's id go to no later row, so no cached answer, in the table or in a worker's memory, can
// be taken for a new profile's or view's. And an outdated worker forgets the package records the
// server collected (their ids are given to new records).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OutdatedCalc } from '../src/fleet/outdated-calc.js';
import { parseStatus } from '../src/index/status.js';
import { openDb, type Db } from '../src/state/db.js';
import { OutdatedCacheStore } from '../src/state/outdated-cache.js';
import { ProfileStore } from '../src/state/profiles.js';
import { TimeSlicer } from '../src/sys/time-slice.js';

const status = (pkgs: Array<[string, string]>) =>
  parseStatus(
    pkgs
      .map(
        ([name, version]) =>
          `Package: ${name}\nStatus: install ok installed\nArchitecture: all\nVersion: ${version}\nMaintainer: t <t@example.org>\nDescription: t\n`,
      )
      .join('\n'),
  );

describe('ids that key caches are never given twice', () => {
  let dir: string;
  let db: Db;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-idfloor-'));
    db = openDb(path.join(dir, 'aptgate.db'));
  });
  after(async () => {
    db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a collected profile with the highest id: the next profile gets a higher one; a worker forgets reused records', async () => {
    const server = new ProfileStore(db);
    const a = server.store(status([['demo', '1.0-1']]));
    const b = server.store(status([['demo', '2.0-1']]));
    assert.ok(b.id > a.id);
    // another connection's calculation (the outdated worker's) read b's records
    const worker = new ProfileStore(openDb(path.join(dir, 'aptgate.db')));
    const calc = new OutdatedCalc(worker);
    assert.deepEqual(
      [...worker.installed(a.id), ...worker.installed(b.id)].map((p) => p.version),
      ['1.0-1', '2.0-1'],
    );
    const gone = await server.collect([a.id, b.id], new TimeSlicer());
    assert.deepEqual(gone.profiles.sort(), [a.id, b.id].sort());
    const c = server.store(status([['demo', '3.0-1']]));
    assert.ok(c.id > b.id, `profile id ${c.id} was ${b.id}'s`);
    // the new record may take a collected record's id: the worker, told, reads it again
    calc.forget(gone.profiles);
    assert.deepEqual(
      worker.installed(c.id).map((p) => p.version),
      ['3.0-1'],
    );
  });

  it('a pruned view: the next view gets a higher id', () => {
    const views = new OutdatedCacheStore(db);
    const v1 = views.defineView('a'.repeat(64), '{}');
    const v2 = views.defineView('b'.repeat(64), '{}');
    assert.ok(views.deleteViewIfUnused(v2));
    const v3 = views.defineView('c'.repeat(64), '{}');
    assert.ok(v3 > v2 && v2 > v1, `${v1} ${v2} ${v3}`);
  });
});
