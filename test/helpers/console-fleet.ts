// A small real fleet for the console's browser tests and its screenshots: a fixture upstream, an
// aptgate server (with the users alice/oscar/vera), the release gate's two stages with a class
// each, real agents in their own roots (apt and dpkg for real), and a few machines enrolled over
// /RPC2 alone (one waiting for approval). After `publishV2()` the test machine sees new versions
// that production does not; once they are promoted, production keeps `libapp` back: its
// installed `app` needs exactly the old version (apt-get upgrade keeps libapp back, "blocked" by
// app). The test machine has no `app` (a package kept back there would keep its gate closed).
import path from 'node:path';
import { buildProgram } from '../../src/cli/program.js';
import { createAgent, type TestAgent } from './agent.js';
import { addTestUsers } from './api.js';
import { aptEnv, type AptEnv } from './apt.js';
import type { DebSpec } from './debs.js';
import { enrolOverHttp, type Enrolled } from './reports.js';
import { startServer, testConfig, type TestServer } from './server.js';
import { makeWorld, type World } from './world.js';
import { settled, upstreamSeenBy } from './settle.js';

const deb = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({
  name,
  version,
  arch: 'all',
  ...more,
});
/** what the machines install */
export const V1 = [
  deb('demo', '1.0-1'),
  deb('other', '1.0-1'),
  deb('app', '1.0-1', { depends: 'libapp (= 1.0-1)' }),
  deb('libapp', '1.0-1'),
];
/** upstream's next generation: app stays at 1.0-1, so libapp 2.0-1 is kept back */
export const V2 = [deb('demo', '2.0-1'), deb('other', '2.0-1'), deb('libapp', '2.0-1')];

export interface ConsoleFleet {
  dir: string;
  world: World;
  server: TestServer;
  /** the test stage's machine (class qa, its passing upgrade opens the gate) */
  qa: TestAgent;
  /** production machines (class prod) */
  prod: TestAgent[];
  /** enrolled over /RPC2 alone: `pending` waits for approval, `lab` is approved and never reported */
  pending: Enrolled;
  lab: Enrolled;
  /** upstream publishes V2; every agent updates and reports */
  publishV2(): Promise<void>;
  /** upstream publishes these (its whole suite); the server sees them; every agent updates and reports */
  publish(debs: DebSpec[]): Promise<void>;
  /** an update and an upgrade job on the test machine, run by its agent (as a schedule would) */
  upgradeOnQa(): Promise<Array<{ id: number; failure?: string }>>;
  /** every agent checks in (reports) */
  checkIn(): Promise<void>;
  /** the indexer, the gate and the outdated calculation have caught up */
  settle(): Promise<void>;
  /** `aptgate ARGS --json` on the server's database (the command line on the server host) */
  cliJson<T = unknown>(...args: string[]): Promise<T>;
  close(): Promise<void>;
}

export async function makeConsoleFleet(o: { prodMachines?: number; now?: () => number } = {}): Promise<ConsoleFleet> {
  const world = await makeWorld({ debs: V1 });
  const dir = world.dir;
  let server: TestServer | undefined;
  try {
    server = await startServer(
      testConfig(path.join(dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
      o.now ? { now: o.now } : {},
    );
    const srv = server;
    await addTestUsers(srv.services);
    const observer: AptEnv = await aptEnv(path.join(dir, 'observer'), {
      sources: [{ uri: `${srv.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    const settle = async () => {
      await settled(srv);
      // the per-client counts are written every 5 s: now, so that every reader sees the same
      srv.proxy.clients.flush();
    };
    const upstreamSeen = async () => {
      await upstreamSeenBy(srv, observer, 'fixture', ['stable']);
      srv.proxy.clients.flush();
    };
    await upstreamSeen();
    const ladder = srv.config.gate.stages;
    for (const [name, stage, gate] of [
      ['qa', 'test', true],
      ['prod', 'production', false],
    ] as const) {
      srv.fleet.classes.create(name);
      srv.fleet.classes.bindStage(name, stage, gate, ladder);
    }
    const token = (cls: string, autoApprove: boolean) =>
      srv.fleet.enrolment.createToken({ class: cls, autoApprove }).token;
    const hosts = ['qa-1', ...Array.from({ length: o.prodMachines ?? 1 }, (_, i) => `prod-${i + 1}`)];
    const agents = await Promise.all(
      hosts.map(async (hostname) => {
        const a = await createAgent(path.join(dir, hostname), srv.url, { hostname });
        await a.runOk(['enrol', '--token', token(hostname.startsWith('qa') ? 'qa' : 'prod', true)]);
        const names = V1.map((d) => d.name).filter((n) => n !== 'app' || !hostname.startsWith('qa'));
        const r = await a.root.apt(['install', '-y', ...names]);
        if (r.code !== 0) throw new Error(`${hostname}: apt-get install failed:\n${r.output}`);
        await a.runOk(['run-once']);
        return a;
      }),
    );
    const [qa, ...prod] = agents as [TestAgent, ...TestAgent[]];
    const pending = await enrolOverHttp(srv.url, token('prod', false), 'new-laptop');
    const lab = await enrolOverHttp(srv.url, token('prod', true), 'lab-7');
    await settle();

    const checkIn = async () => {
      for (const a of agents) {
        const r = await a.root.apt(['update', '--error-on=any']);
        if (r.code !== 0) throw new Error(`apt-get update failed:\n${r.output}`);
        await a.runOk(['run-once']);
      }
      await settle();
    };
    const publish = async (debs: DebSpec[]) => {
      await world.repo.publish('stable', debs);
      await upstreamSeen();
      await checkIn();
    };
    return {
      dir,
      world,
      server: srv,
      qa,
      prod,
      pending,
      lab,
      settle,
      checkIn,
      publish,
      publishV2: () => publish([...V1, ...V2]),
      upgradeOnQa: async () => {
        const id = qa.state.identity()!.machine;
        srv.fleet.jobs.create([id], { kind: 'update', origin: 'test' });
        srv.fleet.jobs.create([id], { kind: 'upgrade', origin: 'test' });
        const r = JSON.parse(await qa.runOk(['run-once', '--json'])) as {
          jobs: Array<{ id: number; failure?: string }>;
        };
        await settle();
        return r.jobs;
      },
      cliJson: async <T>(...args: string[]) => {
        let printed = '';
        const program = buildProgram((t) => {
          printed += t;
        });
        program.exitOverride();
        await program.parseAsync([
          'node',
          'aptgate',
          ...args,
          '--json',
          '--db',
          srv.config.db,
          '--cache-dir',
          srv.config.cacheDir,
        ]);
        return JSON.parse(printed) as T;
      },
      close: async () => {
        await srv.close();
        await world.close();
      },
    };
  } catch (err) {
    await server?.close();
    await world.close();
    throw err;
  }
}
