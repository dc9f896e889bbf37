// Issue 13, a second hostile pass against the merged fixes (machine identity, enrolment rate
// limits, ...), over real HTTP against a real server on 127.0.0.1: each case is a bypass that
// was found, kept as a test.
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient, ServerFault as RpcError } from '../src/agent/client.js';
import { AgentState, type Identity } from '../src/agent/identity.js';
import { buildProgram } from '../src/cli/program.js';
import { applySetting } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import { chrootMachineId } from '../src/protocol/identity-proof.js';
import { faultCodes } from '../src/protocol/faults.js';
import { createAgent } from './helpers/agent.js';
import { aptEnv, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { request } from './helpers/http.js';
import { demo1, demo2, makeWorld, type World } from './helpers/world.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

let dir: string;
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
function enrol(s: TestServer, token: string, machineId: string, hostname?: string): Promise<Enrolled> {
  return new RpcClient({ server: s.url, timeoutS: 10 }).call<Enrolled>('agent.enroll', [
    { token, facts: facts(machineId, hostname) },
  ]);
}

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

describe('issue 13 red team: machine identity', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-redteam-'));
    server = await startServer(testConfig(path.join(dir, 'srv'), {}));
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('approving a pending machine by name never switches it to a re-enrolment slipped in meanwhile: without --code a waiting re-enrolment is refused with its code', async () => {
    // a new machine enrols with a token that is not auto-approving: pending, no code to compare
    const real = await createAgent(path.join(dir, 'pending-real'), server.url, { hostname: 'web-7' });
    await real.runOk(['enroll', '--token', server.fleet.enrolment.createToken({}).token]);
    const id = real.state.identity()!.machine;
    const before = server.fleet.machines.byId(id)!;
    assert.equal(before.status, 'pending');
    // the attack: a token holder enrols the same (world-readable) machine-id before the approval
    const r = await enrol(server, server.fleet.enrolment.createToken({}).token, real.machineId, 'web-7');
    assert.deepEqual([r.machine, r.reenrol], [id, 'pending']);
    // the administrator approves the machine that waits, as for every new machine
    await assert.rejects(
      cli('machines', 'approve', 'web-7'),
      (e) => isAptgateError(e, 'USAGE') && e.message.includes(`code ${r.code}`) && e.message.includes('--code'),
    );
    const m = server.fleet.machines.byId(id)!;
    assert.deepEqual(
      [m.secret, m.credentialVersion, m.status],
      [before.secret, 0, 'pending'],
      "the attacker's credential did not become the machine",
    );
    const attacker = signer(server, 'slipped-in', { machine: id, secret: r.secret, machineId: real.machineId });
    await assert.rejects(
      attacker.call('agent.fetchJob', [{ machineId: real.machineId }]),
      fault(faultCodes.MACHINE_PENDING),
    );
    // refused, then approved: the real machine is the one that works
    await cli('machines', 'reject', String(id));
    assert.match(await cli('machines', 'approve', 'web-7'), /web-7 \(machine \d+\): approved/);
    assert.equal(JSON.parse(await real.runOk(['run-once', '--json'])).status, 'approved');
    await assert.rejects(
      attacker.call('agent.fetchJob', [{ machineId: real.machineId }]),
      fault(faultCodes.AUTH_FAILED),
    );
  });

  it("a token holder who enrols the id the server derives for a host's LTSP chroot (host machine-id and a standard path) does not keep the chroot out", async () => {
    const host = await createAgent(path.join(dir, 'ltsp-host'), server.url, { hostname: 'ltsp-srv' });
    await host.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    const hostId = host.state.identity()!;
    // the attack: /etc/machine-id is world-readable, LTSP chroots live at /srv/ltsp/<name>
    const derived = chrootMachineId(host.machineId, '/srv/ltsp/amd64');
    const squat = await enrol(
      server,
      server.fleet.enrolment.createToken({ autoApprove: true }).token,
      derived,
      'squatter',
    );
    assert.equal(squat.status, 'approved');
    const client = signer(server, 'ltsp-host', hostId);
    const c = await client.call<{ machine: number; machineId: string; status: string }>('agent.enrollChroot', [
      { machineId: host.machineId, name: 'amd64', path: '/srv/ltsp/amd64', facts: facts(derived, 'ltsp-srv') },
    ]);
    const row = server.fleet.machines.byId(c.machine)!;
    assert.deepEqual([c.machineId, row.parentId, row.hostname], [derived, hostId.machine, 'ltsp-srv/amd64']);
    // the squatter's identity is gone
    await assert.rejects(
      signer(server, 'squatter', { machine: squat.machine, secret: squat.secret, machineId: derived }).call(
        'agent.fetchJob',
        [{ machineId: derived }],
      ),
      fault(faultCodes.AUTH_FAILED),
    );
  });
});

async function candidate(apt: AptEnv, pkg: string): Promise<string> {
  const r = await runAptOk(['policy', pkg], { apt, command: 'apt-cache' });
  return /Candidate: (\S+)/.exec(r.stdout)?.[1] ?? '';
}

describe('issue 13 red team: signed roots', () => {
  let world: World;
  before(async () => {
    world = await makeWorld({ debs: [demo1] });
  });
  after(async () => {
    await world.close();
  });

  it('a signed root dated in the future (apt: "not valid yet") is never recorded: it cannot freeze the suite against the next, correctly dated publish', async () => {
    const srv = await startServer(
      testConfig(path.join(world.dir, 'srv-future'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    const apt = await aptEnv(path.join(world.dir, 'apt-future'), {
      sources: [{ uri: `${srv.url}/fixture`, signedBy: world.key.keyring }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    try {
      await runAptOk(['update', '--error-on=any'], { apt });
      const snapshots = () => (srv.db.prepare('SELECT count(*) AS n FROM snapshot').get() as { n: number }).n;
      const count = snapshots();
      // the archive signs a Release dated a year ahead (a wrong clock): apt refuses it as not valid yet
      const future = await world.repo.publish('stable', [demo1, demo2], {
        date: new Date(Date.now() + 365 * 86_400_000),
      });
      const direct = await aptEnv(path.join(world.dir, 'apt-future-direct'), {
        sources: [{ uri: world.upstream.base, signedBy: world.key.keyring }],
        proxy: 'DIRECT',
      });
      const d = await runApt(['update', '--error-on=any'], { apt: direct });
      assert.notEqual(d.code, 0);
      assert.match(d.stdout + d.stderr, /not valid yet/);
      for (const file of ['InRelease', 'Release']) {
        const r = await request(srv.port, `/fixture/dists/stable/${file}`);
        assert.ok(
          r.status !== 200 || !r.body.equals(file === 'InRelease' ? future.inRelease : future.release),
          `${file}: the future-dated root is not served`,
        );
      }
      await runApt(['update'], { apt });
      assert.equal(snapshots(), count, 'no snapshot of the future-dated root');
      // the archive's clock is fixed: the next publish has a Date before that one, and is taken
      await world.repo.publish('stable', [demo1, demo2], { date: new Date(Date.now() - 60_000) });
      await runAptOk(['update', '--error-on=any'], { apt });
      assert.equal(await candidate(apt, 'aptgate-demo'), '2.0-1');
    } finally {
      await srv.close();
    }
  });
});

/** agent.enroll with an unknown token from a given local address: the cheapest enrolment there is. */
function junkEnrol(s: TestServer, localAddress: string): Promise<number> {
  const body =
    '<?xml version="1.0"?><methodCall><methodName>agent.enroll</methodName><params><param><value><struct>' +
    `<member><name>token</name><value><string>agt_${'x'.repeat(32)}</string></value></member><member><name>facts</name><value><struct>` +
    `<member><name>hostname</name><value><string>junk</string></value></member><member><name>machineId</name><value><string>${'0'.repeat(32)}</string></value></member>` +
    '<member><name>architecture</name><value><string>amd64</string></value></member></struct></value></member></struct></value></param></params></methodCall>';
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: s.port,
        path: '/RPC2',
        method: 'POST',
        localAddress,
        agent: false,
        headers: { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('issue 13 red team: enrolment rate limits', () => {
  let limited: TestServer;
  let limitedDir: string;
  before(async () => {
    limitedDir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-redteam-limits-'));
    limited = await startServer(
      testConfig(limitedDir, {}, (c) => {
        applySetting(c, 'fleet.enrol_limit_machine', '2/1h');
      }),
    );
  });
  after(async () => {
    await limited?.close();
    await rm(limitedDir, { recursive: true, force: true });
  });

  it('a flood of unknown-token enrolments from many addresses (one IPv6 /64 has plenty) does not reset the limit of a machine-id or a token', async () => {
    const victim = 'feed'.padEnd(32, '1');
    const token = limited.fleet.enrolment.createToken({ autoApprove: true }).token;
    assert.equal((await enrol(limited, token, victim)).reenrol, '');
    assert.equal((await enrol(limited, token, victim)).reenrol, 'pending');
    await assert.rejects(enrol(limited, token, victim), fault(faultCodes.ENROL_RATE_LIMITED));
    // the flood: more distinct client addresses than the limiter keeps keys (127.0.0.0/8 is all loopback)
    const FLOOD = 50_500;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < FLOOD; i = next++) {
        const n = 0x01000000 + i;
        assert.equal(await junkEnrol(limited, `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`), 200);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    // the machine-id's bucket is still empty: no further re-enrolment of the victim
    await assert.rejects(enrol(limited, token, victim), fault(faultCodes.ENROL_RATE_LIMITED));
  });
});
