// Issue 18, site caches (site mode): three real servers on 127.0.0.1, the central one over the
// fixture upstream and two sites with `[site] parent` (each with its own cache and database;
// their links to the central are relays that count requests, site B's can flip a byte of a
// .deb), plus a site given the wrong parent key. Real apt at the sites: updates and installs in
// remap and proxy mode, the central's stage verified with the central's key, a wrong key and a
// corrupted .deb refused, one fetch per file across the tiers, the central stopped.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type Config } from '../src/config.js';
import { siteBackends } from '../src/config-site.js';
import type { IncomingMessage } from 'node:http';
import { isAptgateError } from '../src/errors.js';
import { SITE_STAGE_BACKENDS, SiteStages } from '../src/proxy/site-stages.js';
import { BackendMap } from '../src/proxy/target.js';
import { aptEnv, downloadedDebs, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { Relay } from './helpers/relay.js';
import { indexedNewest, startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { settled } from './helpers/settle.js';
import { big, debOf, makeWorld, odd, type World } from './helpers/world.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** every file under the server's cache directory (relative paths), once its fills are over (apt may end first) */
async function walk(server: TestServer): Promise<string[]> {
  await server.proxy.fills.drain();
  const dir = server.config.cacheDir;
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out;
}

function metric(text: string, name: string, label: string): number {
  const m = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

interface Health {
  status: string;
  site?: {
    parent: string;
    reachable: boolean | null;
    lastContact: string | null;
    lastError: { at: string; error: string; cause: string } | null;
    stages: Array<{ name: string; status: string; mirrors: string[] }>;
  };
  backends: Array<{ name: string; status: string }>;
}

const healthOf = async (s: TestServer) => (await (await fetch(`${s.url}/-/health`)).json()) as Health;

describe('issue 18: site caches in site mode ([site] parent)', () => {
  let world: World;
  let central: TestServer;
  let centralOpen = false;
  let relayA: Relay; // site A's link to the central: counts
  let relayB: Relay; // site B's link: counts, can corrupt .debs
  let siteA: TestServer;
  let siteB: TestServer;
  let siteBad: TestServer; // its parent key is the archive's, not the central's
  let centralKey: string;
  const apts: Record<string, AptEnv> = {};

  const client = async (name: string, site: TestServer, mode: 'remap' | 'proxy'): Promise<AptEnv> =>
    (apts[name] = await aptEnv(path.join(world.dir, name), {
      sources: [
        {
          uri: mode === 'remap' ? `${site.url}/fixture` : world.upstream.base,
          suites: ['stable'],
          signedBy: world.key.keyring,
        },
      ],
      proxy: mode === 'remap' ? 'DIRECT' : `${site.url}/`,
      config: { 'Acquire::Retries': '0' },
    }));
  const stageClient = async (name: string, site: TestServer): Promise<AptEnv> =>
    (apts[name] = await aptEnv(path.join(world.dir, name), {
      sources: [{ uri: `${site.url}/stage/test/fixture`, suites: ['stable'], signedBy: centralKey }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    }));

  before(async () => {
    world = await makeWorld();
    central = await startServer(testConfig(path.join(world.dir, 'central'), { fixture: world.backend }));
    centralOpen = true;
    // the central's key, as `aptgate site join` writes it for a site
    centralKey = path.join(world.dir, 'central-key.gpg');
    await writeFile(centralKey, (await central.gate.exportKey(true)).data);
    relayA = await Relay.start(central.url);
    relayB = await Relay.start(central.url);
    // a site's configuration names upstream's mirrors, as the central's does: site mode routes them through the parent
    const siteConfig = (name: string, parent: string, parentKey: string) =>
      testConfig(path.join(world.dir, name), { fixture: world.backend }, (c) => {
        c.site.parent = parent;
        c.site.parentKey = parentKey;
        c.proxy.releaseTtlMs = 0; // every update asks the parent again: the last case sees it gone
      });
    siteA = await startServer(siteConfig('siteA', relayA.url, centralKey));
    siteB = await startServer(siteConfig('siteB', relayB.url, centralKey));
    siteBad = await startServer(siteConfig('siteBad', central.url, world.key.keyring));
  });

  after(async () => {
    await siteA?.close();
    await siteB?.close();
    await siteBad?.close();
    await relayA?.close();
    await relayB?.close();
    if (centralOpen) await central.close();
    await world?.close();
  });

  it('site mode: each backend through the parent, its mirrors kept as aliases, keyrings the site’s own', () => {
    const configured = testConfig(path.join(world.dir, 'unit'), { fixture: world.backend }, (c) => {
      c.site.parent = 'http://central.example:3142';
    });
    const site = siteBackends(configured);
    const b = site.backends.get('fixture')!;
    assert.deepEqual(b.mirrors, ['http://central.example:3142/fixture']);
    assert.ok(b.aliases.includes(world.upstream.base.replace(/^http:\/\//, '')));
    assert.deepEqual(b.keyrings, [world.key.keyring]);
    // the configuration given is left as it is; no parent: the same object
    assert.deepEqual(configured.backends.get('fixture')!.mirrors, [world.upstream.base]);
    const plain: Config = testConfig(path.join(world.dir, 'unit'), { fixture: world.backend });
    assert.equal(siteBackends(plain), plain);
    // the running site: the same rewrite, applied once at assembly
    assert.deepEqual(siteA.proxy.backends.byName('fixture')!.mirrors, [`${relayA.url}/fixture`]);
    // `serve --site-of URL` sets [site] parent; the parent key defaults under the state directory
    const fromCli = loadConfig({
      env: {},
      checkout: undefined,
      overrides: { siteOf: 'http://central.example:3142/', stateDir: path.join(world.dir, 'cli-state') },
    });
    assert.equal(fromCli.site.parent, 'http://central.example:3142');
    assert.equal(fromCli.site.parentKey, path.join(world.dir, 'cli-state', 'site', 'parent-key.gpg'));
  });

  it('`--site-of URL` on the command line (serve and config share the options)', async () => {
    const cli = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
    const stateDir = path.join(world.dir, 'cli-state');
    const env = { ...process.env, APTGATE_CONFIG: '' };
    const ok = await exec(
      process.execPath,
      [cli, 'config', '--json', '--state-dir', stateDir, '--site-of', 'http://c.example:3142/'],
      { env },
    );
    assert.equal(ok.code, 0, ok.stderr.toString());
    const site = (JSON.parse(ok.stdout.toString()) as { site: { parent: string; parentKey: string } }).site;
    assert.deepEqual(
      [site.parent, site.parentKey],
      ['http://c.example:3142', path.join(stateDir, 'site', 'parent-key.gpg')],
    );
    const bad = await exec(
      process.execPath,
      [cli, 'config', '--state-dir', stateDir, '--site-of', 'ftp://c.example/'],
      { env },
    );
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr.toString(),
      /CONFIG_INVALID: site\.parent: "ftp:\/\/c\.example\/" must be http:\/\/ or https:\/\//,
    );
  });

  it('apt update and install through a site, remap and proxy mode: fetched through the parent, verified', async () => {
    for (const [name, site, mode] of [
      ['a-remap', siteA, 'remap'],
      ['a-proxy', siteA, 'proxy'],
      ['b-remap', siteB, 'remap'],
    ] as const) {
      const apt = await client(name, site, mode);
      await runAptOk(['update', '--error-on=any'], { apt });
    }
    await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt: apts['a-remap']! });
    await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt: apts['a-proxy']! });
    const deb = debOf(world.gen1, 'aptgate-demo');
    for (const name of ['a-remap', 'a-proxy']) {
      const [file] = await downloadedDebs(apts[name]!);
      assert.equal(file, path.basename(deb.filename));
      assert.equal(sha256(await readFile(path.join(apts[name]!.archivesDir, file))), deb.sha256);
    }
    // the site asked its parent, never upstream; it verified and cached the file under its backend
    assert.ok(relayA.count(deb.filename) === 1, 'site A fetched the .deb from the parent once');
    assert.ok((await walk(siteA)).includes(path.join('fixture', deb.filename)));
    assert.equal(world.upstream.hits(deb.filename), 1, 'one upstream fetch for both modes at site A');
    const health = await healthOf(siteA);
    assert.equal(health.status, 'ok');
    assert.equal(health.site?.parent, relayA.url);
    assert.equal(health.site?.reachable, true);
    assert.ok(health.site?.lastContact);
    // the central is no site: no site part
    assert.equal((await healthOf(central)).site, undefined);
  });

  it('two clients at site A and one at site B ask the same new .deb at once: one fetch per tier', async () => {
    const deb = debOf(world.gen1, big.name);
    const base = path.basename(deb.filename);
    assert.equal(world.upstream.hits(deb.filename), 0);
    // site A's two clients through a relay of their own: it shows when site A answered each
    const front = await Relay.start(siteA.url);
    try {
      const near = async (name: string) =>
        (apts[name] = await aptEnv(path.join(world.dir, name), {
          sources: [{ uri: `${front.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
          proxy: 'DIRECT',
          config: { 'Acquire::Retries': '0' },
        }));
      for (const apt of [await near('a1'), await near('a2')]) await runAptOk(['update', '--error-on=any'], { apt });
      let release!: () => void;
      let reached!: () => void;
      const upstreamInFlight = new Promise<void>((r) => (reached = r));
      world.upstream.fault(deb.filename, { kind: 'gate', until: new Promise((r) => (release = r)), reached }, 1);
      const metricsOf = async (s: TestServer) => (await fetch(`${s.url}/-/metrics`)).text();
      const before = { central: await metricsOf(central), siteA: await metricsOf(siteA) };
      const runs = ['a1', 'a2', 'b-remap'].map((n) =>
        runApt(['install', '--download-only', big.name], { apt: apts[n]! }),
      );
      const answered = (r: Relay) => r.answered.filter((p) => p.endsWith(base)).length;
      try {
        await upstreamInFlight;
        // every request answered while the one upstream fetch is held: all on fills
        await waitFor(
          () => answered(front) === 2 && answered(relayA) === 1 && answered(relayB) === 1,
          'all three clients answered while upstream is held',
        );
      } finally {
        release();
      }
      for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(world.upstream.hits(deb.filename), 1, 'central to upstream: one fetch');
      assert.equal(relayA.count(base), 1, 'site A to central: one request');
      assert.equal(relayB.count(base), 1, 'site B to central: one request');
      const after = { central: await metricsOf(central), siteA: await metricsOf(siteA) };
      const delta = (k: 'central' | 'siteA', result: string) =>
        metric(after[k], 'aptgate_requests_total', `result="${result}"`) -
        metric(before[k], 'aptgate_requests_total', `result="${result}"`);
      assert.deepEqual(
        [delta('central', 'miss'), delta('central', 'coalesced'), delta('siteA', 'miss'), delta('siteA', 'coalesced')],
        [1, 1, 1, 1],
      );
      for (const n of ['a1', 'a2', 'b-remap']) {
        const file = path.join(apts[n]!.archivesDir, base);
        assert.equal(sha256(await readFile(file)), deb.sha256);
      }
    } finally {
      await front.close();
    }
  });

  it("the central's test stage at a site: /stage/test/fixture verified with the central's key, cached apart", async () => {
    await indexedNewest(central, 'fixture', ['stable']);
    await settled(central);
    const inRelease = 'dists/stable/InRelease';
    const atCentral = await fetch(`${central.url}/stage/test/fixture/${inRelease}`);
    assert.equal(atCentral.status, 200);
    const centralText = await atCentral.text();
    // the site serves the parent's stage as it is (its own gate is not asked)
    const atSite = await fetch(`${siteA.url}/stage/test/fixture/${inRelease}`);
    assert.equal(atSite.status, 200);
    assert.equal(await atSite.text(), centralText);
    const apt = await stageClient('a-stage', siteA);
    await runAptOk(['update', '--error-on=any'], { apt });
    await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt });
    const deb = debOf(world.gen1, 'aptgate-demo');
    const [file] = await downloadedDebs(apt);
    assert.equal(sha256(await readFile(path.join(apt.archivesDir, file!))), deb.sha256);
    // verified against the stage's parsed Packages (only verified files are kept), apart from the backend's own
    const cached = await walk(siteA);
    assert.ok(cached.includes(path.join('stage', 'test', 'fixture', deb.filename)), cached.join('\n'));
    assert.ok(siteA.services.state.snapshots.newest('stage/test/fixture', 'stable'));
    assert.equal(relayA.count(`/stage/test/fixture/${deb.filename}`), 1);
    // one backend made on demand for it; a view the parent does not know costs nothing
    assert.deepEqual(
      siteA.proxy.backends.adopted().map((b) => b.name),
      ['stage/test/fixture'],
    );
    // proxy mode: sources naming the parent's own URLs (its backend and its stage), the site as apt's proxy
    const viaProxy = (apts['a-stage-proxy'] = await aptEnv(path.join(world.dir, 'a-stage-proxy'), {
      sources: [{ uri: `${relayA.url}/stage/test/fixture`, suites: ['stable'], signedBy: centralKey }],
      proxy: `${siteA.url}/`,
      config: { 'Acquire::Retries': '0' },
    }));
    const seenBefore = relayA.seen.length;
    await runAptOk(['update', '--error-on=any'], { apt: viaProxy });
    await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt: viaProxy });
    assert.deepEqual(await downloadedDebs(viaProxy), [path.basename(deb.filename)]);
    // served from what the site holds for the stage (TTL 0: the InRelease asked again), the .deb a hit
    assert.ok(
      relayA.seen.slice(seenBefore).every((p) => p.endsWith('/InRelease')),
      relayA.seen.slice(seenBefore).join(),
    );
    // the site's own gate follows nothing (the central's does)
    await settled(siteA);
    assert.deepEqual(siteA.services.state.stages.currentAll('test'), []);
    assert.ok(central.services.state.stages.currentAll('test').length > 0);
    const unknown = await fetch(`${siteA.url}/stage/nosuch/fixture/${inRelease}`);
    assert.equal(unknown.status, 404);
    const notBackend = await fetch(`${siteA.url}/stage/test/nosuch/${inRelease}`);
    assert.equal(notBackend.status, 403);
    assert.equal(notBackend.headers.get('x-aptgate-error'), 'NOT_A_BACKEND');
    assert.equal(siteA.proxy.backends.adopted().length, 1);
    assert.deepEqual(
      (await healthOf(siteA)).site?.stages.map((b) => [b.name, b.status, b.mirrors]),
      [['stage/test/fixture', 'ok', [`${relayA.url}/stage/test/fixture`]]],
    );
  });

  it("a site with the wrong parent key refuses the stage's InRelease and stores nothing of it", async () => {
    const r = await fetch(`${siteBad.url}/stage/test/fixture/dists/stable/InRelease`);
    assert.equal(r.status, 502);
    assert.equal(r.headers.get('x-aptgate-error'), 'SIGNATURE');
    await r.body?.cancel();
    const apt = await stageClient('bad-stage', siteBad);
    const u = await runApt(['update', '--error-on=any'], { apt });
    assert.notEqual(u.code, 0, 'apt must not get the stage through a site that cannot verify it');
    assert.equal(siteBad.services.state.snapshots.newest('stage/test/fixture', 'stable'), undefined);
    assert.deepEqual(
      (await walk(siteBad)).filter((f) => f.startsWith('stage')),
      [],
    );
    assert.deepEqual(siteBad.proxy.backends.adopted(), []);
  });

  it(`a site serves at most ${SITE_STAGE_BACKENDS} stage views of its parent: beyond, a clear error`, async () => {
    for (let i = 0; i < SITE_STAGE_BACKENDS; i++)
      siteBad.proxy.backends.adopt({
        name: `stage/v${i}/fixture`,
        mirrors: [`${central.url}/stage/v${i}/fixture`],
        aliases: [],
        keyrings: [centralKey],
        trackSuites: [],
        trackComponents: [],
        trackArchitectures: [],
        redirectHosts: [],
      });
    const r = await fetch(`${siteBad.url}/stage/test/fixture/dists/stable/InRelease`);
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('x-aptgate-error'), 'RATE_LIMITED');
    assert.match(await r.text(), /at most 64 stage views/);
    // a site without the parent's key says so
    const keyless = new SiteStages({
      backends: new BackendMap(siteBad.proxy.config),
      service: siteBad.proxy.service,
      parent: central.url,
      parentKey: path.join(world.dir, 'no-such-key.gpg'),
    });
    await assert.rejects(
      keyless.answer({} as IncomingMessage, '/stage/test/fixture/dists/stable/InRelease', '127.0.0.1'),
      (e) => isAptgateError(e) && e.code === 'SIGNATURE' && /site\.parent_key .*no-such-key\.gpg/.test(e.message),
    );
  });

  it('the parent serves a corrupted .deb to site B: the site refuses it and keeps nothing of it', async () => {
    const deb = debOf(world.gen1, odd.name);
    relayB.corruptDebs = true;
    try {
      const r = await runApt(['install', '--download-only', odd.name], { apt: apts['b-remap']! });
      assert.notEqual(r.code, 0, 'apt must not get the corrupted file');
      assert.match(r.stdout + r.stderr, /502\s+Upstream file does not match the signed index/);
      const base = path.basename(deb.filename);
      assert.ok(!(await downloadedDebs(apts['b-remap']!)).includes(base));
      const kept = (await walk(siteB)).filter((f) => f.includes(base.slice(0, 12)));
      assert.deepEqual(kept, []);
      // wrong bytes are an answer: the parent is reachable, its error recorded
      const health = await healthOf(siteB);
      assert.equal(health.site?.reachable, true);
      assert.equal(health.site?.lastError?.cause, 'INTEGRITY');
    } finally {
      relayB.corruptDebs = false;
    }
    await runAptOk(['install', '--download-only', odd.name], { apt: apts['b-remap']! });
    assert.equal(world.upstream.hits(deb.filename), 1);
  });

  it('the central stopped: site A serves what it holds, the rest fails clearly, /-/health degraded', async () => {
    await central.close();
    centralOpen = false;
    // the client that updated before: again (TTL 0: the site asks the parent, which is gone)
    const again = await runApt(['update', '--error-on=any'], { apt: apts['a-remap']! });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    // a new client: update, and the .debs the site holds
    const fresh = await client('a-fresh', siteA, 'remap');
    await runAptOk(['update', '--error-on=any'], { apt: fresh });
    await runAptOk(['install', '--download-only', 'aptgate-demo', big.name], { apt: fresh });
    assert.equal((await downloadedDebs(fresh)).length, 2);
    // the central's stage from what the site holds (the last verified InRelease)
    await runAptOk(['update', '--error-on=any'], { apt: apts['a-stage']! });
    // what the site has not cached: a clear failure
    const miss = await runApt(['install', '--download-only', odd.name], { apt: fresh });
    assert.notEqual(miss.code, 0);
    // the reason names the parent's link (the relay: the central behind it is gone)
    const link = new URL(relayA.url).host.replace(/\./g, '\\.');
    assert.match(miss.stdout + miss.stderr, new RegExp(`502\\s+Upstream unreachable: ${link}: `));
    const health = await healthOf(siteA);
    assert.equal(health.status, 'degraded');
    assert.equal(health.site?.parent, relayA.url);
    assert.equal(health.site?.reachable, false);
    assert.ok(health.site?.lastContact, 'the last contact is kept');
    assert.ok(health.site?.lastError && health.site.lastError.cause !== 'INTEGRITY', JSON.stringify(health.site));
    assert.deepEqual(
      health.site.stages.map((b) => [b.name, b.status]),
      [['stage/test/fixture', 'degraded']],
    );
  });

  it('site A restarted while the central is still gone: the stage and the backend from what it holds', async () => {
    await siteA.close();
    siteA = await startServer(siteA.config);
    // the new process knows no stage pair yet: the first answer (the last verified InRelease) brings it back
    assert.deepEqual(siteA.proxy.backends.adopted(), []);
    const stage = await stageClient('a-stage-again', siteA);
    await runAptOk(['update', '--error-on=any'], { apt: stage });
    await runAptOk(['install', '--download-only', 'aptgate-demo'], { apt: stage });
    assert.deepEqual(
      siteA.proxy.backends.adopted().map((b) => b.name),
      ['stage/test/fixture'],
    );
    const plain = await client('a-again', siteA, 'remap');
    await runAptOk(['update', '--error-on=any'], { apt: plain });
    await runAptOk(['install', '--download-only', big.name], { apt: plain });
    assert.equal((await healthOf(siteA)).site?.reachable, false);
  });
});
