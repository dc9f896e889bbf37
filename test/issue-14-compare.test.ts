// Issue 14: `machines show` compares the server's outdated answer with the machine's own apt
// whenever both are known. Reproduces the report: the server had read a new InRelease of the
// suite but not yet indexed its Packages when the machine reported (no comparison then); the
// Packages were indexed later and the next run-once only checked in (state unchanged), so the
// comparison stayed "not compared yet" while the server showed more outdated than apt. Real
// server, real agent running real apt and dpkg in its own root, real signed repository.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CollectedExtras } from '../src/agent/types.js';
import { buildProgram } from '../src/cli/program.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { request } from './helpers/http.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';

const gen1 = [
  { name: 'alpha', version: '1.0-1' },
  { name: 'alpha', version: '2.0-1' },
  { name: 'beta', version: '1.0-1' },
  { name: 'gamma', version: '1.0-1', arch: 'all' },
];
// the next generation: beta 2.0-1, and gamma leaves Architecture: all
const gen2 = [...gen1, { name: 'beta', version: '2.0-1' }, { name: 'gamma', version: '2.0-1' }];

let world: World;
let server: TestServer;
let agent: TestAgent;

async function cli(...args: string[]): Promise<string> {
  let text = '';
  const program = buildProgram((s) => {
    text += s;
  });
  program.exitOverride();
  await program.parseAsync([
    'node',
    'aptgate',
    ...args,
    '--db',
    server.config.db,
    '--backend',
    `fixture=${world.upstream.base}`,
  ]);
  return text;
}

interface Side {
  package: string;
  architecture: string;
  installed: string;
  candidate: string;
  cause?: string;
}
interface Show {
  report: {
    aptUpgradable: number;
    disagreements: null | { onlyApt: string[]; onlyServer: string[] };
    comparison: null | {
      apt: number;
      server: number;
      same: number;
      onlyApt: Side[];
      onlyServer: Side[];
      different: unknown[];
      causes: string[];
    };
  };
  outdated: { known: boolean; counts: { outdated: number } | null };
}

describe("issue 14: machines show compares the server with the machine's apt once both are known", () => {
  before(async () => {
    world = await makeWorld({ debs: gen1 });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    agent = await createAgent(path.join(world.dir, 'web-1'), server.url, {
      hostname: 'web-1',
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
    });
    for (const args of [
      ['update', '--error-on=any'],
      ['install', '-y', 'alpha=1.0-1', 'beta=1.0-1', 'gamma=1.0-1'],
    ]) {
      const r = await agent.root.apt(args);
      assert.equal(r.code, 0, r.output);
    }
    await server.proxy.indexer.idle();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it("a report made while the server's view was being indexed is compared later, with the difference and its cause", async () => {
    // upstream publishes beta 2.0-1 and gamma 2.0-1; the server reads the new InRelease (another
    // client asked for it) and starts fetching its Packages, which take their time (held here):
    // the machine's lists are still the previous generation
    await world.repo.publish('stable', gen2);
    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      world.upstream.fault(
        (p) => p.includes('dists/stable/main/binary-amd64/'),
        {
          kind: 'gate',
          until: new Promise((r) => {
            release = r;
          }),
          reached: resolve,
        },
        1,
      );
    });
    const rel = await request(server.port, '/fixture/dists/stable/InRelease');
    assert.equal(rel.status, 200);
    await reached;
    await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
    const first = JSON.parse(await agent.runOk(['run-once', '--json'])) as { reported: string };
    assert.equal(first.reported, 'full');
    await server.outdated.idle();
    let show = JSON.parse(await cli('machines', 'show', 'web-1', '--json')) as Show;
    assert.equal(show.outdated.known, false, 'the new snapshot is not indexed yet');
    assert.equal(show.report.comparison, null);
    assert.match(
      await cli('machines', 'show', 'web-1'),
      /server vs apt {2}not compared: the server's answer is unknown \(the Packages of fixture\/stable \(amd64\) are not indexed yet\)/,
    );

    // now its Packages come through and are indexed, and the machine runs again: nothing changed
    // on it, so it only checks in (no report, nothing the server would compare after)
    release();
    const snapshot = server.proxy.snapshots.latest('fixture', 'stable', 'inrelease')!.id;
    await waitFor(() => server.proxy.packageIndex.isLinked(snapshot, 'main', 'amd64'), 'the new Packages indexed');
    const second = JSON.parse(await agent.runOk(['run-once', '--json'])) as { reported: string };
    assert.equal(second.reported, 'no');

    show = JSON.parse(await cli('machines', 'show', 'web-1', '--json')) as Show;
    assert.equal(show.outdated.counts?.outdated, 3, 'alpha, beta and gamma');
    assert.equal(show.report.aptUpgradable, 1, "alpha only: the machine's lists are the first generation");
    const c = show.report.comparison!;
    assert.ok(c, 'compared');
    assert.deepEqual([c.server, c.apt, c.same], [3, 1, 1]);
    assert.deepEqual(c.onlyApt, []);
    assert.deepEqual(c.different, []);
    // gamma: installed Architecture: all, as the machine's apt would name it
    assert.deepEqual(
      c.onlyServer.map((x) => [x.package, x.architecture, x.installed, x.candidate]),
      [
        ['beta', 'amd64', '1.0-1', '2.0-1'],
        ['gamma', 'all', '1.0-1', '2.0-1'],
      ],
    );
    // why: with the snapshot before, the server answers what the machine's apt answered
    assert.ok(
      c.onlyServer.every((x) => /earlier snapshot of fixture\/stable/.test(x.cause ?? '')),
      JSON.stringify(c.onlyServer),
    );
    assert.equal(c.causes.length, 1);
    assert.match(
      c.causes[0]!,
      /^2 of the 2 differences are the server's answer with its earlier snapshot of fixture\/stable \(signed \S+\): the machine's apt/,
    );
    assert.deepEqual(
      { ...show.report.disagreements, checkedAt: null },
      { onlyApt: [], onlyServer: ['beta 2.0-1', 'gamma 2.0-1'], checkedAt: null },
    );

    const human = await cli('machines', 'show', 'web-1');
    assert.match(
      human,
      /^ {2}server vs apt {2}DIFFER on 2 packages: the server finds 3 outdated, the machine's apt 1; 1 the same$/m,
    );
    assert.match(human, /^ {6}beta:amd64 1\.0-1 → 2\.0-1 {2}\(older lists\)$/m);
    assert.match(
      human,
      /^ {4}why: 2 of the 2 differences are the server's answer with its earlier snapshot of fixture\/stable/m,
    );
    assert.match(human, /aptgate jobs add update --to web-1/);
    const list = JSON.parse(await cli('machines', 'list', '--json')) as {
      machines: Array<{ hostname: string; disagreements: number | null }>;
    };
    assert.equal(list.machines.find((m) => m.hostname === 'web-1')!.disagreements, 2);

    // after an apt update on the machine, its report agrees with the server
    assert.equal((await agent.root.apt(['update', '--error-on=any'])).code, 0);
    assert.equal(
      (JSON.parse(await agent.runOk(['run-once', '--json'])) as { reported: string }).reported !== 'no',
      true,
    );
    show = JSON.parse(await cli('machines', 'show', 'web-1', '--json')) as Show;
    assert.deepEqual(
      [show.report.comparison!.server, show.report.comparison!.apt, show.report.comparison!.same],
      [3, 3, 3],
    );
    assert.match(
      await cli('machines', 'show', 'web-1'),
      /^ {2}server vs apt {2}agree: both list the same 3 packages$/m,
    );
  });

  it('a source the machine reads around this server is named as what the server cannot see; nothing is claimed without evidence', async () => {
    // a second machine with web-1's packages whose apt also reads a vendor repository directly
    const web1 = server.fleet.machines.byHostname('web-1')[0]!;
    const hash = server.profiles.byId(web1.profileId!)!.sha256;
    const facts = {
      ...(JSON.parse(web1.facts) as Record<string, unknown>),
      hostname: 'web-2',
      machineId: 'b'.repeat(32),
    } as Parameters<typeof server.fleet.enrol>[1];
    const id = server.fleet.enrol(server.fleet.enrolment.createToken({ autoApprove: true }).token, facts).machine;
    const extras = JSON.parse(server.fleet.machines.report(web1.id)!.extras) as CollectedExtras;
    extras.sources = [
      ...extras.sources,
      { path: '/etc/apt/sources.list.d/vendor.list', content: 'deb http://vendor.example.org/apt stable main\n' },
    ];
    extras.aptUpgradable = [
      ...extras.aptUpgradable,
      { package: 'vendortool', architecture: 'amd64', installed: '1.0', candidate: '2.0', security: false },
    ];
    await server.fleet.report(id, {
      machineId: facts.machineId,
      state: 'c'.repeat(64),
      packages: { hash },
      extras,
      serverHost: `127.0.0.1:${server.port}`,
    });
    const show = JSON.parse(await cli('machines', 'show', 'web-2', '--json')) as Show;
    const c = show.report.comparison!;
    assert.deepEqual([c.server, c.apt, c.same], [3, 4, 3]);
    assert.deepEqual(
      c.onlyApt,
      [{ package: 'vendortool', architecture: 'amd64', installed: '1.0', candidate: '2.0' }],
      'no cause of its own: the server cannot know it',
    );
    assert.deepEqual(c.causes, [
      "the machine's apt also reads http://vendor.example.org/apt stable, not through this server: the server's view lacks what it offers",
    ]);
    assert.match(
      await cli('machines', 'show', 'web-2'),
      /^ {4}why: the machine's apt also reads http:\/\/vendor\.example\.org\/apt stable, not through this server/m,
    );
  });
});
