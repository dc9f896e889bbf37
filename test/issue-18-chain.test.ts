// Issue 18 groundwork: what site caches (aptgate in front of a central aptgate) already do with
// configuration alone, kept as they are while site mode is built. Three real servers on 127.0.0.1:
// the central one over the fixture upstream, site A whose backend `fixture` has the central's
// /fixture as its only mirror, site B the same through a small HTTP relay that can flip a byte of
// .deb bodies (a parent serving wrong bytes). Real apt at each site. One fetch per file across the
// tiers, a corrupted .deb refused, cached content served with the central stopped; the central's
// stages reach a site only as a backend of its own for now (site mode: [site] parent, to come).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aptEnv, downloadedDebs, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { indexedNewest, startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { settled } from './helpers/settle.js';
import { Relay } from './helpers/relay.js';
import { big, debOf, makeWorld, odd, type World } from './helpers/world.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** every file under dir (relative paths) */
async function walk(dir: string): Promise<string[]> {
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

describe('issue 18 groundwork: site caches in front of a central aptgate, configuration alone', () => {
  let world: World;
  let central: TestServer;
  let centralOpen = false;
  let relay: Relay;
  let relayA: Relay;
  let siteA: TestServer;
  let siteB: TestServer;
  let centralKey: string;
  const apts: Record<string, AptEnv> = {};

  const siteBackend = (mirror: string) => ({ mirrors: [mirror], keyring: world.key.keyring });
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

  before(async () => {
    world = await makeWorld();
    central = await startServer(testConfig(path.join(world.dir, 'central'), { fixture: world.backend }));
    centralOpen = true;
    // the central's own key (its stage repositories' signer), as a site would have to be given it
    centralKey = path.join(world.dir, 'central-key.gpg');
    await writeFile(centralKey, (await central.gate.exportKey(true)).data);
    relay = await Relay.start(central.url);
    relayA = await Relay.start(central.url); // never corrupts: shows when the central answered site A
    const siteConfig = (name: string, mirror: string) =>
      testConfig(
        path.join(world.dir, name),
        {
          fixture: siteBackend(mirror),
          // case 5's configuration-only try: the central's production stage as a backend of its own
          'central-production': { mirrors: [`${central.url}/stage/production/fixture`], keyring: centralKey },
        },
        (c) => {
          c.proxy.releaseTtlMs = 0; // every update asks the parent again: case 4 sees it gone
          // proxy mode: apt's sources name the real upstream; the site maps it to its parent
          c.backends.get('fixture')!.aliases = [world.upstream.base.replace(/^http:\/\//, '')];
        },
      );
    siteA = await startServer(siteConfig('siteA', `${relayA.url}/fixture`));
    siteB = await startServer(siteConfig('siteB', `${relay.url}/fixture`));
  });

  after(async () => {
    await siteA?.close();
    await siteB?.close();
    await relay?.close();
    await relayA?.close();
    if (centralOpen) await central.close();
    await world?.close();
  });

  it('(1) apt update and install through a site, remap and proxy mode, verified bytes', async () => {
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
    for (const name of ['a-remap', 'a-proxy']) {
      const [file] = await downloadedDebs(apts[name]!);
      const deb = debOf(world.gen1, 'aptgate-demo');
      assert.equal(file, path.basename(deb.filename));
      assert.equal(sha256(await readFile(path.join(apts[name]!.archivesDir, file))), deb.sha256);
    }
    // the site verified and cached it under its own backend
    const deb = debOf(world.gen1, 'aptgate-demo');
    await siteA.proxy.fills.drain(); // apt may end before the fill's rename into the cache
    assert.ok((await walk(siteA.config.cacheDir)).includes(path.join('fixture', deb.filename)));
    assert.equal(world.upstream.hits(deb.filename), 1, 'one upstream fetch for both modes at site A');
  });

  it('(2) two clients at site A and one at site B ask the same new .deb at the same moment: one fetch per tier', async () => {
    const deb = debOf(world.gen1, 'aptgate-big');
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
        await upstreamInFlight; // one site's fill reached upstream through the central
        // every request was answered (headers, then the first bytes) while the one upstream fetch is
        // held: each is on a fill, site A's two clients on site A's one fill, both sites on the central's
        await waitFor(
          () => answered(front) === 2 && answered(relay) === 1 && answered(relayA) === 1,
          'all three clients answered while upstream is held',
        );
      } finally {
        release();
      }
      for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(world.upstream.hits(deb.filename), 1, 'central to upstream: one fetch');
      assert.equal(relayA.seen.filter((p) => p.endsWith(base)).length, 1, 'site A to central: one request');
      assert.equal(relay.seen.filter((p) => p.endsWith(base)).length, 1, 'site B to central: one request');
      const after = { central: await metricsOf(central), siteA: await metricsOf(siteA) };
      const delta = (k: 'central' | 'siteA', result: string) =>
        metric(after[k], 'aptgate_requests_total', `result="${result}"`) -
        metric(before[k], 'aptgate_requests_total', `result="${result}"`);
      assert.deepEqual(
        [delta('central', 'miss'), delta('central', 'coalesced'), delta('siteA', 'miss'), delta('siteA', 'coalesced')],
        [1, 1, 1, 1],
      );
    } finally {
      await front.close();
    }
  });

  it('(3) the central serves a corrupted .deb to site B: the site refuses it and keeps nothing of it', async () => {
    const deb = debOf(world.gen1, odd.name);
    relay.corruptDebs = true;
    try {
      const r = await runApt(['install', '--download-only', odd.name], { apt: apts['b-remap']! });
      assert.notEqual(r.code, 0, 'apt must not get the corrupted file');
      assert.match(r.stdout + r.stderr, /502\s+Upstream file does not match the signed index/);
      assert.ok(!(await downloadedDebs(apts['b-remap']!)).includes(path.basename(deb.filename)));
      // nothing of it in the site's cache (no file, no .tmp left)
      const base = path.basename(deb.filename);
      const kept = (await walk(siteB.config.cacheDir)).filter((f) => f.includes(base.slice(0, 12)));
      assert.deepEqual(kept, []);
      // the parent is a failing mirror of the site, like any mirror serving wrong bytes
      const health = (await (await fetch(`${siteB.url}/-/health`)).json()) as {
        backends: Array<{ name: string; status: string }>;
      };
      assert.equal(health.backends.find((b) => b.name === 'fixture')?.status, 'degraded');
    } finally {
      relay.corruptDebs = false;
    }
    // the central holds the good file (it verified against upstream's index): the next try works
    await runAptOk(['install', '--download-only', odd.name], { apt: apts['b-remap']! });
    assert.equal(world.upstream.hits(deb.filename), 1);
  });

  it('(5) the central production stage through a site: /stage/ at the site, and as a backend of its own', async () => {
    await indexedNewest(central, 'fixture', ['stable']);
    await settled(central);
    const inRelease = 'dists/stable/InRelease';
    const atCentral = await fetch(`${central.url}/stage/production/fixture/${inRelease}`);
    assert.equal(atCentral.status, 200);
    const centralText = await atCentral.text();
    // the site's /stage/ is the site's own gate (its own key, its own generations), not the central's
    const atSite = await fetch(`${siteA.url}/stage/production/fixture/${inRelease}`);
    const siteText = await atSite.text();
    assert.notEqual(siteText, centralText);
    // so a client at the site that trusts the central's key (as the central's agents write it) is refused
    const own = await aptEnv(path.join(world.dir, 'a-own-stage'), {
      sources: [{ uri: `${siteA.url}/stage/production/fixture`, suites: ['stable'], signedBy: centralKey }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    const refused = await runApt(['update', '--error-on=any'], { apt: own });
    assert.notEqual(refused.code, 0);
    // configuration alone: a site backend whose mirror is the central's stage, keyring the central's key
    const apt = await aptEnv(path.join(world.dir, 'a-stage'), {
      sources: [{ uri: `${siteA.url}/central-production`, suites: ['stable'], signedBy: centralKey }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    apts['a-stage'] = apt;
    const u = await runApt(['update', '--error-on=any'], { apt });
    assert.equal(u.code, 0, u.stdout + u.stderr);
    const i = await runApt(['install', '--download-only', 'aptgate-demo'], { apt });
    assert.equal(i.code, 0, i.stdout + i.stderr);
    await siteA.proxy.fills.drain(); // apt may end before the fill's rename into the cache
    const cachedAs = (await walk(siteA.config.cacheDir)).filter((f) => f.startsWith('central-production/pool'));
    assert.equal(cachedAs.length, 1);
  });

  it('(4) the central stopped: site A still serves cached indexes and .debs; /-/health says degraded', async () => {
    await central.close();
    centralOpen = false;
    // the client that updated before: update again (the site's TTL 0 asks the parent, which is gone)
    const again = await runApt(['update', '--error-on=any'], { apt: apts['a-remap']! });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    // a new client at the site: update and the .debs the site holds
    const fresh = await client('a-fresh', siteA, 'remap');
    const u = await runApt(['update', '--error-on=any'], { apt: fresh });
    assert.equal(u.code, 0, u.stdout + u.stderr);
    const i = await runApt(['install', '--download-only', 'aptgate-demo', big.name], { apt: fresh });
    assert.equal(i.code, 0, i.stdout + i.stderr);
    assert.equal((await downloadedDebs(fresh)).length, 2);
    // the central's stage through the site's backend of its own, from what the site holds
    const stage = await runApt(['update', '--error-on=any'], { apt: apts['a-stage']! });
    assert.equal(stage.code, 0, stage.stdout + stage.stderr);
    // what the site has not cached: apt's status
    const miss = await runApt(['install', '--download-only', odd.name], { apt: fresh });
    assert.notEqual(miss.code, 0);
    const health = (await (await fetch(`${siteA.url}/-/health`)).json()) as {
      status: string;
      backends: Array<{ name: string; status: string }>;
    };
    assert.deepEqual(
      health.backends.map((b) => [b.name, b.status]),
      [
        ['fixture', 'degraded'],
        ['central-production', 'degraded'],
      ],
    );
  });
});
