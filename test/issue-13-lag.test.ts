// Issue 13, event-loop budget: the server measures its own event-loop delay (/-/metrics, a new
// window by SIGUSR2) and counts a hold for as long as it lasted; outdated answers and the
// refresh after a new snapshot are computed in the server's worker thread, with the answers the
// event loop itself would give (for upstream and for stage views); views that differ only in
// their preferences share one in memory. (How long anything takes is bench:lag's business.)
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OutdatedCalc } from '../src/fleet/outdated-calc.js';
import { ViewLoader, type ViewSpec } from '../src/fleet/views.js';
import { parseStatus } from '../src/index/status.js';
import { ProfileStore } from '../src/state/profiles.js';
import { statusFromPackages } from './helpers/compare.js';
import type { DebSpec } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';

const deb = (name: string, version: string): DebSpec => ({ name, version, arch: 'all' });

let world: World;
let server: TestServer;

async function metrics(): Promise<string> {
  const r = await fetch(`${server.url}/-/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

function sample(text: string, name: string): number {
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} is in /-/metrics`);
  return Number(m[1]);
}

/** What apt does for the suite: InRelease, then Packages; then the server settles on the new snapshot. */
async function indexRequest(): Promise<void> {
  const was = server.proxy.snapshots.latest('fixture', 'stable', 'inrelease')?.id ?? 0;
  const linked = new Promise<void>((resolve) =>
    server.proxy.indexer.onLinked((id) => {
      if (id > was) resolve();
    }),
  );
  for (const p of ['dists/stable/InRelease', 'dists/stable/main/binary-amd64/Packages.xz']) {
    const r = await fetch(`${server.url}/fixture/${p}`);
    assert.equal(r.status, 200, p);
    await r.arrayBuffer();
  }
  await linked;
  // the refresh and the gate are started on the next turn after the link
  await new Promise((r) => setImmediate(r));
  await server.gate.idle();
  await server.outdated.idle();
}

/** demo, other and third installed at 1.0-1, as dpkg writes them (from the repository's Packages). */
async function status(): Promise<string> {
  const packages = await execOk('xz', ['-dc', world.repo.path('dists/stable/main/binary-amd64/Packages.xz')]);
  return statusFromPackages(packages, (p) => (p['version'] === '1.0-1' ? 'install ok installed' : undefined));
}

/** An upstream view's answer computed here, on the test's thread, from the same database (the reference). */
function reference(spec: ViewSpec, profileId: number) {
  const site = new URL(world.backend.mirrors[0]!).hostname;
  const views = new ViewLoader(server.proxy.snapshots, server.proxy.packageIndex, () => site);
  return new OutdatedCalc(new ProfileStore(server.db)).result(profileId, views.load(spec));
}

describe('issue 13: the event-loop budget', () => {
  before(async () => {
    world = await makeWorld({
      debs: [deb('demo', '1.0-1'), deb('demo', '2.0-1'), deb('other', '1.0-1'), deb('third', '1.0-1')],
    });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    await indexRequest();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('/-/metrics reports the event-loop delay; a hold counts for every 10 ms it lasted; SIGUSR2 opens a new window', async () => {
    const first = await metrics();
    assert.match(first, /^# TYPE aptgate_event_loop_delay_seconds summary$/m);
    for (const q of ['0.5', '0.9', '0.99', '0.999', '1'])
      sample(first, `aptgate_event_loop_delay_seconds{quantile="${q}"}`);
    const start = sample(first, 'aptgate_event_loop_delay_window_start_seconds');
    const count = sample(first, 'aptgate_event_loop_delay_seconds_count');
    // hold this thread (the server's) for 300 ms: the sampler fires late once and counts 30 samples
    const t0 = performance.now();
    while (performance.now() - t0 < 300) {
      /* holding the loop */
    }
    const held = await metrics();
    assert.ok(sample(held, 'aptgate_event_loop_delay_seconds{quantile="1"}') >= 0.28, 'the longest delay is the hold');
    assert.ok(
      sample(held, 'aptgate_event_loop_delay_seconds_count') - count >= 25,
      'the hold is counted once per 10 ms',
    );
    // 290 + 280 + ... + 10 ms: each 10 ms of the hold adds what was left of it
    assert.ok(sample(held, 'aptgate_event_loop_delay_seconds_sum') >= 3);
    // the operator (or bench:lag) opens a new window by signal; no request can
    const before = sample(held, 'aptgate_event_loop_delay_seconds_count');
    assert.equal(
      sample(
        await (await fetch(`${server.url}/-/metrics?reset=1`)).text(),
        'aptgate_event_loop_delay_window_start_seconds',
      ),
      start,
    );
    process.kill(process.pid, 'SIGUSR2');
    let after = held;
    for (let i = 0; i < 1000 && sample(after, 'aptgate_event_loop_delay_window_start_seconds') === start; i++)
      after = await metrics();
    assert.ok(sample(after, 'aptgate_event_loop_delay_window_start_seconds') > start, 'a new window opened');
    assert.ok(sample(after, 'aptgate_event_loop_delay_seconds_count') < before, 'the hold is no longer in it');
    // background work is shown by task; nothing runs now
    for (const task of ['indexer', 'outdated'])
      assert.equal(sample(after, `aptgate_background_busy{task="${task}"}`), 0);
  });

  it('answers prepared and refreshed in the worker are the answers of the event loop, for upstream and stage views', async () => {
    const profile = server.profiles.store(parseStatus(await status()));
    const specs: ViewSpec[] = [
      { sources: [{ backend: 'fixture', suite: 'stable', components: ['main'] }], arch: 'amd64', foreignArchs: [] },
      {
        sources: [{ backend: 'fixture', suite: 'stable', stage: 'test', components: ['main'] }],
        arch: 'amd64',
        foreignArchs: [],
      },
    ];
    const ids = specs.map((s) => server.outdated.defineView(s));
    const computed = server.outdated.stats.computed;
    for (const id of ids) await server.outdated.prepare(profile.id, id);
    assert.equal(server.outdated.stats.computed - computed, 2, 'both answers computed in the worker');
    const upstream = server.outdated.get(profile.id, ids[0]!);
    assert.equal(upstream.cached, true, 'get() finds the prepared answer');
    assert.deepEqual(upstream.result, reference(specs[0]!, profile.id));
    assert.deepEqual(
      upstream.result.entries.map((e) => `${e.package} ${e.candidateVersion}`),
      ['demo 2.0-1'],
    );
    const stage = server.outdated.get(profile.id, ids[1]!);
    assert.equal(stage.cached, true);
    assert.deepEqual(
      stage.result.entries.map((e) => `${e.package} ${e.candidateVersion}`),
      ['demo 2.0-1'],
    );
    // prepared again: cached and current, nothing to compute
    for (const id of ids) await server.outdated.prepare(profile.id, id);
    assert.equal(server.outdated.stats.computed - computed, 2);

    // a new snapshot: other moves on; the worker's refresh recomputes, the stage follows
    await world.repo.publish('stable', [
      deb('demo', '1.0-1'),
      deb('demo', '2.0-1'),
      deb('other', '1.0-1'),
      deb('other', '3.0-1'),
      deb('third', '1.0-1'),
    ]);
    const before = { ...server.outdated.stats };
    await indexRequest();
    assert.ok(server.outdated.stats.computed > before.computed, 'computed again (other changed)');
    const refreshed = server.outdated.get(profile.id, ids[0]!);
    assert.equal(refreshed.cached, true, 'the refresh cached it');
    assert.deepEqual(refreshed.result, reference(specs[0]!, profile.id));
    assert.deepEqual(
      refreshed.result.entries.map((e) => `${e.package} ${e.candidateVersion}`),
      ['demo 2.0-1', 'other 3.0-1'],
    );
  });

  it('views that differ only in their preferences share one view in memory', async () => {
    const views = new ViewLoader(server.proxy.snapshots, server.proxy.packageIndex, () => '127.0.0.1');
    const plain: ViewSpec = {
      sources: [{ backend: 'fixture', suite: 'stable', components: ['main'] }],
      arch: 'amd64',
      foreignArchs: [],
    };
    const pinned: ViewSpec = { ...plain, preferences: 'Package: demo\nPin: version 1.0-1\nPin-Priority: 1001\n' };
    const a = views.load(plain);
    const b = views.load(pinned);
    assert.equal(a.view, b.view);
    assert.deepEqual([a.pins.length, b.pins.length], [0, 1]);
    // and they still answer each with its own preferences
    const calc = new OutdatedCalc(new ProfileStore(server.db));
    const profile = server.profiles.store(parseStatus(await status()));
    assert.deepEqual(
      calc.result(profile.id, a).entries.map((e) => e.package),
      ['demo', 'other'],
    );
    assert.deepEqual(
      calc.result(profile.id, b).entries.map((e) => e.package),
      ['other'],
    );
    // another architecture is another view
    assert.notEqual(views.load({ ...plain, foreignArchs: ['i386'] }).view, a.view);
  });
});
