// Issue 5: the release gate's commands (gate status, promote, stage rollback|history|list, key
// export, classes bound to stages) against a real database. Snapshots and their package index
// are inserted with the real stores, the stages follow them through StageService, machines enrol
// through the real Fleet; nothing is published (that is the server's part, test/issue-5-gate).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openFleet, type FleetContext } from '../src/cli/fleet-context.js';
import type {
  GateStatusJson,
  HistoryJson,
  KeyExportJson,
  PromoteJson,
  RollbackJson,
  StageListJson,
} from '../src/gate/queries.js';
import { buildProgram } from '../src/cli/program.js';
import { loadConfig } from '../src/config.js';
import { isAptgateError, type ErrorCode } from '../src/errors.js';
import { ContentResolver } from '../src/gate/content.js';
import { StageService } from '../src/gate/stages.js';
import { parseParagraphs } from '../src/index/deb822.js';
import { toPackageEntry } from '../src/index/packages.js';
import { ServerKey } from '../src/gate/key.js';
import { openDb } from '../src/state/db.js';
import { SnapshotStore } from '../src/state/snapshots.js';
import { StageStore } from '../src/state/stages.js';
import { exec } from './helpers/exec.js';

let dir: string;
let db: string;
let cacheDir: string;

async function cli(...args: string[]): Promise<string> {
  let text = '';
  const program = buildProgram((s) => {
    text += s;
  });
  program.exitOverride();
  await program.parseAsync(['node', 'aptgate', ...args, '--db', db, '--cache-dir', cacheDir]);
  return text;
}
const json = async <T = Record<string, unknown>>(...args: string[]): Promise<T> =>
  JSON.parse(await cli(...args, '--json')) as T;

async function fails(code: ErrorCode, ...args: string[]): Promise<Error> {
  let caught: unknown;
  await assert.rejects(cli(...args), (err: unknown) => {
    caught = err;
    return isAptgateError(err, code) || assert.fail(`expected ${code}, got ${String(err)}`);
  });
  return caught as Error;
}

function withCtx<T>(fn: (ctx: FleetContext) => T): T {
  const ctx = openFleet(loadConfig({ env: {}, overrides: { db, cacheDir } }));
  try {
    return fn(ctx);
  } finally {
    ctx.close();
  }
}

/** A bookworm-security snapshot whose main/amd64 Packages carry these source versions. */
function securitySnapshot(n: number, versions: Record<string, string>): number {
  return withCtx((ctx) => {
    const snap = new SnapshotStore(ctx.db).record({
      backend: 'debian-security',
      suite: 'bookworm-security',
      kind: 'inrelease',
      sha256: String(n).repeat(64).slice(0, 64),
      date: Date.now() + n,
      validUntil: null,
      origin: 'Debian',
      label: 'Debian-Security',
      suiteField: 'oldstable-security',
      codename: 'bookworm-security',
      version: '12',
      notAutomatic: false,
      butAutomaticUpgrades: false,
      fetchedAt: Date.now(),
      mirror: null,
      upstreamLastModified: null,
      upstreamEtag: null,
    });
    const text = Object.entries(versions)
      .map(
        ([name, v]) =>
          `Package: ${name}\nVersion: ${v}\nArchitecture: amd64\n` +
          `Filename: pool/updates/main/${name[0]}/${name}/${name}_${v}_amd64.deb\nSize: 1000\nSHA256: ${String(n).repeat(64).slice(0, 64)}\n`,
      )
      .join('\n');
    const entries = parseParagraphs(text).map((p) => toPackageEntry(p)!);
    const file = ctx.packageIndex.beginFile('debian-security', `key-${n}`);
    ctx.packageIndex.insertBatch(file, 'debian-security', entries);
    const id = ctx.packageIndex.finishFile(
      file,
      'debian-security',
      String(n + 1)
        .repeat(64)
        .slice(0, 64),
      entries.length,
    );
    ctx.packageIndex.link(snap.id, 'main', 'amd64', id);
    // what the server does when a snapshot's Packages are indexed: stages take it, the first follows
    const snapshots = new SnapshotStore(ctx.db);
    new StageService(
      ctx.config.gate.stages,
      new StageStore(ctx.db),
      snapshots,
      new ContentResolver(snapshots, ctx.packageIndex),
      Date.now,
    ).follow(snap.id);
    return snap.id;
  });
}

describe('issue 5: the release gate CLI', () => {
  let before1: number, after1: number;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-cli5-'));
    db = path.join(dir, 'aptgate.db');
    cacheDir = path.join(dir, 'cache');
    openDb(db).close(); // what the server's first start does: administrative commands never create it
    before1 = securitySnapshot(1, { openssl: '3.0.16-1~deb12u1', curl: '7.88.1-10+deb12u7' });
    after1 = securitySnapshot(2, { openssl: '3.0.17-1~deb12u1', curl: '7.88.1-10+deb12u8' });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gate status: a stage without test machines does not hold, and says so; the pending updates', async () => {
    const r = await json<{ stages: GateStatusJson[] }>('gate', 'status');
    assert.deepEqual(
      r.stages.map((s) => s.stage),
      ['test'],
      'every stage but the last',
    );
    const st = r.stages[0]!;
    assert.deepEqual(Object.keys(st).sort(), [
      'holds',
      'machines',
      'missing',
      'next',
      'publishedAt',
      'stage',
      'updates',
    ]);
    assert.equal(st.next, 'production');
    assert.equal(st.holds, false);
    assert.deepEqual(st.machines, []);
    assert.match(st.missing.join('\n'), /test has no test machines/);
    assert.ok(Date.parse(st.publishedAt!) > Date.now() - 60_000);
    assert.deepEqual(
      st.updates.map((u) => [`${u.backend}/${u.suite}`, u.source, u.from, u.to, u.security]),
      [
        ['debian-security/bookworm-security', 'curl', '7.88.1-10+deb12u7', '7.88.1-10+deb12u8', true],
        ['debian-security/bookworm-security', 'openssl', '3.0.16-1~deb12u1', '3.0.17-1~deb12u1', true],
      ],
    );
    assert.equal(st.updates[0]!.snapshot, after1);
    const human = await cli('gate', 'status', 'test');
    assert.match(human, /^test → production: gate CLOSED$/m);
    assert.match(human, /openssl\s+3\.0\.16-1~deb12u1\s+→\s+3\.0\.17-1~deb12u1\s+security/);
    assert.equal(
      (await json<{ stages: GateStatusJson[] }>('gate', 'status', 'production')).stages[0]!.missing[0],
      'production is the last stage',
    );
    await fails('NOT_FOUND', 'gate', 'status', 'staging');
  });

  it('classes bound to stages: a gate class makes its machines test machines; bind, unbind, list', async () => {
    await cli('classes', 'create', 'qa', '--stage', 'test', '--gate');
    const web = await json<{ name: string; stage: string | null; gate: boolean }>(
      'classes',
      'create',
      'web',
      '--stage',
      'production',
    );
    assert.deepEqual([web.name, web.stage, web.gate], ['web', 'production', false]);
    await fails('USAGE', 'classes', 'create', 'lab', '--gate');
    await fails('USAGE', 'classes', 'create', 'lab', '--stage', 'staging');
    assert.ok(
      !(await json<{ classes: Array<{ name: string }> }>('classes', 'list')).classes.some((c) => c.name === 'lab'),
      'a refused binding creates no class',
    );

    withCtx((ctx) =>
      ctx.fleet.enrol(ctx.fleet.enrolment.createToken({ autoApprove: true, class: 'qa' }).token, {
        hostname: 'qa-1',
        machineId: 'a'.repeat(32),
        architecture: 'amd64',
        foreignArchitectures: [],
        distribution: 'Debian',
        codename: 'bookworm',
        kernel: '6.1.0-28-amd64',
        agentVersion: '0.1.0',
      }),
    );
    const st = (await json<{ stages: GateStatusJson[] }>('gate', 'status', 'test')).stages[0]!;
    assert.deepEqual(
      st.machines.map((m) => [m.hostname, m.status, m.job]),
      [['qa-1', 'waiting', null]],
    );
    assert.match(st.machines[0]!.reason!, /no upgrade job since the content was published/);
    assert.ok(!st.missing.some((m) => /no test machines/.test(m)));
    assert.match(st.missing.join('\n'), /^qa-1: no upgrade job/m);
    assert.match(await cli('gate', 'status'), /qa-1\s+waiting: no upgrade job/);

    const classes = (
      await json<{ classes: Array<{ name: string; stage: string | null; gate: boolean; memberCount: number }> }>(
        'classes',
        'list',
      )
    ).classes;
    assert.deepEqual(
      classes.map((c) => [c.name, c.stage, c.gate, c.memberCount]),
      [
        ['qa', 'test', true, 1],
        ['web', 'production', false, 0],
      ],
    );
    assert.match(await cli('classes', 'list'), /^qa\s+0\s+1\s+-\s+test \(gate\)/m);

    const bound = await json<{ class: string; stage: string | null; gate: boolean; members: number }>(
      'classes',
      'bind',
      'web',
      'test',
    );
    assert.deepEqual(bound, { class: 'web', stage: 'test', gate: false, members: 0 });
    assert.match(await cli('classes', 'bind', 'web', 'production'), /^web: bound to stage production/);
    await fails('USAGE', 'classes', 'bind', 'web', 'staging');
    await fails('NOT_FOUND', 'classes', 'bind', 'nope', 'test');
    assert.deepEqual(await json('classes', 'unbind', 'web'), { class: 'web', stage: null, gate: false, members: 0 });
    await cli('classes', 'bind', 'web', 'production');

    const list = await json<StageListJson>('stage', 'list');
    assert.deepEqual(list.ladder, ['test', 'production']);
    assert.deepEqual(
      list.stages.map((s) => [
        s.name,
        s.next,
        s.classes.map((c) => `${c.name}${c.gate ? '+gate' : ''}`),
        s.testMachines,
      ]),
      [
        ['test', 'production', ['qa+gate'], 1],
        ['production', null, ['web'], 0],
      ],
    );
    assert.deepEqual(
      list.stages.map((s) => s.suites.map((g) => [g.backend, g.suite, g.kind, g.baseSnapshot, g.published])),
      [
        [['debian-security', 'bookworm-security', 'follow', after1, false]],
        [['debian-security', 'bookworm-security', 'initial', before1, false]],
      ],
    );
    assert.equal(list.stages[0]!.autoPromoteSoakMs, null);
    assert.match(await cli('stage', 'list'), /^test → production$/m);
  });

  it('promote: refused while the gate does not hold; --force needs --reason; --to is the next rung only', async () => {
    const err = await fails('GATE_CLOSED', 'promote', 'test');
    assert.match(err.message, /qa-1: no upgrade job/);
    await fails('USAGE', 'promote', 'test', '--force');
    await fails('USAGE', 'promote', 'test', '--force', '--reason', '  ');
    await fails('USAGE', 'promote', 'test', '--to', 'test');
    await fails('USAGE', 'promote', 'test', '--to', 'staging');
    await fails('USAGE', 'promote', 'production');
    await fails('NOT_FOUND', 'promote', 'staging');
    await fails('USAGE', 'promote', 'test', '--only', 'bash', '--force', '--reason', 'no such update');
    assert.deepEqual(
      (await json<HistoryJson>('stage', 'history', 'production')).generations.map((g) => g.kind),
      ['initial'],
      'nothing changed',
    );
  });

  it('a forced promotion of one source is recorded with its reason and evidence; rollback returns to the previous content', async () => {
    const p = await json<PromoteJson>(
      'promote',
      'test',
      '--to',
      'production',
      '--only',
      'openssl',
      '--force',
      '--reason',
      'CVE-2026-0001 is exploited',
    );
    assert.deepEqual(Object.keys(p).sort(), ['actor', 'forced', 'generations', 'reason', 'stage', 'to']);
    assert.equal(p.to, 'production');
    assert.equal(p.forced, true);
    assert.equal(p.actor, os.userInfo().username);
    assert.deepEqual(
      p.generations.map((g) => [g.stage, g.kind, g.baseSnapshot, g.overrides]),
      [['production', 'promote', before1, [{ source: 'openssl', snapshot: after1 }]]],
    );
    assert.deepEqual(
      (await json<{ stages: GateStatusJson[] }>('gate', 'status')).stages[0]!.updates.map((u) => u.source),
      ['curl'],
    );

    const h = await json<HistoryJson>('stage', 'history', 'production');
    const g = h.generations.at(-1)!;
    assert.deepEqual(Object.keys(g).sort(), [
      'actor',
      'backend',
      'baseSnapshot',
      'createdAt',
      'evidence',
      'forced',
      'id',
      'kind',
      'overrides',
      'published',
      'reason',
      'stage',
      'suite',
    ]);
    assert.deepEqual(
      [g.kind, g.forced, g.reason, g.actor, g.backend, g.suite],
      ['promote', true, 'CVE-2026-0001 is exploited', os.userInfo().username, 'debian-security', 'bookworm-security'],
    );
    assert.deepEqual(g.evidence, {
      from: 'test',
      updates: ['openssl 3.0.16-1~deb12u1 → 3.0.17-1~deb12u1'],
      gateHeld: false,
      machines: [
        {
          id: g.evidence!.machines[0]!.id,
          hostname: 'qa-1',
          status: 'waiting',
          job: null,
          reason: 'no upgrade job since the content was published',
        },
      ],
      missing: ['qa-1: no upgrade job since the content was published'],
      rollbackTo: null,
    });
    assert.equal(h.generations[0]!.evidence, null, 'an initial generation has no evidence');
    assert.match(
      await cli('stage', 'history', 'production'),
      /promote \(forced\)\s+debian-security\/bookworm-security\s+\d+\s+openssl@\d+/,
    );

    const r = await json<RollbackJson>('stage', 'rollback', 'production', '--reason', 'openssl regression');
    assert.deepEqual(
      r.generations.map((x) => [x.kind, x.baseSnapshot, x.overrides, x.reason]),
      [['rollback', before1, [], 'openssl regression']],
    );
    const kinds = (await json<HistoryJson>('stage', 'history', 'production')).generations;
    assert.deepEqual(
      kinds.map((x) => `${x.kind}${x.forced ? ' (forced)' : ''}`),
      ['initial', 'promote (forced)', 'rollback'],
    );
    assert.equal(kinds.at(-1)!.evidence!.rollbackTo, kinds[0]!.id);
    assert.deepEqual(
      (await json<{ stages: GateStatusJson[] }>('gate', 'status')).stages[0]!.updates.map((u) => u.source),
      ['curl', 'openssl'],
    );
    await fails('NOT_FOUND', 'stage', 'rollback', 'staging');
    await fails('NOT_FOUND', 'stage', 'history', 'staging');
  });

  it('key export: armored for Signed-By, or a binary keyring gpg reads', async () => {
    // before the server ever ran there is no key, and the command makes none (only serve creates state)
    await fails('SIGNING_KEY', 'key', 'export');
    assert.equal(existsSync(path.join(dir, 'aptgate-gnupg')), false);
    const made = await ServerKey.open(path.join(dir, 'aptgate-gnupg')); // the server's first start
    await made.close();
    const armored = await cli('key', 'export');
    assert.ok(armored.startsWith('-----BEGIN PGP PUBLIC KEY BLOCK-----'), armored.slice(0, 80));
    await fails('USAGE', 'key', 'export', '--binary');
    const file = path.join(dir, 'aptgate.gpg');
    const k = await json<KeyExportJson>('key', 'export', '--binary', '--output', file);
    assert.deepEqual(Object.keys(k).sort(), ['fingerprint', 'format', 'key', 'output']);
    assert.deepEqual([k.format, k.output, k.key], ['binary', file, null]);
    assert.match(k.fingerprint, /^[0-9A-F]{40,64}$/);
    const bytes = await readFile(file);
    assert.notEqual(bytes[0], '-'.charCodeAt(0), 'binary, not armored');
    const home = await mkdtemp(path.join(dir, 'gnupg-'));
    const env = { ...process.env, GNUPGHOME: home };
    const shown = await exec('gpg', ['--batch', '--with-colons', '--show-keys', file], { env });
    assert.equal(shown.code, 0, shown.stderr.toString());
    assert.match(shown.stdout.toString(), new RegExp(`^fpr:+${k.fingerprint}:`, 'm'));
    await exec('gpgconf', ['--kill', 'all'], { env });
    assert.equal((await json<KeyExportJson>('key', 'export')).fingerprint, k.fingerprint, 'one key, made once');
  });
});
