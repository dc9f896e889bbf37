// Issue 13 (machine identity and job evidence), over real HTTP against a real server on
// 127.0.0.1 with real agents: a token holder who knows a machine-id (world-readable) cannot take
// the machine over; an agent holding its secret renews it, a forged or replayed proof does not; an
// approved re-enrolment ends the old credential and the new identity cannot report what the old
// one was leased; a host cannot claim another machine's id as an LTSP chroot; enrolments are
// rate-limited per address, per token and per machine-id.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient, ServerFault as RpcError } from '../src/agent/client.js';
import { AgentState, type Identity } from '../src/agent/identity.js';
import { buildProgram } from '../src/cli/program.js';
import { applySetting } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import { addressKey } from '../src/fleet/rate-limit.js';
import { chrootMachineId, reenrolProof } from '../src/protocol/identity-proof.js';
import { faultCodes } from '../src/protocol/faults.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

let dir: string;
const clock = Date.now();
let server: TestServer;

interface Enrolled {
  machine: number;
  secret: string;
  status: string;
  reenrol: string;
  code: string;
}

const facts = (machineId: string, hostname = 'intruder') => ({
  hostname,
  machineId,
  architecture: 'amd64',
  foreignArchitectures: [],
  distribution: 'Debian',
  codename: 'bookworm',
  kernel: '6.1.0',
  agentVersion: 'test',
});

/** agent.enroll as any client can send it (no agent, no state). */
function enrol(
  s: TestServer,
  token: string,
  machineId: string,
  extra: Record<string, unknown> = {},
): Promise<Enrolled> {
  return new RpcClient({ server: s.url, timeoutS: 10 }).call<Enrolled>('agent.enroll', [
    { token, facts: facts(machineId), ...extra },
  ]);
}

/** A client signing as `machine` with `secret`, its timestamps kept in a directory of its own. */
function signer(s: TestServer, name: string, who: { machine: number; secret: string; machineId: string }): RpcClient {
  const identity: Identity = { server: s.url, ...who };
  return new RpcClient(
    { server: s.url, timeoutS: 10 },
    { identity, state: new AgentState(path.join(dir, 'signers', name)) },
  );
}

const fault = (code: number) => (err: unknown) =>
  (err instanceof RpcError && err.faultCode === code) || assert.fail(`expected fault ${code}, got ${String(err)}`);

async function cli(...args: string[]): Promise<string> {
  let text = '';
  const program = buildProgram((t) => {
    text += t;
  });
  program.exitOverride();
  await program.parseAsync(['node', 'aptgate', ...args, '--db', server.config.db]);
  return text;
}

async function enrolled(name: string, o: { machineId?: string } = {}): Promise<{ agent: TestAgent; id: number }> {
  const agent = await createAgent(path.join(dir, name), server.url, o);
  await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
  return { agent, id: agent.state.identity()!.machine };
}

const result = (machineId: string, id: number) => ({
  machineId,
  id,
  exitCode: 0,
  durationMs: 5,
  failure: '',
  summary: 'ok',
  transcript: '',
});

describe('issue 13: machine identity and job evidence', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-identity-'));
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

  it("a token holder with a victim's machine-id gets a credential that waits for approval: the victim keeps working, the attacker gets no job and its result never counts", async () => {
    const { agent: victim, id } = await enrolled('victim');
    await victim.runOk(['run-once']);
    const before = server.fleet.machines.byId(id)!;
    server.fleet.classes.create('attackers');
    const [jobId] = server.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
    // the attack: any valid token (even an auto-approving one) and the world-readable machine-id
    const token = server.fleet.enrolment.createToken({ autoApprove: true, class: 'attackers' }).token;
    const r = await enrol(server, token, victim.machineId);
    assert.deepEqual(
      [r.machine, r.status, r.reenrol],
      [id, 'pending', 'pending'],
      'the identity is not handed over on a token alone',
    );
    assert.match(r.code, /^[0-9a-f]{8}$/);
    const attacker = signer(server, 'attacker', { machine: r.machine, secret: r.secret, machineId: victim.machineId });
    await assert.rejects(
      attacker.call('agent.fetchJob', [{ machineId: victim.machineId }]),
      fault(faultCodes.MACHINE_PENDING),
    );
    await assert.rejects(
      attacker.call('agent.jobFinished', [result(victim.machineId, jobId!)]),
      fault(faultCodes.MACHINE_PENDING),
    );
    await assert.rejects(
      attacker.call('agent.checkIn', [
        { machineId: victim.machineId, state: 'f'.repeat(64), packages: 'f'.repeat(64) },
      ]),
      fault(faultCodes.MACHINE_PENDING),
    );
    // nothing of the machine changed: secret, status, name, classes, the job
    const now = server.fleet.machines.byId(id)!;
    assert.deepEqual(
      [now.secret, now.status, now.hostname, now.credentialVersion],
      [before.secret, 'approved', before.hostname, 0],
    );
    assert.deepEqual(
      server.fleet.classes.classesOf(now).map((c) => c.name),
      [],
    );
    assert.equal(server.fleet.jobs.byId(jobId!)!.state, 'queued');
    // the real machine goes on with its own credential and runs the job
    const run = JSON.parse(await victim.runOk(['run-once', '--json'])) as {
      status: string;
      jobs: Array<{ id: number; failure?: string }>;
    };
    assert.equal(run.status, 'approved');
    assert.deepEqual(
      run.jobs.map((j) => [j.id, j.failure ?? null]),
      [[jobId, null]],
    );
    const job = server.fleet.jobs.byId(jobId!)!;
    assert.deepEqual([job.state, job.leaseCredentialVersion], ['succeeded', 0]);
    // the administrator sees the re-enrolment, with where it came from, and refuses it
    const list = await cli('machines', 'list');
    assert.match(
      list,
      new RegExp(
        `RE-ENROL\\?: machine ${id} \\(${before.hostname}\\) was enrolled again on a token alone \\(code ${r.code}, from 127\\.0\\.0\\.1, as intruder\\)`,
      ),
    );
    const shown = JSON.parse(await cli('machines', 'show', String(id), '--json')) as {
      machine: { reenrolment: { code: string; from: string; hostname: string } };
    };
    assert.deepEqual(
      shown.machine.reenrolment && [
        shown.machine.reenrolment.code,
        shown.machine.reenrolment.from,
        shown.machine.reenrolment.hostname,
      ],
      [r.code, '127.0.0.1', 'intruder'],
    );
    assert.match(
      await cli('machines', 'list', '--pending'),
      new RegExp(`^${id}\\s`, 'm'),
      'listed among what waits for the administrator',
    );
    assert.match(
      await cli('machines', 'reject', String(id)),
      new RegExp(`re-enrolment \\(code ${r.code}, from 127\\.0\\.0\\.1\\) refused`),
    );
    await assert.rejects(
      attacker.call('agent.fetchJob', [{ machineId: victim.machineId }]),
      fault(faultCodes.AUTH_FAILED),
    );
    assert.equal(JSON.parse(await victim.runOk(['run-once', '--json'])).status, 'approved');
  });

  it('an agent holding its secret renews it at once with a proof; a forged or replayed proof gets only a waiting credential', async () => {
    const { agent, id } = await enrolled('renew');
    const old = agent.state.identity()!;
    const token = server.fleet.enrolment.createToken({}).token;
    // the real agent proves its secret: same machine, new secret, still approved, no waiting
    const out = JSON.parse(await agent.runOk(['enroll', '--token', token, '--json'])) as {
      machine: number;
      status: string;
      reenrol: string;
    };
    assert.deepEqual([out.machine, out.status, out.reenrol], [id, 'approved', 'proven']);
    const renewed = agent.state.identity()!;
    assert.notEqual(renewed.secret, old.secret);
    assert.equal(server.fleet.machines.pendingReenrol(id), undefined);
    assert.equal(
      server.fleet.machines.byId(id)!.credentialVersion,
      0,
      'the same identity: what it was leased stays its own',
    );
    await assert.rejects(
      signer(server, 'renew-old', old).call('agent.fetchJob', [{ machineId: old.machineId }]),
      fault(faultCodes.AUTH_FAILED),
    );
    // a proof made with a wrong secret, and a proof replayed, take nothing over
    const forged = reenrolProof('not-the-secret', id, agent.machineId, Date.now() + 1000, token);
    const f = await enrol(server, token, agent.machineId, { proof: forged });
    assert.deepEqual([f.status, f.reenrol], ['pending', 'pending']);
    const ts = Date.now() + 2000;
    const proof = reenrolProof(renewed.secret, id, agent.machineId, ts, token);
    assert.equal((await enrol(server, token, agent.machineId, { proof })).reenrol, 'proven');
    assert.equal((await enrol(server, token, agent.machineId, { proof })).reenrol, 'pending', 'the same proof again');
    // bound to its token: the proof does not work with another
    const other = server.fleet.enrolment.createToken({}).token;
    const moved = reenrolProof(renewed.secret, id, agent.machineId, ts + 1000, token);
    assert.equal((await enrol(server, other, agent.machineId, { proof: moved })).reenrol, 'pending');
    server.fleet.enrolment.reject(id);
  });

  it('an approved re-enrolment (a reinstalled machine) ends the old credential; a job leased to the old identity is refused from the new one (fault 14), handed out again and counted only from its new lease', async () => {
    const { agent, id } = await enrolled('reinstall');
    await agent.runOk(['run-once']);
    const old = agent.state.identity()!;
    const [jobId] = server.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
    const oldClient = signer(server, 'reinstall-old', old);
    const { jobs } = await oldClient.call<{ jobs: Array<{ id: number }> }>('agent.fetchJob', [
      { machineId: old.machineId },
    ]);
    assert.deepEqual(
      jobs.map((j) => j.id),
      [jobId],
    );
    // reinstalled: the agent lost its state and enrols on a token alone
    agent.state.forgetIdentity();
    const printed = await agent.runOk([
      'enroll',
      '--token',
      server.fleet.enrolment.createToken({ autoApprove: true }).token,
    ]);
    const code = /re-enrolment code ([0-9a-f]{8})/.exec(printed)?.[1];
    assert.ok(code, printed);
    assert.match(printed, new RegExp(`aptgate machines approve ${id}`));
    const waiting = JSON.parse(await agent.runOk(['run-once', '--json'])) as { status: string };
    assert.equal(waiting.status, 'pending', 'the agent waits like a new machine');
    // the administrator compares the code the agent printed
    await assert.rejects(cli('machines', 'approve', String(id), '--code', '00000000'), (e) =>
      isAptgateError(e, 'USAGE'),
    );
    assert.match(await cli('machines', 'approve', String(id), '--code', code), /re-enrolment approved/);
    const m = server.fleet.machines.byId(id)!;
    assert.deepEqual([m.credentialVersion, m.secret, m.status], [1, agent.state.identity()!.secret, 'approved']);
    await assert.rejects(
      oldClient.call('agent.checkIn', [{ machineId: old.machineId, state: 'f'.repeat(64), packages: 'f'.repeat(64) }]),
      fault(faultCodes.AUTH_FAILED),
    );
    // the new identity cannot report what the old one was handed: refused, never evidence
    const fresh = signer(server, 'reinstall-new', agent.state.identity()!);
    await assert.rejects(
      fresh.call('agent.jobFinished', [result(agent.machineId, jobId!)]),
      fault(faultCodes.JOB_NOT_LEASED),
    );
    await assert.rejects(
      fresh.call('agent.jobStarted', [{ machineId: agent.machineId, id: jobId }]),
      fault(faultCodes.JOB_NOT_LEASED),
    );
    assert.equal(server.fleet.jobs.byId(jobId!)!.state, 'delivered');
    // the old lease ended at the switch: the job goes to the new identity, whose result counts
    const run = JSON.parse(await agent.runOk(['run-once', '--json'])) as {
      jobs: Array<{ id: number; failure?: string }>;
    };
    assert.deepEqual(
      run.jobs.map((j) => [j.id, j.failure ?? null]),
      [[jobId, null]],
    );
    const job = server.fleet.jobs.byId(jobId!)!;
    assert.deepEqual([job.state, job.leaseCredentialVersion, job.attempts], ['succeeded', 1, 2]);
  });

  it("a host cannot claim another machine's id as an LTSP chroot: the server derives a chroot's id from the host and the path; the real machine enrols normally later", async () => {
    const { agent: host, id: hostId } = await enrolled('ltsp-host');
    const hostIdentity = host.state.identity()!;
    const client = signer(server, 'ltsp-host', hostIdentity);
    const victimId = 'c0ffee'.padEnd(32, '7');
    for (const claim of [victimId, chrootMachineId(hostIdentity.machineId, '/srv/ltsp/other')]) {
      await assert.rejects(
        client.call('agent.enrollChroot', [
          { machineId: host.machineId, name: 'amd64', path: '/srv/ltsp/amd64', facts: facts(claim, 'ltsp-host') },
        ]),
        fault(faultCodes.CLONE_DETECTED),
        claim,
      );
    }
    assert.equal(server.fleet.machines.byMachineId(victimId), undefined);
    // the derived id enrols (the agent sends it; the server says which it is)
    const derived = chrootMachineId(host.machineId, '/srv/ltsp/amd64');
    const c = await client.call<{ machine: number; machineId: string; status: string }>('agent.enrollChroot', [
      { machineId: host.machineId, name: 'amd64', path: '/srv/ltsp/amd64', facts: facts(derived, 'ltsp-host') },
    ]);
    assert.deepEqual(
      [c.machineId, c.status, server.fleet.machines.byId(c.machine)!.parentId],
      [derived, 'approved', hostId],
    );
    // the machine whose id the host tried to claim enrols as itself
    const { agent: real, id: realId } = await enrolled('claimed', { machineId: victimId });
    assert.equal(server.fleet.machines.byId(realId)!.parentId, null);
    assert.equal(JSON.parse(await real.runOk(['run-once', '--json'])).status, 'approved');
  });
});

describe('issue 13: enrolment rate limits', () => {
  let limited: TestServer;
  let limitedDir: string;
  before(async () => {
    limitedDir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-enrol-limits-'));
    limited = await startServer(
      testConfig(limitedDir, {}, (c) => {
        applySetting(c, 'fleet.enrol_limit_address', '10/1h');
        applySetting(c, 'fleet.enrol_limit_token', '3/1h');
        applySetting(c, 'fleet.enrol_limit_machine', '2 / 30m');
      }),
    );
  });
  after(async () => {
    await limited?.close();
    await rm(limitedDir, { recursive: true, force: true });
  });

  it('the settings parse and refuse nonsense', () => {
    const c = testConfig(path.join(limitedDir, 'x'), {});
    assert.deepEqual(c.fleet.enrolLimits.address, { count: 100, windowMs: 3_600_000 });
    applySetting(c, 'fleet.enrol_limit_token', 'off');
    assert.equal(c.fleet.enrolLimits.token.count, 0);
    for (const bad of ['ten/1h', '10', '10/soon', '10/10ms', '-1/1h']) {
      assert.throws(
        () => applySetting(c, 'fleet.enrol_limit_address', bad),
        (e) => isAptgateError(e, 'CONFIG_INVALID'),
        bad,
      );
    }
  });

  it('per token, per machine-id and per address: fault 13, and a refused enrolment changes nothing', async () => {
    const id = (n: number) => n.toString(16).padStart(32, 'b');
    const t1 = limited.fleet.enrolment.createToken({ autoApprove: true });
    for (let n = 1; n <= 3; n++) assert.equal((await enrol(limited, t1.token, id(n))).status, 'approved');
    await assert.rejects(enrol(limited, t1.token, id(4)), fault(faultCodes.ENROL_RATE_LIMITED));
    assert.equal(limited.fleet.machines.byMachineId(id(4)), undefined);
    assert.equal(limited.fleet.machines.tokenById(t1.id)!.uses, 3);
    // one machine-id: enrolled, enrolled again (waits), then refused
    const t2 = limited.fleet.enrolment.createToken({ autoApprove: true }).token;
    assert.equal((await enrol(limited, t2, id(5))).reenrol, '');
    assert.equal((await enrol(limited, t2, id(5))).reenrol, 'pending');
    await assert.rejects(enrol(limited, t2, id(5)), fault(faultCodes.ENROL_RATE_LIMITED));
    // this address has made 7 attempts; unknown tokens count too
    for (let n = 0; n < 3; n++)
      await assert.rejects(enrol(limited, 'agt_' + 'x'.repeat(32), id(6)), fault(faultCodes.TOKEN_INVALID));
    const agent = await createAgent(path.join(limitedDir, 'late'), limited.url);
    const r = await agent.run(['enroll', '--token', limited.fleet.enrolment.createToken({ autoApprove: true }).token]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /too many enrolments from 127\.0\.0\.1 \(at most 10 per 1h\): try again in \d+ s \(fault 13\)/,
    );
    assert.equal(limited.fleet.machines.byMachineId(agent.machineId), undefined);
    assert.equal(agent.state.identity(), undefined);
    // the other agent calls are not enrolments: an enrolled machine goes on
    const first = limited.fleet.machines.byMachineId(id(1))!;
    const c = new RpcClient(
      { server: limited.url, timeoutS: 10 },
      {
        identity: { server: limited.url, machine: first.id, secret: first.secret, machineId: id(1) },
        state: new AgentState(path.join(limitedDir, 'first')),
      },
    );
    assert.deepEqual({ ...(await c.call<object>('agent.fetchJob', [{ machineId: id(1) }])) }, { jobs: [] });
  });
});

describe('issue 13: the per machine-id enrolment limit', () => {
  let srv: TestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-enrol-proof-'));
    srv = await startServer(testConfig(dir, {}, (c) => applySetting(c, 'fleet.enrol_limit_machine', '2/1h')));
  });
  after(async () => {
    await srv?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a token holder using up a machine-id's allowance does not block the real machine: a proof of its secret still renews it", async () => {
    const victimId = 'c'.repeat(32);
    const t = () => srv.fleet.enrolment.createToken({ autoApprove: true }).token;
    const first = await enrol(srv, t(), victimId);
    // the token holder re-enrols the victim's id until the machine-id allowance is used up
    assert.equal((await enrol(srv, t(), victimId)).reenrol, 'pending');
    await assert.rejects(enrol(srv, t(), victimId), fault(faultCodes.ENROL_RATE_LIMITED));
    const before = srv.fleet.machines.byId(first.machine)!;
    const tok = t();
    const renewed = await enrol(srv, tok, victimId, {
      proof: reenrolProof(first.secret, first.machine, victimId, Date.now() + 1000, tok),
    });
    assert.deepEqual([renewed.machine, renewed.status, renewed.reenrol], [first.machine, 'approved', 'proven']);
    assert.notEqual(srv.fleet.machines.byId(first.machine)!.secret, before.secret);
    // a forged proof is still limited
    await assert.rejects(
      enrol(srv, t(), victimId, { proof: reenrolProof('wrong', first.machine, victimId, Date.now() + 2000, tok) }),
      fault(faultCodes.ENROL_RATE_LIMITED),
    );
  });
});

describe('issue 13: the per-address enrolment limit groups an IPv6 /64', () => {
  let srv: TestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-enrol-v6-'));
    srv = await startServer(testConfig(dir, {}, (c) => applySetting(c, 'fleet.enrol_limit_address', '2/1h')));
  });
  after(async () => {
    await srv?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('addresses of one /64 share an allowance; another /64 and IPv4 (also IPv4-mapped) are their own', () => {
    assert.equal(addressKey('2001:db8:1:2::a'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0DB8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    const token = () => srv.fleet.enrolment.createToken({ autoApprove: true }).token;
    const enrolFrom = (client: string, n: number) =>
      srv.fleet.enrolment.enrol(token(), facts(n.toString(16).padStart(32, 'd')), { client });
    enrolFrom('2001:db8:1:2::1', 1);
    enrolFrom('2001:db8:1:2::2', 2);
    // a third address of the same /64 (rotating addresses gains nothing)
    assert.throws(
      () => enrolFrom('2001:db8:1:2:aaaa::3', 3),
      (e) => e instanceof Error && /too many enrolments from 2001:db8:1:2::\/64/.test(e.message),
    );
    assert.equal(srv.fleet.machines.byMachineId((3).toString(16).padStart(32, 'd')), undefined);
    enrolFrom('2001:db8:1:3::1', 4);
    enrolFrom('::ffff:192.0.2.7', 5);
    enrolFrom('192.0.2.7', 6);
    assert.throws(() => enrolFrom('192.0.2.7', 7), /too many enrolments from 192\.0\.2\.7/);
  });
});
