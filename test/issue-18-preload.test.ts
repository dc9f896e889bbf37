// Issue 18, pre-loading before the window. A real central aptgate over the fixture upstream (a
// gpg-signed repository of real .debs), real agents that installed version 1 (two reading the
// backend, one behind the gate's `test` stage), upstream publishes version 2: the central's list
// names exactly the .debs their upgrades will download (not the rest of the archive), once each,
// as the paths a site asks for. A second aptgate as a site cache (its backends: the central's
// /fixture and /stage/test/fixture, through a relay that counts and can corrupt .deb bodies)
// pre-loads that list: nothing outside its window, then exactly those files from the parent,
// within the rate, stored and served as hits; a client asking a file meanwhile shares the fill;
// a corrupted file is not kept while the others are.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryContext } from '../src/assembly/queries.js';
import { isAptgateError } from '../src/errors.js';
import { machineOutdated } from '../src/fleet/queries/machines.js';
import { preloadList, type PreloadAnswer } from '../src/fleet/queries/preload.js';
import { Preloader, type PreloadProgress } from '../src/proxy/preload.js';
import { inWindow, msUntilOpen } from '../src/proxy/preload-pace.js';
import { checkPreloadList, type PreloadList } from '../src/proxy/preload-list.js';
import { resolveTarget } from '../src/proxy/target.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { Relay } from './helpers/relay.js';
import { aptEnv, type AptEnv } from './helpers/apt.js';
import type { DebSpec } from './helpers/debs.js';
import type { Published } from './helpers/repo.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { settled, upstreamSeenBy } from './helpers/settle.js';
import { debOf, makeWorld, MiB, type World } from './helpers/world.js';

const deb = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({
  name,
  version,
  arch: 'all',
  ...more,
});
const BIG = 3 * MiB;
const v1 = [
  deb('alpha', '1.0-1'),
  deb('beta', '1.0-1'),
  deb('gamma', '1.0-1'),
  deb('delta', '1.0-1'),
  deb('bulky', '1.0-1', { payloadBytes: 1024 }),
];
const v2 = [
  deb('alpha', '2.0-1'),
  deb('beta', '2.0-1'),
  deb('gamma', '2.0-1'),
  deb('delta', '2.0-1'),
  deb('bulky', '2.0-1', { payloadBytes: BIG }),
];

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * What `work` resolves with, the longest stretch (ms) between two turns of the event loop meanwhile,
 * and how many turns the loop made.
 */
async function longestStretch<T>(work: () => Promise<T>): Promise<[T, number, number]> {
  let max = 0;
  let turns = 0;
  let last = performance.now();
  let probing = true;
  const probe = () => {
    const t = performance.now();
    max = Math.max(max, t - last);
    last = t;
    turns++;
    if (probing) setImmediate(probe);
  };
  setImmediate(probe);
  try {
    const r = await work();
    return [r, max, turns];
  } finally {
    probing = false;
  }
}

let world: World;
let central: TestServer;
let site: TestServer;
let relay: Relay;
let observer: AptEnv;
const agents: Record<string, TestAgent> = {};
const ids: Record<string, number> = {};
let list: PreloadAnswer;
let gen2: Published;

/** The site's target of a path at the parent: the central's test stage is the site's backend `central-test`. */
const siteResolve = (p: string) =>
  resolveTarget(p.replace(/^\/stage\/test\/fixture\//, '/central-test/'), site.proxy.backends);

describe('issue 18: pre-loading what the site machines will install, before the window', () => {
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
    const plain = [{ uri: `${central.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }];
    for (const [name, cls, install] of [
      ['web-1', undefined, ['alpha', 'gamma', 'bulky']],
      ['web-2', undefined, ['alpha', 'beta']],
      ['qa-1', 'qa', ['alpha', 'gamma', 'bulky']],
    ] as const) {
      const a = await createAgent(path.join(world.dir, name), central.url, {
        hostname: name,
        ...(cls ? {} : { sources: plain }),
      });
      agents[name] = a;
      // a class bound to a stage: enrolment writes the stage's sources and updates
      const token = central.fleet.enrolment.createToken({ autoApprove: true, ...(cls ? { class: cls } : {}) }).token;
      await a.runOk(['enroll', '--token', token]);
      ids[name] = a.state.identity()!.machine;
      if (!cls) assert.equal((await a.root.apt(['update', '--error-on=any'])).code, 0);
      const r = await a.root.apt(['install', '-y', ...install]);
      assert.equal(r.code, 0, r.output);
      await a.runOk(['run-once']);
    }
    await settled(central);
    // upstream publishes version 2 of everything; the central sees it, the test stage follows
    gen2 = await world.repo.publish('stable', [...v1, ...v2]);
    await upstreamSeenBy(central, observer, 'fixture', ['stable']);
    for (const a of Object.values(agents)) await a.runOk(['run-once']);
    await settled(central);

    relay = await Relay.start(central.url);
    const centralKey = path.join(world.dir, 'central-key.gpg');
    await writeFile(centralKey, (await central.gate.exportKey(true)).data);
    site = await startServer(
      testConfig(
        path.join(world.dir, 'site'),
        {
          fixture: { mirrors: [`${relay.url}/fixture`], keyring: world.key.keyring },
          'central-test': { mirrors: [`${relay.url}/stage/test/fixture`], keyring: centralKey },
        },
        (c) => {
          // the suites the site's machines read (a site that served them knows them already)
          for (const b of c.backends.values()) b.trackSuites = ['stable'];
        },
      ),
    );
  });

  after(async () => {
    await site?.close();
    await relay?.close();
    await central?.close();
    await world?.close();
  });

  it("the central's list: exactly the .debs the machines' upgrades download, once each, at the parent's paths", async () => {
    const ctx = queryContext(central.services);
    for (const name of Object.keys(agents)) {
      const o = machineOutdated(ctx, central.fleet.machines.byId(ids[name]!)!);
      assert.ok(o.known, `${name}: ${o.reason}`);
      assert.ok(o.entries.length > 0, `${name} has pending upgrades`);
    }
    list = await preloadList(ctx, [ids['web-1']!, ids['web-2']!, ids['qa-1']!, 999_999]);
    const at = (name: string, view?: string) => {
      const d = debOf(gen2, name, '2.0-1');
      return { path: `${view ? `/stage/${view}` : ''}/fixture/${d.filename}`, size: d.size, sha256: d.sha256 };
    };
    const got = list.items.map((i) => ({ ...i }));
    assert.deepEqual(got, [
      { ...at('alpha'), machines: 2 },
      { ...at('beta'), machines: 1 },
      { ...at('bulky'), machines: 1 },
      { ...at('gamma'), machines: 1 },
      { ...at('alpha', 'test'), machines: 1 },
      { ...at('bulky', 'test'), machines: 1 },
      { ...at('gamma', 'test'), machines: 1 },
    ]);
    assert.ok(!list.items.some((i) => /delta|_1\.0-1_/.test(i.path)), 'nothing no machine runs, no old version');
    assert.deepEqual(list.totals, { files: 7, bytes: got.reduce((s, i) => s + i.size, 0) });
    assert.deepEqual(list.machines, {
      asked: 4,
      counted: 3,
      unknown: [{ id: 999_999, reason: 'no such machine' }],
      unknownCount: 1,
    });
    assert.deepEqual(list.unresolved, []);
    // the list as a site receives it: checked, the same
    assert.deepEqual((await checkPreloadList(JSON.parse(JSON.stringify(list)))).items, list.items);
  });

  it('20,000 machines: one list, each file counted per machine, in slices', async () => {
    const ctx = queryContext(central.services);
    // 19,998 more machines like the three (a fleet shares few installed sets and views)
    const made = central.db
      .prepare(
        `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19997)
         INSERT INTO machine (machine_id, hostname, architecture, codename, status, secret, facts, enrolled_at,
                              profile_id, reported_at)
         SELECT printf('c%031d', n.i), 'clone-' || n.i, m.architecture, m.codename, m.status, m.secret, m.facts,
                m.enrolled_at, m.profile_id, m.reported_at
         FROM n JOIN machine m ON m.id = (CASE n.i % 3 WHEN 0 THEN ? WHEN 1 THEN ? ELSE ? END)`,
      )
      .run(ids['web-1']!, ids['web-2']!, ids['qa-1']!).changes;
    assert.equal(made, 19_998);
    central.db
      .prepare(
        `INSERT INTO machine_report (machine_id, reported_at, extras, view_id)
         SELECT c.id, r.reported_at, r.extras, r.view_id FROM machine c
         JOIN machine_report r ON r.machine_id = (CASE CAST(substr(c.hostname, 7) AS INTEGER) % 3
                                                  WHEN 0 THEN ? WHEN 1 THEN ? ELSE ? END)
         WHERE c.hostname LIKE 'clone-%'`,
      )
      .run(ids['web-1']!, ids['web-2']!, ids['qa-1']!);
    const all = central.db
      .prepare<[], { id: number }>('SELECT id FROM machine')
      .all()
      .map((r) => r.id);
    assert.equal(all.length, 20_001);
    // the longest stretch between two turns of the event loop while the list is made
    const t0 = performance.now();
    const [a, max, turns] = await longestStretch(() => preloadList(ctx, all));
    const ms = performance.now() - t0;
    central.db.prepare("DELETE FROM machine WHERE hostname LIKE 'clone-%'").run();
    // how long it holds the loop is a figure (bench:lag's business), not a test: a busy machine stretches it
    console.log(
      `preloadList over 20,001 machines: ${ms.toFixed(0)} ms, ${turns} turns of the event loop, longest stretch ${max.toFixed(1)} ms`,
    );
    assert.equal(a.machines.counted, 20_001);
    // the same files in the same order (the most needed first; ties by path)
    assert.deepEqual(
      a.items.map((i) => i.path),
      list.items.map((i) => i.path),
    );
    // web-1's and web-2's kind need alpha from the backend: two thirds of the fleet
    assert.equal(a.items[0]!.machines, 2 * 6_667);
    assert.ok(turns >= 3, `the event loop had ${turns} turns meanwhile`);
  });

  it('a hostile list is refused before anything is fetched', async () => {
    const good = { path: '/fixture/pool/main/a/alpha/alpha_2.0-1_all.deb', size: 1, sha256: 'a'.repeat(64) };
    for (const bad of [
      { ...good, path: '/fixture/pool/../../etc/passwd.deb' },
      { ...good, path: '/fixture/dists/stable/InRelease' },
      { ...good, path: '/stage/Prod/fixture/pool/a/a_1_all.deb' },
      { ...good, sha256: 'x' },
      { ...good, size: -1 },
    ]) {
      await assert.rejects(checkPreloadList({ items: [bad] }), (e) => isAptgateError(e, 'USAGE'));
    }
    await assert.rejects(checkPreloadList({ items: [good, { ...good, size: 2 }] }), (e) => isAptgateError(e, 'USAGE'));
    assert.deepEqual((await checkPreloadList({ items: [good, good] })).totals, { files: 1, bytes: 1 });
    const many = Array.from({ length: 100_000 }, (_, i) => ({
      ...good,
      path: `/stage/production--r12-to/fixture/pool/main/p/pkg${i}/pkg${i}_1.0-1_all.deb`,
    }));
    const [checked, max, turns] = await longestStretch(() => checkPreloadList({ items: many }));
    assert.equal(checked.totals.files, 100_000);
    // in slices (the longest stretch is mostly the garbage collector's, on a busy machine)
    console.log(`checking 100,000 items: ${turns} turns of the event loop, longest stretch ${max.toFixed(1)} ms`);
    assert.ok(turns >= 10, `checking 100,000 items gave the event loop ${turns} turns`);
    await assert.rejects(checkPreloadList({ items: [...many, good] }), (e) => isAptgateError(e, 'USAGE'));
  });

  it('the window across midnight, and a list replaced while a file is in flight', async () => {
    const w = { startMin: 23 * 60, endMin: 5 * 60 };
    const at = (h: number, m: number) => new Date(2026, 11, 7, h, m, 0);
    assert.deepEqual(
      [at(22, 59), at(23, 0), at(0, 0), at(4, 59), at(5, 0), at(12, 0)].map((d) => inWindow(w, d)),
      [false, true, true, true, false, false],
    );
    assert.equal(msUntilOpen(w, at(22, 0)), 3_600_000);
    assert.equal(msUntilOpen(w, at(5, 0)), 18 * 3_600_000);
    assert.equal(msUntilOpen(null, at(12, 0)), 0);
    assert.equal(msUntilOpen({ startMin: 60, endMin: 300 }, at(0, 30)), 30 * 60_000);

    // the first list's file in flight ends after the list was replaced: counted once, by the new list
    const item = (n: string) => ({
      path: `/fixture/pool/main/${n[0]}/${n}/${n}_1_all.deb`,
      size: 10,
      sha256: 'a'.repeat(64),
      machines: 1,
    });
    const stored = new Set<string>();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const pre = new Preloader(
      {
        resolve: (p) => resolveTarget(p, site.proxy.backends),
        expected: async () => ({ size: 10, sha256: 'a'.repeat(64) }),
        stored: async (key) => stored.has(key),
        fill: async (spec) => {
          if (spec.key.includes('/x_')) await held;
          stored.add(spec.key);
        },
      },
      { rate: 0, window: null, concurrency: 1 },
    );
    const fetching = once(pre, 'fetching');
    const first = pre.load({ items: [item('x'), item('y')], totals: { files: 2, bytes: 20 } });
    await fetching;
    const second = pre.load({ items: [item('x')], totals: { files: 1, bytes: 10 } });
    release();
    const [, p] = await Promise.all([first, second]);
    assert.deepEqual([p.state, p.files_done, p.files_total, p.bytes_done], ['done', 1, 1, 10]);
    assert.ok(!stored.has('fixture/pool/main/y/y/y_1_all.deb'), "the replaced list's other file was not fetched");

    // a run over cached files replaced mid-way: its files never count into the new list's progress
    // (done above total made the central refuse every report of the site)
    let asked = 0;
    let answer!: () => void;
    const answered = new Promise<void>((r) => (answer = r));
    let reached!: () => void;
    const lookingUp = new Promise<void>((r) => (reached = r));
    const cached = new Preloader(
      {
        resolve: (p) => resolveTarget(p, site.proxy.backends),
        expected: async () => ({ size: 10, sha256: 'a'.repeat(64) }),
        stored: async () => {
          // the second file's look-up is still out when the list changes
          if (++asked === 2) {
            reached();
            await answered;
          }
          return true;
        },
        fill: async () => undefined,
      },
      { rate: 0, window: null, concurrency: 1 },
    );
    const old = cached.load({
      items: ['p', 'q', 'r', 's'].map(item),
      totals: { files: 4, bytes: 40 },
    });
    await lookingUp;
    const fresh = cached.load({ items: [item('z')], totals: { files: 1, bytes: 10 } });
    answer();
    const [, c] = await Promise.all([old, fresh]);
    assert.deepEqual([c.state, c.files_done, c.files_total, c.bytes_done, c.bytes_total], ['done', 1, 1, 10, 10]);
  });

  it('the site pre-loads its plain files: nothing outside the window, then exactly those files, within the rate; then hits', async () => {
    const plain: PreloadList = await checkPreloadList({
      items: list.items.filter((i) => !i.path.startsWith('/stage/')),
    });
    const rate = 2 * MiB;
    // local 22:59, the window 23:00-05:00 (across midnight)
    let clock = new Date(2026, 11, 7, 22, 59, 0);
    const pre = Preloader.forRuntime(site.proxy, {
      rate,
      window: { startMin: 23 * 60, endMin: 5 * 60 },
      now: () => clock,
      resolve: siteResolve,
    });
    const done = pre.load(plain);
    assert.equal(pre.progress().state, 'waiting-window');
    // the clock moves, still outside: it looks again and keeps waiting
    clock = new Date(2026, 11, 7, 22, 59, 50);
    const looked = once(pre, 'waiting');
    pre.wake();
    await looked;
    assert.equal(pre.progress().state, 'waiting-window');
    assert.deepEqual(relay.debs, [], 'nothing fetched outside the window');

    clock = new Date(2026, 11, 8, 0, 30, 0);
    const t0 = performance.now();
    pre.wake();
    const p = await done;
    const seconds = (performance.now() - t0) / 1000;
    assert.deepEqual({ ...p, last_error: p.last_error }, {
      state: 'done',
      files_done: 4,
      files_total: 4,
      bytes_done: plain.totals.bytes,
      bytes_total: plain.totals.bytes,
      files_cached: 0,
      files_failed: 0,
      bytes_fetched: plain.totals.bytes,
      last_error: null,
    } satisfies PreloadProgress);
    assert.deepEqual([...relay.debs].sort(), plain.items.map((i) => i.path).sort(), 'each file once from the parent');
    assert.equal(relay.debBytes, plain.totals.bytes);
    const measured = plain.totals.bytes / seconds;
    console.log(
      `pre-loaded ${plain.totals.files} files, ${plain.totals.bytes} bytes in ${seconds.toFixed(2)} s: ` +
        `${(measured / MiB).toFixed(2)} MiB/s at a limit of ${rate / MiB} MiB/s`,
    );
    assert.ok(plain.totals.bytes > 3 * MiB);
    assert.ok(measured <= rate * 1.1, `${measured} bytes/s over the limit ${rate}`);
    assert.ok(measured >= rate * 0.25, `${measured} bytes/s: far below the limit, not paced but slow`);

    // served afterwards from the site's cache, as the signed index says
    for (const i of plain.items) {
      const r = await fetch(`${site.url}${i.path}`);
      assert.equal(r.headers.get('x-aptgate-result'), 'hit', i.path);
      assert.equal(sha256(Buffer.from(await r.arrayBuffer())), i.sha256);
    }
    // the same list again: every file counts as done at once, nothing fetched
    const again = await pre.load(plain);
    assert.deepEqual([again.state, again.files_done, again.files_cached, again.bytes_fetched], ['done', 4, 4, 0]);
    assert.equal(relay.debs.length, 4);
    await pre.stop();
  });

  it("the stage's files: a client asking one meanwhile shares its fill (unpaced); a corrupted file is not kept, the others are", async () => {
    const staged = await checkPreloadList({ items: list.items.filter((i) => i.path.startsWith('/stage/test/')) });
    const bulky = staged.items.find((i) => i.path.includes('/bulky_'))!;
    const gamma = staged.items.find((i) => i.path.includes('/gamma_'))!;
    relay.corrupt = (p) => p.includes('/gamma_');
    relay.debs.length = 0;
    // slow enough that the client's request finds the fill running (3 MiB at 64 KiB/s: 48 s)
    const pre = Preloader.forRuntime(site.proxy, { rate: 64 * 1024, window: null, resolve: siteResolve });
    const fetching = new Promise<void>((resolve) =>
      pre.on('fetching', (p: string) => {
        if (p === bulky.path) resolve();
      }),
    );
    const done = pre.load(staged);
    await fetching;
    const t0 = performance.now();
    const r = await fetch(`${site.url}/${siteResolve(bulky.path).key}`);
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(r.headers.get('x-aptgate-result'), 'coalesced');
    assert.equal(sha256(body), bulky.sha256);
    assert.ok(performance.now() - t0 < 20_000, 'the client was not held to the pre-loading rate');
    const p = await done;
    assert.equal(p.state, 'failed');
    assert.equal(p.files_done, 2);
    assert.equal(p.files_failed, 1);
    assert.match(p.last_error ?? '', /gamma_2\.0-1_all\.deb: .*SHA256/);
    assert.deepEqual([...relay.debs].sort(), staged.items.map((i) => i.path).sort(), 'one request each');
    assert.equal(await site.proxy.store.stat(siteResolve(gamma.path).key), undefined, 'the corrupted file is not kept');
    const hit = await fetch(`${site.url}/${siteResolve(bulky.path).key}`);
    assert.equal(hit.headers.get('x-aptgate-result'), 'hit');
    await hit.arrayBuffer();
    await pre.stop();
  });
});
