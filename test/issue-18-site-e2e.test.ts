// Issue 18 end to end: a central aptgate over the fixture upstream and a site cache joined to it
// with the real command line (`aptgate site join`, `aptgate sites set`), in site mode. Real
// agents enrolled with the central server, their apt going through the site: two with the
// backend in their sources, one in a class bound to the gate's `test` stage (its stage sources
// name the site, verified with the central key). The central server still knows what every
// machine would install (their sources name the site), and after upstream moves on the site
// pre-loads exactly the .debs its machines' upgrades download, which its clients then get from
// its cache.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryContext } from '../src/assembly/queries.js';
import { machineOutdated } from '../src/fleet/queries/machines.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import type { Published } from './helpers/repo.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { settled, upstreamSeenBy } from './helpers/settle.js';
import { debOf, makeWorld, MiB, type World } from './helpers/world.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));
const deb = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({
  name,
  version,
  arch: 'all',
  ...more,
});
const v1 = [deb('alpha', '1.0-1'), deb('beta', '1.0-1'), deb('delta', '1.0-1'), deb('bulky', '1.0-1')];
const v2 = [
  deb('alpha', '2.0-1'),
  deb('beta', '2.0-1'),
  deb('delta', '2.0-1'),
  deb('bulky', '2.0-1', { payloadBytes: MiB }),
];
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function cli(args: string[]): Promise<string> {
  const r = await exec(process.execPath, [CLI, ...args], { env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

describe('issue 18: a site cache end to end, from joining to pre-loading', () => {
  let world: World;
  let central: TestServer;
  let site: TestServer;
  let observer: AptEnv;
  let gen2: Published;
  const agents: Record<string, TestAgent> = {};
  // the site: the same backend as the central server (upstream's URL and Debian's keyring), in site mode
  const startSite = (port = 0) => {
    const siteDir = path.join(world.dir, 'site');
    return startServer(
      testConfig(siteDir, { fixture: world.backend }, (c) => {
        c.stateDir = siteDir;
        c.site.parent = central.url;
        c.site.parentKey = path.join(siteDir, 'site', 'parent-key.gpg');
        c.proxy.releaseTtlMs = 0;
      }),
      { port },
    );
  };

  before(async () => {
    world = await makeWorld({ debs: v1 });
    central = await startServer(
      testConfig(path.join(world.dir, 'central'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${central.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeenBy(central, observer, 'fixture', ['stable']);
    central.fleet.classes.create('qa');
    central.fleet.classes.bindStage('qa', 'test', true, central.config.gate.stages);
  });
  after(async () => {
    await site?.close();
    await central?.close();
    await world?.close();
  });

  it('joins with the command line, serves its machines in both forms, and the central server still knows them', async () => {
    const siteDir = path.join(world.dir, 'site');
    const { fingerprint } = await central.gate.exportKey(true);
    const token = JSON.parse(await cli(['sites', 'token', '--name', 'north', '--json', '--db', central.config.db])) as {
      token: string;
    };
    await cli([
      'site',
      'join',
      '--parent',
      central.url,
      '--token',
      token.token,
      '--fingerprint',
      fingerprint,
      '--state-dir',
      siteDir,
    ]);
    // the site: the same backend as the central server (upstream's URL and Debian's keyring), in site mode
    site = await startSite();
    await cli(['sites', 'set', 'north', '--networks', '127.0.0.1/32', '--url', site.url, '--db', central.config.db]);

    const plain = [{ uri: `${site.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }];
    for (const [name, cls, install] of [
      ['web-1', undefined, ['alpha', 'bulky']],
      ['web-2', undefined, ['alpha', 'beta']],
      ['qa-1', 'qa', ['alpha']],
    ] as const) {
      const a = await createAgent(path.join(world.dir, name), central.url, {
        hostname: name,
        ...(cls ? {} : { sources: plain }),
      });
      agents[name] = a;
      const t = central.fleet.enrolment.createToken({ autoApprove: true, ...(cls ? { class: cls } : {}) }).token;
      await a.runOk(['enrol', '--token', t]);
      if (!cls) assert.equal((await a.root.apt(['update', '--error-on=any'])).code, 0);
      const r = await a.root.apt(['install', '-y', ...install]);
      assert.equal(r.code, 0, r.output);
      await a.runOk(['run-once']);
    }
    // the stage's sources name the site (its machine is in the site's network): apt read them there
    const sources = await readFile(
      path.join(agents['qa-1']!.root.root, 'etc/apt/sources.list.d/aptgate.sources'),
      'utf8',
    );
    assert.match(sources, new RegExp(`${site.url}/stage/test/fixture`));
    assert.ok(site.proxy.backends.named('stage/test/fixture'), 'the site serves the central stage');
    await settled(central);
    // sources that name the site are the central server's backends and stages: it knows what each would install
    const ctx = queryContext(central.services);
    for (const a of Object.values(agents)) {
      const o = machineOutdated(ctx, central.fleet.machines.byId(a.state.identity()!.machine)!);
      assert.ok(o.known, `${a.dir}: ${o.reason}`);
    }
  });

  it('after upstream moves on, the site pre-loads exactly what its machines will download; upgrades read its cache', async () => {
    gen2 = await world.repo.publish('stable', [...v1, ...v2]);
    await upstreamSeenBy(central, observer, 'fixture', ['stable']);
    for (const a of Object.values(agents)) await a.runOk(['run-once']);
    await settled(central);

    // restarted meanwhile: the central's stage is no longer a pair the site has served since its start
    const port = site.port;
    await site.close();
    site = await startSite(port);
    assert.equal(site.proxy.backends.named('stage/test/fixture'), undefined);
    await site.services.reportToParent();
    const preloader = site.services.preloader()!;
    await waitFor(() => ['done', 'failed'].includes(preloader.progress().state), 'the pre-loading ended');
    const p = preloader.progress();
    assert.equal(p.state, 'done', p.last_error ?? '');
    const at = (name: string, view?: string) =>
      `${view ? `/stage/${view}` : ''}/fixture/${debOf(gen2, name, '2.0-1').filename}`;
    const expected = [at('alpha'), at('bulky'), at('beta'), at('alpha', 'test')];
    assert.equal(p.files_total, expected.length, JSON.stringify(p));
    assert.equal(p.files_done, expected.length);
    assert.equal(
      p.bytes_done,
      expected.reduce((n, x) => n + debOf(gen2, x.split('/').at(-1)!.split('_')[0]!, '2.0-1').size, 0),
    );
    // each is in the site's cache now: a hit, with the signed bytes; delta (no machine has it) is not
    for (const x of expected) {
      const r = await fetch(`${site.url}${x}`);
      assert.equal(r.status, 200, x);
      assert.equal(r.headers.get('x-aptgate-result'), 'hit', x);
      const name = x.split('/').at(-1)!.split('_')[0]!;
      assert.equal(sha256(Buffer.from(await r.arrayBuffer())), debOf(gen2, name, '2.0-1').sha256);
    }
    const delta = await site.services.state.store.stat(`fixture/${debOf(gen2, 'delta', '2.0-1').filename}`);
    assert.equal(delta, undefined, 'no machine needs delta: not pre-loaded');

    // the central server shows the progress the next report carries
    await site.services.reportToParent();
    const shown = JSON.parse(await cli(['sites', 'show', 'north', '--json', '--db', central.config.db])) as {
      preload: Record<string, number>;
    };
    assert.equal(shown.preload['filesDone'] ?? shown.preload['files_done'], expected.length, JSON.stringify(shown));

    // the upgrade at the window: apt gets the files from the site's cache
    const r = await agents['web-1']!.root.apt(['update', '--error-on=any']);
    assert.equal(r.code, 0, r.output);
    const up = await agents['web-1']!.root.apt(['upgrade', '-y']);
    assert.equal(up.code, 0, up.output);
    assert.equal((await agents['web-1']!.root.installed('bulky'))?.version, '2.0-1');
  });
});
