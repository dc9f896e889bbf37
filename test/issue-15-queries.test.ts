// Issue 15: the queries live in the domain (src/fleet/queries/, src/gate/queries.ts) and the
// command line only formats them. The queries answer over the assembled services alone, with no
// command-line context, and `--json` prints exactly their answer. The verified machine row of a
// signed call travels in that call's context: AgentAuth keeps nothing between calls.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assemble, type Services } from '../src/assembly/services.js';
import { buildProgram } from '../src/cli/program.js';
import { loadConfig, type Config } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import type { MachineFacts } from '../src/fleet/enrolment.js';
import type { FleetQueryContext } from '../src/fleet/queries/context.js';
import { listJobs } from '../src/fleet/queries/jobs.js';
import { listMachines, showMachine } from '../src/fleet/queries/machines.js';
import { packageUsers } from '../src/fleet/queries/packages.js';
import { createToken, listTokens } from '../src/fleet/queries/tokens.js';
import { gateStatus, listStages } from '../src/gate/queries.js';
import { signRequest } from '../src/protocol/signing.js';
import { openDb, type Db } from '../src/state/db.js';

const facts = (hostname: string, machineId: string): MachineFacts => ({
  hostname,
  machineId,
  architecture: 'amd64',
  foreignArchitectures: [],
  distribution: 'Debian',
  codename: 'bookworm',
  kernel: '6.1.0-28-amd64',
  agentVersion: '0.1.0',
});

describe('issue 15: queries live in the domain, the CLI formats', () => {
  let dir: string;
  let config: Config;
  let db: Db;
  let services: Services;
  let q: FleetQueryContext;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i15q-'));
    config = loadConfig({
      env: {},
      overrides: { db: path.join(dir, 'aptgate.db'), cacheDir: path.join(dir, 'cache') },
    });
    db = openDb(config.db);
    services = assemble(config, { db, dbFile: config.db, mode: 'cli' });
    const { fleet, outdated, views, now, state } = services;
    q = { config, db, fleet, outdated, views, now, profiles: state.profiles, viewDefs: state.viewDefs };
  });
  after(async () => {
    await services.stop();
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function cliJson(...args: string[]): Promise<unknown> {
    let text = '';
    const program = buildProgram((s) => {
      text += s;
    });
    program.exitOverride();
    await program.parseAsync(['node', 'aptgate', ...args, '--db', config.db, '--json']);
    return JSON.parse(text);
  }

  it('the fleet queries answer over the services alone, and --json prints their answer', async () => {
    const t = createToken(q, { autoApprove: true, server: 'http://aptgate.example.org:3142', note: 'lab' });
    assert.deepEqual(t.enrolCommand, [
      'aptgate-agent',
      'enrol',
      '--server',
      'http://aptgate.example.org:3142',
      '--token',
      t.token,
    ]);
    const id = services.fleet.enrol(t.token, facts('web-1', 'c'.repeat(32))).machine;

    const machines = listMachines(q);
    assert.deepEqual(
      machines.map((m) => [m.id, m.hostname, m.status, m.outdated]),
      [[id, 'web-1', 'approved', null]],
    );
    assert.equal(listTokens(q)[0]!.uses, 1);
    assert.equal(showMachine(q, 'web-1').machine.machineId, 'c'.repeat(32));
    assert.deepEqual((await packageUsers(q, 'openssl')).counts, { machines: 0, outdated: 0, security: 0 });
    assert.deepEqual(listJobs(q), []);
    // a bad question is refused by the query itself, whoever asks it
    await assert.rejects(
      () => packageUsers(q, 'Not A Package'),
      (e: unknown) => isAptgateError(e, 'USAGE'),
    );

    // the command line prints the domain's answer, unchanged
    // (a list answer also says how many match and which page it is: issue 16)
    assert.deepEqual(
      await cliJson('machines', 'list'),
      JSON.parse(JSON.stringify({ machines: listMachines(q), total: 1, page: 1, limit: null })),
    );
    assert.deepEqual(await cliJson('token', 'list'), JSON.parse(JSON.stringify({ tokens: listTokens(q) })));
  });

  it("the gate's queries answer over the gate and the fleet's classes, and --json prints their answer", async () => {
    const g = { config, gate: services.gate, fleet: services.fleet };
    const status = gateStatus(g, []);
    assert.deepEqual(
      status.stages.map((s) => s.stage),
      config.gate.stages.slice(0, -1),
    );
    assert.deepEqual(await cliJson('gate', 'status'), JSON.parse(JSON.stringify(status)));
    assert.deepEqual(await cliJson('stage', 'list'), JSON.parse(JSON.stringify(listStages(g))));
    assert.throws(
      () => gateStatus(g, ['no-such-stage']),
      (e: unknown) => isAptgateError(e, 'NOT_FOUND'),
    );
  });

  it("a signed call's verified row is its own: interleaved calls of two machines each identify their own row", () => {
    const auth = services.fleet.auth;
    const made = [
      ['a1', 'd'.repeat(32)],
      ['a2', 'e'.repeat(32)],
    ].map(([host, mid]) => {
      const e = services.fleet.enrol(
        services.fleet.enrolment.createToken({ autoApprove: true }).token,
        facts(host!, mid!),
      );
      return { id: e.machine, secret: e.secret, machineId: mid! };
    });
    const body = '<?xml version="1.0"?><methodCall><methodName>agent.checkIn</methodName></methodCall>';
    // both authenticated before either is identified (as when decoding yields to the event loop)
    const rows = made.map((m) =>
      auth.authenticate(signRequest(m.secret, String(m.id), Date.now(), body), body, '127.0.0.1'),
    );
    assert.deepEqual(
      rows.map((r) => r?.id),
      made.map((m) => m.id),
    );
    for (const [i, m] of made.entries()) assert.equal(auth.identify(rows[i]!, m.machineId).hostname, `a${i + 1}`);
    // and the other machine's row is never taken for this one's
    assert.throws(
      () => auth.identify(rows[0]!, made[1]!.machineId),
      (e: unknown) => isAptgateError(e, 'CLONE_DETECTED'),
    );
  });
});
