// Issue 15: one word per thing. "generation" is the gate's (stage generations); the proxy serves
// a snapshot per suite; a machine credential's re-issue count is its credential version, and a
// database made before that rename keeps every value under the new column names. Enrolment is
// spelled the British way: `aptgate-agent enrol`, with `enroll` (earlier releases) kept as an
// alias; only the wire methods agent.enroll and agent.enrollChroot keep the American spelling.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openDb } from '../src/state/db.js';
import { JobStore } from '../src/state/jobs.js';
import { MachineStore } from '../src/state/machines.js';
import { migrations } from '../src/state/migrations.js';
import { createAgent } from './helpers/agent.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

/** The last schema version that still called the credential version "generation". */
const BEFORE_RENAME = 8;

/**
 * Where the American spelling stays: the wire methods (agent.enroll, agent.enrollChroot), the
 * agent command's alias for scripts of earlier releases, and the sentence saying that alias exists
 * (README, docs/architecture.md, the manual page).
 */
const AMERICAN_ALLOWED = [
  'agent.enroll',
  ".alias('enroll')",
  '`aptgate-agent enroll`, the spelling of earlier releases',
  '.RB ( enroll ,',
];
const AMERICAN = /[Ee]nroll(?!ed|ing)|ENROLL(?!ED|ING)/;

/** Every file at or below `rel` (a path in the project). */
function files(rel: string): string[] {
  if (!statSync(path.join(projectRoot, rel)).isDirectory()) return [rel];
  return readdirSync(path.join(projectRoot, rel)).flatMap((name) => files(path.join(rel, name)));
}

/** `file:line: text` for each line of the files matching `re` once the allowed strings are taken out. */
function uses(paths: string[], re: RegExp, allowed: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const f of paths.flatMap(files)) {
    readFileSync(path.join(projectRoot, f), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (re.test(allowed.reduce((l, a) => l.split(a).join(''), line))) out.push(`${f}:${i + 1}: ${line.trim()}`);
      });
  }
  return out;
}

describe('issue 15: one word per thing', () => {
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i15-words-'));
    server = await startServer(testConfig(path.join(dir, 'srv'), {}));
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the agent enrols with `aptgate-agent enrol`; `enroll`, the spelling of earlier releases, is the same command', async () => {
    const agent = await createAgent(path.join(dir, 'agent'), server.url);
    const help = await agent.runOk(['enrol', '--help']);
    assert.match(help, /^Usage: aptgate-agent enrol\|enroll \[options\]/);
    assert.match(help, /--token <token>/);
    assert.equal(await agent.runOk(['enroll', '--help']), help);
    assert.match(await agent.runOk(['--help']), /^ {2}enrol\|enroll \[options\] +enrol this machine/m);

    const token = server.fleet.enrolment.createToken({ autoApprove: true }).token;
    const first = JSON.parse(await agent.runOk(['enrol', '--token', token, '--json'])) as {
      machine: number;
      status: string;
    };
    assert.equal(first.status, 'approved');
    assert.equal(agent.state.identity()!.machine, first.machine);
    // the old spelling enrols the same way: this machine again, proven with the secret it holds
    const again = JSON.parse(await agent.runOk(['enroll', '--token', token, '--json'])) as {
      machine: number;
      reenrol: string;
    };
    assert.deepEqual([again.machine, again.reenrol], [first.machine, 'proven']);
  });

  it('enrolment is spelled enrol everywhere but in the wire methods agent.enroll and agent.enrollChroot', () => {
    assert.deepEqual(
      uses(['src', 'docs', 'README.md', 'config', 'debian', 'packaging'], AMERICAN, AMERICAN_ALLOWED),
      [],
    );
    // the scan sees what it looks for, and each allowed string is still in use (none is left over)
    assert.ok(AMERICAN.test('aptgate-agent enroll') && AMERICAN.test('enrollment') && AMERICAN.test('ENROLL'));
    assert.ok(!AMERICAN.test('enrolled, enrolling, enrolment, enrolLimits'));
    const text = ['src', 'README.md', 'debian']
      .flatMap(files)
      .map((f) => readFileSync(path.join(projectRoot, f), 'utf8'))
      .join('\n');
    for (const a of AMERICAN_ALLOWED) assert.ok(text.includes(a), a);
  });

  it('the proxy says snapshot and the gate says generation: no Generation, StageGen or their abbreviations in src/', () => {
    const old =
      /\b(Generation|StageGen|NewGen|GenKind|GenJson|VouchingGen|heldGenerations|leaseGeneration|currentGen)\b/;
    assert.deepEqual(uses(['src'], old), []);
    assert.ok(old.test('type Generation') && !old.test('StageGeneration, GenerationKind'));
  });

  it('a database at the schema before the rename keeps its credential versions (machines and job leases)', async () => {
    const file = path.join(dir, 'before-rename.db');
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
    const once = Number(insertMachine.run('b'.repeat(32), 'once', 0).lastInsertRowid);
    const insertJob = old.prepare(
      `INSERT INTO job (machine_id, kind, params, policy, state, origin, disruptive, created_at, max_attempts,
         delivered_at, lease_generation)
       VALUES (?, 'upgrade', '{}', '{}', ?, 'test', 1, 1, 3, ?, ?)`,
    );
    const leased = Number(insertJob.run(reissued, 'delivered', 5, 2).lastInsertRowid);
    const queued = Number(insertJob.run(once, 'queued', null, null).lastInsertRowid);
    old.close();

    const db = openDb(file);
    try {
      assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
      const machines = new MachineStore(db);
      assert.deepEqual([machines.byId(reissued)!.credentialVersion, machines.byId(once)!.credentialVersion], [2, 0]);
      const jobs = new JobStore(db);
      assert.deepEqual(
        [jobs.byId(leased)!.leaseCredentialVersion, jobs.byId(queued)!.leaseCredentialVersion],
        [2, null],
      );
      const columns = (table: string) =>
        (db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as Array<{ name: string }>).map((c) => c.name);
      assert.deepEqual(
        [columns('machine').includes('credential_version'), columns('machine').includes('generation')],
        [true, false],
      );
      assert.deepEqual(
        [columns('job').includes('lease_credential_version'), columns('job').includes('lease_generation')],
        [true, false],
      );
    } finally {
      db.close();
    }
  });
});
