// Issue 4: server and agent over real HTTP on 127.0.0.1: enrolment with approval, clone
// refusal, forged and replayed signatures, expired tokens, job leases and redelivery, and a
// job result that survives a server restart.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient, ServerFault as RpcError } from '../src/agent/client.js';
import { AgentState } from '../src/agent/identity.js';
import { encodeCall } from '../src/protocol/codec.js';
import { faultCodes } from '../src/protocol/faults.js';
import { signRequest } from '../src/protocol/signing.js';
import { VERSION } from '../src/version.js';
import { createAgent } from './helpers/agent.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

let dir: string;
let clock = Date.now();
let server: TestServer;

async function post(url: string, body: string, headers: Record<string, string>): Promise<string> {
  const r = await fetch(`${url}/RPC2`, { method: 'POST', body, headers: { 'content-type': 'text/xml', ...headers } });
  return r.text();
}
const faultOf = (xml: string) => Number(/<name>faultCode<\/name>\s*<value>\s*<int>(-?\d+)<\/int>/.exec(xml)?.[1]);

describe('issue 4: enrolment, authentication and jobs over real HTTP', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-fleet-'));
    server = await startServer(
      testConfig(path.join(dir, 'srv'), {}, (c) => {
        c.fleet.jobLeaseMs = 60_000;
      }),
      { now: () => clock },
    );
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a machine enrolled with a non-auto-approving token waits as pending until approved; re-enrolment does not duplicate', async () => {
    const { token } = server.fleet.enrolment.createToken({});
    const agent = await createAgent(path.join(dir, 'a1'), server.url);
    assert.match(await agent.runOk(['enroll', '--token', token]), /waiting for approval/);
    const identity = agent.state.identity()!;
    // the secret is readable by root only
    assert.equal((await import('node:fs')).statSync(path.join(agent.stateDir, 'identity.json')).mode & 0o777, 0o600);
    assert.equal(server.fleet.machines.byId(identity.machine)!.status, 'pending');
    const pending = JSON.parse(await agent.runOk(['run-once', '--json'])) as { status: string; reported: string };
    assert.deepEqual([pending.status, pending.reported], ['pending', 'no']);
    assert.equal(server.fleet.machines.byId(identity.machine)!.profileId, null);
    assert.ok(server.fleet.enrolment.approve(identity.machine).changed);
    const first = JSON.parse(await agent.runOk(['run-once', '--json'])) as { status: string; reported: string };
    assert.deepEqual([first.status, first.reported], ['approved', 'full']);
    assert.ok(server.fleet.machines.byId(identity.machine)!.profileId);
    const again = JSON.parse(await agent.runOk(['run-once', '--json'])) as { reported: string };
    assert.equal(again.reported, 'no', 'an unchanged state is only checked in');
    // an agent whose state the server does not know (here: as after an agent upgrade) reports,
    // and its report carries its version
    const facts = JSON.parse(server.fleet.machines.byId(identity.machine)!.facts) as Record<string, unknown>;
    server.db
      .prepare('UPDATE machine SET facts = ? WHERE id = ?')
      .run(JSON.stringify({ ...facts, agentVersion: '0.0.1' }), identity.machine);
    server.db.prepare('UPDATE machine SET state_hash = ? WHERE id = ?').run('0'.repeat(64), identity.machine);
    assert.equal(JSON.parse(await agent.runOk(['run-once', '--json'])).reported, 'hash');
    assert.equal(JSON.parse(server.fleet.machines.byId(identity.machine)!.facts).agentVersion, VERSION);
    // enrolling the same machine-id again: same machine, new secret
    const { token: t2 } = server.fleet.enrolment.createToken({ autoApprove: true });
    await agent.runOk(['enroll', '--token', t2]);
    assert.equal(agent.state.identity()!.machine, identity.machine);
    assert.notEqual(agent.state.identity()!.secret, identity.secret);
    assert.equal(server.fleet.machines.all().filter((m) => m.machineId === agent.machineId).length, 1);
  });

  it('a push flags the machine: its next check-in says pull now, and the flag clears when it fetched', async () => {
    const agent = await createAgent(path.join(dir, 'p1'), server.url);
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    await agent.runOk(['run-once']);
    const id = agent.state.identity()!.machine;
    server.fleet.setPullNow([id], true);
    const client = new RpcClient(
      { server: server.url, timeoutS: 10 },
      { identity: agent.state.identity()!, state: agent.state },
    );
    const last = agent.state.last()!;
    const check = await client.call<{ stateKnown: boolean; pullNow: boolean; jobsWaiting: boolean }>('agent.checkIn', [
      { machineId: agent.machineId, state: last.state, packages: last.packagesHash },
    ]);
    assert.deepEqual([check.stateKnown, check.pullNow, check.jobsWaiting], [true, true, false]);
    await agent.runOk(['run-once']);
    assert.equal(server.fleet.machines.byId(id)!.pullNow, false);
  });

  it('refuses expired, revoked and unknown tokens', async () => {
    const agent = await createAgent(path.join(dir, 'a2'), server.url);
    const expired = server.fleet.enrolment.createToken({ expiresInMs: -1000 }).token;
    const r = await agent.run(['enroll', '--token', expired]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /expired \(fault 4\)/);
    const used = server.fleet.enrolment.createToken({ maxUses: 1 });
    await agent.runOk(['enroll', '--token', used.token]);
    const other = await createAgent(path.join(dir, 'a3'), server.url);
    assert.match((await other.run(['enroll', '--token', used.token])).stderr, /used up \(fault 4\)/);
    assert.match(
      (await other.run(['enroll', '--token', 'agt_' + 'x'.repeat(32)])).stderr,
      /unknown enrolment token \(fault 4\)/,
    );
  });

  it('credentials copied to another machine are refused as a clone and flagged', async () => {
    const agent = await createAgent(path.join(dir, 'c1'), server.url);
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    // the same (empty) installed set was reported by another machine already: only its hash travels
    assert.equal(JSON.parse(await agent.runOk(['run-once', '--json'])).reported, 'hash');
    const otherId = path.join(dir, 'c1', 'other-machine-id');
    await writeFile(otherId, 'f'.repeat(32) + '\n');
    await agent.configure({ server: server.url, machineIdFile: otherId });
    const r = await agent.run(['run-once']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fault 6/);
    const m = server.fleet.machines.byId(agent.state.identity()!.machine)!;
    assert.equal(m.cloneMachineId, 'f'.repeat(32));
  });

  it('offers agents and anonymous callers nothing but agent.*, site.* (site caches, issue 18) and system.* (administration is local)', async () => {
    const xml = await post(server.url, encodeCall('system.listMethods', []), {});
    const names = [...xml.matchAll(/<string>([^<]+)<\/string>/g)].map((m) => m[1]!);
    assert.ok(names.includes('agent.checkIn'));
    assert.deepEqual(
      names.filter((n) => !/^(agent|site|system)\./.test(n)),
      [],
    );
  });

  it('refuses unsigned, forged and replayed calls; the service keeps serving', async () => {
    const agent = await createAgent(path.join(dir, 'f1'), server.url);
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    const id = agent.state.identity()!;
    const body = encodeCall('agent.fetchJob', [{ machineId: id.machineId }]);
    assert.equal(faultOf(await post(server.url, body, {})), faultCodes.AUTH_FAILED);
    const forged = signRequest('not-the-secret', String(id.machine), Date.now(), body);
    assert.equal(faultOf(await post(server.url, body, forged)), faultCodes.AUTH_FAILED);
    // a valid signature over another body
    const signed = signRequest(id.secret, String(id.machine), Date.now() + 5, body);
    assert.equal(faultOf(await post(server.url, body.replace('fetchJob', 'checkIn'), signed)), faultCodes.AUTH_FAILED);
    const good = signRequest(id.secret, String(id.machine), Date.now() + 10, body);
    assert.match(await post(server.url, body, good), /<name>jobs<\/name>/);
    assert.equal(faultOf(await post(server.url, body, good)), faultCodes.REPLAY_REFUSED, 'the same request again');
    const old = signRequest(id.secret, String(id.machine), Date.now() - 3_600_000, body);
    assert.equal(faultOf(await post(server.url, body, old)), faultCodes.REPLAY_REFUSED, 'an hour old');
    // the agent goes on from the newest timestamp the server saw
    agent.state.saveTimestamp(Date.now() + 10);
    const client = new RpcClient({ server: server.url, timeoutS: 10 }, { identity: id, state: agent.state });
    assert.deepEqual({ ...(await client.call<object>('agent.fetchJob', [{ machineId: id.machineId }])) }, { jobs: [] });
  });

  it('a delivered job whose lease runs out is delivered again, up to its attempts; a deadline expires it', async () => {
    const agent = await createAgent(path.join(dir, 'l1'), server.url);
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    const id = agent.state.identity()!;
    const client = new RpcClient(
      { server: server.url, timeoutS: 10 },
      { identity: id, state: new AgentState(agent.stateDir) },
    );
    const fetch = async () =>
      (
        await client.call<{ jobs: Array<{ id: number; attempt: number }> }>('agent.fetchJob', [
          { machineId: id.machineId },
        ])
      ).jobs;
    const [jobId] = server.fleet.jobs.create([id.machine], { kind: 'update', origin: 'test', maxAttempts: 2 });
    assert.deepEqual(
      (await fetch()).map((j) => [j.id, j.attempt]),
      [[jobId, 1]],
    );
    assert.deepEqual(await fetch(), [], 'under a live lease nothing is handed out');
    clock += 61_000;
    assert.deepEqual(
      (await fetch()).map((j) => [j.id, j.attempt]),
      [[jobId, 2]],
    );
    clock += 61_000;
    assert.deepEqual(await fetch(), []);
    const j = server.fleet.jobs.byId(jobId!)!;
    assert.deepEqual([j.state, j.failure], ['failed', 'attempts-exhausted']);
    const [late] = server.fleet.jobs.create([id.machine], { kind: 'update', origin: 'test', deadline: clock + 1000 });
    clock += 2000;
    assert.deepEqual(await fetch(), []);
    assert.equal(server.fleet.jobs.byId(late!)!.state, 'expired');
    await assert.rejects(
      client.call('agent.jobStarted', [{ machineId: id.machineId, id: late }]),
      (e: RpcError) => e.faultCode === faultCodes.JOB_CLOSED,
    );
    // a result that still arrives is kept, the job stays expired
    const ack = await client.call<{ state: string }>('agent.jobFinished', [
      {
        machineId: id.machineId,
        id: late,
        exitCode: 0,
        durationMs: 5,
        failure: '',
        summary: 'ok',
        transcript: '$ apt-get update',
      },
    ]);
    assert.equal(ack.state, 'expired');
    assert.deepEqual(
      [server.fleet.jobs.byId(late!)!.exitCode, server.fleet.jobs.byId(late!)!.transcript],
      [0, '$ apt-get update'],
    );
    await assert.rejects(
      client.call('agent.jobFinished', [
        { machineId: id.machineId, id: 999999, exitCode: 0, durationMs: 5, failure: '', summary: '', transcript: '' },
      ]),
      (e: RpcError) => e.faultCode === faultCodes.JOB_UNKNOWN,
    );
    await assert.rejects(
      client.call('agent.jobFinished', [
        {
          machineId: id.machineId,
          id: late,
          exitCode: 0,
          durationMs: 5,
          failure: 'made-up',
          summary: '',
          transcript: '',
        },
      ]),
      (e: RpcError) => e.faultCode === faultCodes.INVALID_PARAMS,
    );
  });

  it('over TLS when the server has a certificate: the agent verifies it with its ca_file', async () => {
    const tls = path.join(projectRoot, 'test/fixtures/tls');
    const secure = await startServer(
      testConfig(path.join(dir, 'tls-srv'), {}, (c) => {
        c.tls = { cert: path.join(tls, 'cert.pem'), key: path.join(tls, 'key.pem') };
      }),
    );
    try {
      assert.match(secure.url, /^https:/);
      const agent = await createAgent(path.join(dir, 't1'), secure.url);
      const token = secure.fleet.enrolment.createToken({ autoApprove: true }).token;
      // without the CA the certificate is refused
      assert.match((await agent.run(['enroll', '--token', token])).stderr, /self.signed|certificate/i);
      await agent.configure({ server: secure.url, extra: [`ca_file = ${path.join(tls, 'cert.pem')}`] });
      await agent.runOk(['enroll', '--token', token]);
      assert.equal(JSON.parse(await agent.runOk(['run-once', '--json'])).reported, 'full');
    } finally {
      await secure.close();
    }
  });

  it('a result reported while the server restarts is not lost, and the job is not run twice', async () => {
    // the job is a reboot whose command closes the server: the result cannot be sent and stays spooled
    const control = http.createServer((_req, res) => {
      void server.close().then(() => res.end('closed'));
    });
    await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
    const controlUrl = `http://127.0.0.1:${(control.address() as { port: number }).port}/`;
    const agent = await createAgent(path.join(dir, 'r1'), server.url);
    const script = path.join(dir, 'r1', 'reboot.mjs');
    const calls = path.join(dir, 'r1', 'reboot-calls');
    await writeFile(
      script,
      `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(calls)}, 'x');\nawait fetch(${JSON.stringify(controlUrl)}).then((r) => r.text());\n`,
    );
    await chmod(script, 0o755);
    await agent.configure({ server: server.url, extra: [`reboot_command = ${process.execPath} ${script}`] });
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    await writeFile(agent.root.target.rebootRequiredFile, '*** System restart required ***\n');
    const id = agent.state.identity()!;
    const [jobId] = server.fleet.jobs.create([id.machine], {
      kind: 'reboot',
      origin: 'test',
      policy: { allowReboot: true },
    });
    const dbFile = server.config.db;
    const r = await agent.run(['run-once']);
    assert.equal(r.code, 1, 'the server went away before the result');
    assert.deepEqual(
      agent.state.spooled().map((s) => s.id),
      [jobId],
    );
    control.close();
    server = await startServer({ ...server.config, db: dbFile }, { now: () => clock });
    await agent.configure({ server: server.url, extra: [`reboot_command = ${process.execPath} ${script}`] });
    const again = JSON.parse(await agent.runOk(['run-once', '--json'])) as { delivered: number };
    assert.equal(again.delivered, 1);
    assert.deepEqual(agent.state.spooled(), []);
    const j = server.fleet.jobs.byId(jobId!)!;
    assert.deepEqual([j.state, j.exitCode], ['succeeded', 0]);
    assert.equal(await readFile(calls, 'utf8'), 'x', 'the reboot command ran once');
  });
});
