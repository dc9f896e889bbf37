// Issue 17, attacked: what a hostile upstream, feed or .deb can do to the cooldown, the advisory
// feeds, the changelog reader and the cves endpoints. Real servers on 127.0.0.1, real apt, real
// .debs; each test states the attack and what must hold.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseTracker } from '../src/index/advisories/debian-tracker.js';
import { AdvisoryStore } from '../src/state/advisories.js';
import { addTestUsers, assertError, login, PASSWORD } from './helpers/api.js';
import { aptEnv, runAptOk, type AptEnv } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import { indexedNewest, startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';

const DAY = 86_400_000;
const deb = (name: string, version: string): DebSpec => ({ name, version, arch: 'all' });

describe('issue 17 attack: backdated Release Dates and the cooldown', () => {
  let world: World;
  let server: TestServer;
  let observer: AptEnv;
  // a stable suite that last changed two months ago (a point release): its Release Date is old
  const old = new Date(Math.floor((Date.now() - 60 * DAY) / 1000) * 1000);

  async function upstreamSeen(): Promise<void> {
    await runAptOk(['update', '--error-on=any'], { apt: observer });
    await indexedNewest(server, 'fixture', ['stable']);
    await server.gate.idle();
  }

  before(async () => {
    world = await makeWorld({ debs: [deb('demo', '1.0-1')], publish: { date: old } });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
        c.gate.minAge = new Map([['production', 3 * DAY]]);
      }),
    );
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await upstreamSeen();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('a fresh upload in a Release dated just after the last (two months ago) still waits its cooldown', async () => {
    // whoever signs upstream's Release (a compromised archive key, a hostile repository) dates the
    // new Release one second after the last one: newer than any snapshot, so the first stage follows
    const fetchedFrom = Date.now();
    await world.repo.publish('stable', [deb('demo', '6.6.6-1')], { date: new Date(old.getTime() + 1000) });
    await upstreamSeen();
    const u = server.gate.status('test').updates.find((x) => x.source === 'demo');
    assert.ok(u, 'the new version waits in test');
    assert.equal(u.to, '6.6.6-1');
    // this server saw the version first today: its age cannot count from a Date it was not there
    assert.ok(
      Date.parse(u.firstSeen) >= fetchedFrom - DAY,
      `first seen ${u.firstSeen}: the backdated Release Date taken as the version's age`,
    );
    assert.equal(u.inCooldown, true);
    assert.ok(Date.parse(u.eligibleAt) >= fetchedFrom + 2 * DAY, u.eligibleAt);
  });

  it("a source new to the suite takes no fast lane from the tracker's old fixes of that name", async () => {
    // the tracker keeps the issues of sources long gone; an upload under such a name (a removed
    // package brought back, a name squatted) "fixes" every one of them against a stage that has none
    const advisories = new AdvisoryStore(server.services.db);
    advisories.setFeed('debian-tracker', 'https://127.0.0.1/unused');
    const tracker = parseTracker({
      revived: {
        'CVE-2015-0001': {
          description: 'revived: an old overflow',
          releases: { stable: { status: 'resolved', fixed_version: '0.1-1', urgency: 'high', repositories: {} } },
        },
      },
    });
    await advisories.replace('debian-tracker', (write) => write(tracker.records));
    await world.repo.publish('stable', [deb('demo', '6.6.6-1'), deb('revived', '9.9-1')]);
    await upstreamSeen();
    const u = server.gate.status('test').updates.find((x) => x.source === 'revived');
    assert.ok(u, 'the new source waits in test');
    assert.equal(u.from, null);
    assert.deepEqual(u.fixes, [], 'a stage without the source had none of its flaws to fix');
    assert.deepEqual([u.lane, u.fastLane, u.inCooldown], ['normal', null, true]);
  });

  it('the cves endpoints: paging past the caps and hostile path parameters are USAGE, never a 500 or a crash', async () => {
    await addTestUsers(server.services);
    const vera = await login(server.url, 'vera', PASSWORD);
    for (const q of ['limit=1001', 'limit=0', 'limit=-1', 'page=0', 'page=1000001', 'limit=99999999999999999999'])
      assertError(await vera.call('GET', `/cves?${q}`), 400, 'USAGE');
    for (const ref of [
      '..%2F..%2Fetc%2Fpasswd',
      '%00',
      'CVE-2024-1%0A',
      encodeURIComponent('\u001b[2J'),
      'x'.repeat(41),
    ])
      assertError(await vera.call('GET', `/cves/${ref}`), 400, 'USAGE');
    const far = await vera.call('GET', '/cves?page=1000000&limit=1000');
    assert.equal(far.status, 200, JSON.stringify(far.body));
    assert.deepEqual(far.body.cves, []);
    // a viewer reads; the feeds are refreshed by an operator or more
    assertError(await vera.call('POST', '/advisories/refresh', {}), 403, 'FORBIDDEN');
  });

  it('a kernel-sized issue list (12,000 CVEs of one source): the gate reads it per fixed version, not per issue', async (t) => {
    // the tracker has 10,000+ issues of linux per release; the gate asks what each pending update
    // fixes on every status (the API, promotions, each machine's explanation of its updates)
    const advisories = new AdvisoryStore(server.services.db);
    const issues: Record<string, unknown> = {};
    for (let i = 0; i < 12_000; i++)
      issues[`CVE-2024-${10_000 + i}`] = {
        description: `demo: flaw ${i} `.repeat(40),
        releases: { stable: { status: 'resolved', fixed_version: `2.${i % 120}-1`, urgency: 'low', repositories: {} } },
      };
    const tracker = parseTracker({ demo: issues });
    await advisories.replace('debian-tracker', (write) => write(tracker.records));
    // read per fixed version, not per issue: 120 versions for 12,000 issues (the time is reported, not asserted)
    const t0 = performance.now();
    const st = server.gate.status('test');
    t.diagnostic(`the gate's status with 12,000 issues of one source: ${(performance.now() - t0).toFixed(1)} ms`);
    assert.equal(st.updates.find((u) => u.source === 'demo')?.fixes.length, 12_000);
    assert.equal(advisories.fixesFor('demo', 'stable').length, 120);
    const vera = await login(server.url, 'vera', PASSWORD);
    const r = await vera.call('GET', '/gate?stage=test');
    assert.equal(r.status, 200);
    const demo = (r.body.stages[0].updates as Array<{ source: string; fixes: unknown[]; lane: string }>).find(
      (u) => u.source === 'demo',
    );
    assert.deepEqual([demo?.fixes.length, demo?.lane], [12_000, 'normal']);
    // a feed fetched over plain http gives no fast lane: whoever is on the path could write it
    advisories.setFeed('debian-tracker', 'http://127.0.0.1/tracker.json');
    assert.deepEqual(advisories.fixesFor('demo', 'stable'), []);
    assert.deepEqual(server.gate.status('test').updates.find((u) => u.source === 'demo')?.fixes, []);
    advisories.setFeed('debian-tracker', 'https://127.0.0.1/unused');
    assert.equal(server.gate.status('test').updates.find((u) => u.source === 'demo')?.fixes.length, 12_000);
  });

  it("feeds that disagree on a CVE: the most urgent record decides the fast lane, whatever the feeds' order", async () => {
    const advisories = new AdvisoryStore(server.services.db);
    advisories.setFeed('dsa', 'https://127.0.0.1/unused');
    const base = { advisory: null, cve: 'CVE-2026-4242', source: 'demo', release: 'stable', pro: false };
    const rec = { fixedVersion: '3.0-1', status: 'fixed', published: null, summary: null } as const;
    // the DSA list names the CVE without an urgency; the tracker says high
    await advisories.replace('dsa', (write) =>
      write([{ ...base, ...rec, origin: 'dsa', advisory: 'DSA-9999-1', urgency: 'unknown' }]),
    );
    await advisories.replace('debian-tracker', (write) =>
      write([{ ...base, ...rec, origin: 'debian-tracker', urgency: 'high' }]),
    );
    const u = server.gate.status('test').updates.find((x) => x.source === 'demo');
    assert.deepEqual(u?.fixes, [{ cve: 'CVE-2026-4242', urgency: 'high' }]);
    assert.deepEqual([u?.lane, u?.fastLane], ['fast', 'fixes CVE-2026-4242 (high)']);
  });
});
