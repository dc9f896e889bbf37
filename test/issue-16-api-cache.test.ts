// Issue 16: the cache's operations over real HTTP: cache.stats and cache.clients (the JSON of
// `aptgate cache stats --json` and `aptgate clients --json`), and the proxy's traffic history:
// real requests through a fixture upstream, the sampler's step run directly with the server's
// clock moved (no sleeps), GET /cache/traffic for 24 hours (5-minute buckets) and 30 days
// (days), pruning, bad input; the CLI with --server and APTGATE_TOKEN prints what it prints on
// the server host.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { STATS_REUSE_MS } from '../src/ops/cache.js';
import { FINE_MS } from '../src/state/proxy-history.js';
import { addTestUsers, assertError, login, PASSWORD, type SessionClient } from './helpers/api.js';
import { launchBrowser, submitLogin } from './helpers/browser.js';
import { exec } from './helpers/exec.js';
import { request } from './helpers/http.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const DAY = 86_400_000;
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));

let world: World;
let server: TestServer;
let viewer: SessionClient;
let token: string;
let offset = 0;
const now = () => Date.now() + offset;

async function cli(args: string[], remote: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const where = remote ? ['--server', server.url] : ['--db', server.config.db, '--cache-dir', server.config.cacheDir];
  const r = await exec(process.execPath, [CLI, ...args, ...where], {
    env: remote ? { ...env, APTGATE_TOKEN: token } : env,
    timeoutMs: 60_000,
  });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The same command here and through the API: the same output. */
async function same(args: string[]): Promise<string> {
  const [local, remote] = [await cli(args, false), await cli(args, true)];
  assert.equal(local.code, 0, `${args.join(' ')}: ${local.stderr}`);
  assert.equal(remote.code, 0, `${args.join(' ')} --server: ${remote.stderr}`);
  assert.equal(remote.stdout, local.stdout, args.join(' '));
  return local.stdout;
}

async function newToken(): Promise<string> {
  const t = await viewer.call('POST', '/api-tokens', { role: 'viewer', expires: '1d', name: 'cli' });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return t.body.token as string;
}

const get = (target: string) => request(server.port, target);

describe('issue 16: the cache over the API', () => {
  before(async () => {
    world = await makeWorld();
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 3_600_000;
      }),
      { now },
    );
    await addTestUsers(server.services);
    viewer = await login(server.url, 'vera', PASSWORD);
    token = await newToken();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('nothing recorded yet: an empty history, not an error', async () => {
    const r = await viewer.call('GET', '/cache/traffic');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      { ...r.body, from: undefined, to: undefined },
      {
        period: '24h',
        bucketMs: FINE_MS,
        from: undefined,
        to: undefined,
        buckets: [],
        totals: { requests: 0, hits: 0, misses: 0, bytesFromCache: 0, bytesFromUpstream: 0, hitRatio: null },
      },
    );
    assert.equal(Date.parse(r.body.to) - Date.parse(r.body.from), DAY);
  });

  it('real proxy traffic sampled into 5-minute buckets: requests, hits, misses, bytes from the cache and from upstream', async () => {
    const hello = `/fixture/${debOf(world.gen1, 'hello').filename}`;
    const size = debOf(world.gen1, 'hello').size;
    assert.equal((await get('/fixture/dists/stable/InRelease')).status, 200);
    assert.equal((await get('/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
    await server.proxy.indexer.idle();
    assert.equal((await get(hello)).headers['x-aptgate-result'], 'miss');
    await server.proxy.fills.drain();
    const hit = await get(hello);
    assert.equal(hit.headers['x-aptgate-result'], 'hit');
    assert.equal(hit.body.length, size);

    const first = server.services.traffic.sample();
    assert.deepEqual([first.requests, first.hits, first.misses], [4, 1, 3]);
    assert.equal(first.bytesFromCache, size, 'the hit');
    assert.ok(first.bytesFromUpstream >= size, `${first.bytesFromUpstream} ≥ ${size}: the .deb and the indexes`);
    const at1 = Math.floor((now() - 1) / FINE_MS) * FINE_MS;

    // ten minutes later: two more hits, in a bucket of their own; a sample without traffic adds nothing
    offset += 10 * 60_000;
    await get(hello);
    await get(hello);
    const second = server.services.traffic.sample();
    assert.deepEqual([second.requests, second.hits, second.misses, second.bytesFromUpstream], [2, 2, 0, 0]);
    assert.equal(second.bytesFromCache, 2 * size);
    assert.deepEqual(server.services.traffic.sample().requests, 0);
    const at2 = Math.floor((now() - 1) / FINE_MS) * FINE_MS;

    const r = await viewer.call('GET', '/cache/traffic?period=24h');
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.buckets.map((b: { at: string; requests: number; hits: number; misses: number; hitRatio: number }) => [
        Date.parse(b.at),
        b.requests,
        b.hits,
        b.misses,
        b.hitRatio,
      ]),
      [
        [at1, 4, 1, 3, 0.25],
        [at2, 2, 2, 0, 1],
      ],
    );
    assert.deepEqual(r.body.totals, {
      requests: 6,
      hits: 3,
      misses: 3,
      hitRatio: 0.5,
      bytesFromCache: 3 * size,
      bytesFromUpstream: first.bytesFromUpstream,
    });
    // the console's chart reads at, bytesFromCache, bytesFromUpstream
    assert.deepEqual(Object.keys(r.body.buckets[0]).sort(), [
      'at',
      'bytesFromCache',
      'bytesFromUpstream',
      'hitRatio',
      'hits',
      'misses',
      'requests',
    ]);
  });

  it('the CLI on the server host and through the API print the same: cache stats, clients, cache history', async () => {
    server.proxy.clients.flush(); // written every few seconds; now, for the test
    const stats = JSON.parse(await same(['cache', 'stats', '--json']));
    const api = await viewer.call('GET', '/cache/stats');
    assert.deepEqual(api.body, stats);
    assert.ok(stats.files >= 2 && stats.backends.fixture.pool === 1, JSON.stringify(stats));
    assert.match(await same(['cache', 'stats']), /^cache .*: \d+ files/);

    const clients = JSON.parse(await same(['clients', '--json']));
    assert.deepEqual((await viewer.call('GET', '/cache/clients')).body, clients);
    assert.deepEqual(
      clients.clients.map((c: { address: string; requests: number; hits: number }) => [c.address, c.requests, c.hits]),
      [['127.0.0.1', 6, 3]],
    );
    assert.match(await same(['clients']), /^127\.0\.0\.1\s+-\s+/m);

    // the history: its window ends now, so compare what does not move with the clock
    const local = await cli(['cache', 'history', '--json'], false);
    const remote = await cli(['cache', 'history', '--json'], true);
    assert.equal(remote.code, 0, remote.stderr);
    const strip = (t: string) => ({ ...JSON.parse(t), from: undefined, to: undefined });
    assert.deepEqual(strip(remote.stdout), strip(local.stdout));
    assert.equal(strip(local.stdout).totals.requests, 6);
    const human = (await cli(['cache', 'history'], true)).stdout;
    assert.match(human, /^proxy traffic .*: 6 requests, hit ratio 50%/);
    assert.match(human, /^HOUR\s+REQUESTS\s+HITS\s+MISSES\s+HIT RATIO\s+FROM CACHE\s+FROM UPSTREAM$/m);
    assert.equal(
      human.split('\n').slice(1).join('\n'),
      (await cli(['cache', 'history'], false)).stdout.split('\n').slice(1).join('\n'),
      'the table is the same (the first line names the window, which ends now)',
    );
  });

  it("the console's overview draws what /cache/traffic answers: bytes and the hit ratio, in a real browser", async () => {
    const browser = await launchBrowser(path.join(world.dir, 'chromium'));
    try {
      const { page, log } = await browser.newPage();
      await submitLogin(page, server.url, 'vera', PASSWORD);
      const bytes = page.getByRole('img', { name: 'Bytes from the cache and from upstream, last 24h' });
      const ratio = page.getByRole('img', { name: 'Hit ratio, last 24h' });
      await ratio.waitFor();
      assert.equal(await bytes.locator('path').count(), 2, 'a line from the cache, one from upstream');
      // the last bucket had two hits and no miss
      assert.match((await ratio.locator('desc').textContent()) ?? '', /Latest: hit ratio: 100\.0 %\./);
      assert.match(await page.locator('#proxy-hit-ratio').innerText(), /^50\.0 %$/);
      assert.deepEqual(log.pageErrors, []);
      assert.deepEqual(
        log.consoleErrors.filter((e) => e.url.includes('/cache/')),
        [],
      );
    } finally {
      await browser.close();
    }
  });

  it('30 days in days; 5-minute buckets go after 2 days, hours stay', async () => {
    offset += 3 * DAY;
    // the session and the token of 3 days ago have ended
    viewer = await login(server.url, 'vera', PASSWORD);
    token = await newToken();
    await get(`/fixture/${debOf(world.gen1, 'hello').filename}`);
    assert.equal(server.services.traffic.sample().requests, 1);
    const fine = () =>
      (server.db.prepare('SELECT count(*) AS n FROM proxy_traffic WHERE bucket_ms = ?').get(FINE_MS) as { n: number })
        .n;
    assert.equal(fine(), 1, 'the 5-minute buckets of 3 days ago are pruned');

    const day = await viewer.call('GET', '/cache/traffic?period=24h');
    assert.deepEqual(
      day.body.buckets.map((b: { requests: number }) => b.requests),
      [1],
    );
    const month = await viewer.call('GET', '/cache/traffic?period=30d');
    assert.equal(month.status, 200);
    assert.equal(month.body.bucketMs, DAY);
    assert.equal(month.body.totals.requests, 7, 'the hours of 3 days ago are kept');
    for (const b of month.body.buckets) assert.equal(Date.parse(b.at) % DAY, 0, 'UTC days');
    assert.equal(Date.parse(month.body.from) % DAY, 0, 'from the start of a UTC day');
    assert.ok(Date.parse(month.body.to) - Date.parse(month.body.from) > 30 * DAY);
    assert.ok(Date.parse(month.body.to) - Date.parse(month.body.from) <= 31 * DAY);
  });

  it('bad input: an unknown period or field is USAGE, on the API and the command line alike', async () => {
    assertError(await viewer.call('GET', '/cache/traffic?period=7d'), 400, 'USAGE');
    assertError(await viewer.call('GET', '/cache/traffic?since=1d'), 400, 'USAGE');
    assertError(await viewer.call('GET', '/cache/stats?x=1'), 400, 'USAGE');
    for (const remote of [false, true]) {
      const r = await cli(['cache', 'history', '--period', '7d'], remote);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /USAGE: .*period.*24h or 30d/, r.stderr);
    }
  });

  it('GET /cache/stats: one walk of the cache serves the requests of the next 10 seconds', async () => {
    const first = (await viewer.call('GET', '/cache/stats')).body;
    const odd = debOf(world.gen1, 'aptgate-odd+name');
    assert.equal((await get(`/fixture/${odd.filename}`)).headers['x-aptgate-result'], 'miss');
    await server.proxy.fills.drain();
    assert.deepEqual((await viewer.call('GET', '/cache/stats')).body, first, 'the same walk');
    offset += STATS_REUSE_MS;
    const later = (await viewer.call('GET', '/cache/stats')).body;
    assert.equal(later.files, first.files + 1);
    assert.equal(later.bytes, first.bytes + odd.size);
  });
});
