// Issue 17: the CVEs and bugs a pending update's own changelog names, read from the candidate's
// .deb in aptgate's cache. A real signed repository (the real libssl3 3.0.22-1~deb12u2 next to
// crafted packages: an epoch with a binNMU and several entries, a doc directory linked to another
// package, a gzip bomb of a changelog, a package whose cached bytes are not a .deb), a real
// server fetching the .debs through its proxy, and a machine reporting older versions: its
// outdated answer (API, CLI --json, CLI) says `pending`, then names the real CVEs once read;
// a second ask reads nothing again; hostile packages are `unavailable` and nothing breaks.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { CollectedExtras } from '../src/agent/types.js';
import { ChangelogRefsService, type PendingUpdate } from '../src/advisories/changelog-refs.js';
import { packagesText } from '../src/index/profile-record.js';
import { parseStatus } from '../src/index/status.js';
import { openDb } from '../src/state/db.js';
import { addTestUsers, login, PASSWORD, type SessionClient } from './helpers/api.js';
import type { DebSpec } from './helpers/debs.js';
import { enrolMachine, runCli, type TestMachine } from './helpers/fleet-api.js';
import { disposeTestKey, loadTestKey, type TestKey } from './helpers/gpg.js';
import { request } from './helpers/http.js';
import { fixturesDir } from './helpers/paths.js';
import { FixtureRepo, type Published } from './helpers/repo.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { FixtureUpstream } from './helpers/upstream.js';

const LIBSSL3 = path.join(fixturesDir, 'debs', 'libssl3_3.0.22-1~deb12u2_amd64.deb');
// what the real changelog names between 3.0.20-1~deb12u2 and 3.0.22-1~deb12u2, newest entry first
const LIBSSL3_CVES = [
  'CVE-2026-84782',
  'CVE-2026-35189',
  'CVE-2026-54872',
  'CVE-2026-75805',
  'CVE-2026-75806',
  'CVE-2026-77696',
  'CVE-2026-42767',
  'CVE-2026-54874',
  'CVE-2026-63072',
  'CVE-2026-63074',
  'CVE-2026-63076',
  'CVE-2026-75803',
];

const entry = (src: string, v: string, lines: string[], extra = '') =>
  `${src} (${v}) unstable; urgency=medium${extra}\n\n${lines.map((l) => `  * ${l}\n`).join('')}\n` +
  ` -- Aptgate Tests <test@aptgate.invalid>  Mon, 01 Jan 2024 12:00:00 +0000\n\n`;

// an epoch, several entries and a binNMU of its own (changelog.Debian.amd64.gz)
const zeta: DebSpec = {
  name: 'zeta',
  version: '1:2.0-1+b1',
  source: 'zeta-src (1:2.0-1)',
  changelog:
    entry('zeta-src', '1:2.0-1', ['Fix CVE-2024-0002 and cve-2024-0003. Closes: #1002']) +
    entry('zeta-src', '1:1.5-1', ['Fix CVE-2024-0001 (LP: #5001)']) +
    entry('zeta-src', '1:1.0-1', ['Fix CVE-2023-0100. Closes: #1000']) +
    entry('zeta-src', '0.9-1', ['Fix CVE-2023-0009']),
  binnmuChangelog: entry('zeta', '1:2.0-1+b1', ['Rebuild against libfoo. Closes: #9999'], ', binary-only=yes'),
};
// its doc directory is a symlink to eta's: eta's changelog is read
const eta: DebSpec = {
  name: 'eta',
  version: '3.0-1',
  changelog: entry('eta', '3.0-1', ['Fix CVE-2025-3000 (LP: #3000)']) + entry('eta', '2.0-1', ['Fix CVE-2025-2000']),
};
const etaDev: DebSpec = { name: 'eta-dev', version: '3.0-1', source: 'eta', docLink: 'eta' };
// 64 MiB of zeros in 64 KiB of gzip: over the cap once unpacked
const bomb: DebSpec = { name: 'bomb', version: '1.0-2', changelog: gzipSync(Buffer.alloc(64 * 1024 * 1024)) };
// its bytes come wrong from upstream at first: the fill's SHA256 check refuses them
const theta: DebSpec = { name: 'theta', version: '1.0-2', changelog: entry('theta', '1.0-2', ['Fix CVE-2024-8888']) };
const junk: DebSpec = { name: 'junk', version: '1.0-2', changelog: entry('junk', '1.0-2', ['CVE-2024-7777']) };

const INSTALLED: Array<[string, string, string?]> = [
  ['libssl3', '3.0.20-1~deb12u2', 'openssl'],
  ['zeta', '1:1.0-1'],
  ['eta-dev', '2.0-1', 'eta'],
  ['bomb', '1.0-1'],
  ['junk', '1.0-1'],
  ['theta', '1.0-1'],
];

/** The event loop's longest stall from now until the function returned is called (apt clients share the loop). */
function stallProbe(): () => number {
  let worst = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 2);
    last = now;
  }, 2);
  return () => {
    clearInterval(probe);
    return worst;
  };
}

interface Pkg {
  package: string;
  candidateVersion: string;
  cves: string[];
  closes: number[];
  launchpad: number[];
  refs: string;
}

describe('issue 17: what the changelogs of pending updates name', () => {
  let dir: string;
  let key: TestKey;
  let upstream: FixtureUpstream;
  let pub: Published;
  let server: TestServer;
  let admin: SessionClient;
  let machine: TestMachine;
  let clockOffset = 0;

  const ask = async (): Promise<Map<string, Pkg>> => {
    const r = await admin.call('GET', `/machines/${machine.id}/outdated`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.known, true, JSON.stringify(r.body));
    return new Map((r.body.packages as Pkg[]).map((p) => [p.package, p]));
  };
  const fileOf = (name: string) => pub.debs.find((d) => d.name === name)!.filename;
  const refs = () => server.services.changelogRefs;
  /** the machine reports the older versions (the server computes its outdated answer after) */
  const report = async () => {
    const status = INSTALLED.map(
      ([name, v, src]) =>
        `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\n${src ? `Source: ${src}\n` : ''}Version: ${v}\n\n`,
    ).join('');
    const p = packagesText(parseStatus(status));
    const extras: CollectedExtras = {
      holds: [],
      preferences: [],
      dpkg: { audit: '', interrupted: false },
      sources: [
        {
          path: '/etc/apt/sources.list.d/fixture.sources',
          content: `Types: deb\nURIs: ${upstream.base}\nSuites: stable\nComponents: main\n`,
        },
      ],
      aptUpgradable: [],
      reboot: { required: false, packages: [] },
    };
    await server.services.fleet.report(machine.id, {
      machineId: machine.machineId,
      state: 'state-1',
      packages: { hash: p.hash, full: gzipSync(p.text) },
      extras,
    });
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i17-refs-'));
    key = await loadTestKey(dir, 'archive');
    const repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
    pub = await repo.publish('stable', [zeta, eta, etaDev, bomb, junk, theta], { extraDebs: [LIBSSL3] });
    upstream = await FixtureUpstream.start(repo.root, { prefix: '/debian' });
    server = await startServer(
      testConfig(path.join(dir, 'srv'), { fixture: { mirrors: [upstream.base], keyring: key.keyring } }, (c) => {
        c.advisories.changelogs = 'fetch';
      }),
      { now: () => Date.now() + clockOffset },
    );
    // the suite as an apt client's update leaves it: InRelease and Packages through the proxy, indexed
    for (const p of ['dists/stable/InRelease', 'dists/stable/main/binary-amd64/Packages.xz']) {
      assert.equal((await request(server.port, `/fixture/${p}`)).status, 200, p);
    }
    await server.proxy.indexer.idle();
    // junk's cached bytes are not a .deb (what the reader must survive whatever put them there)
    const junkFile = server.proxy.store.pathOf(`fixture/${fileOf('junk')}`);
    await mkdir(path.dirname(junkFile), { recursive: true });
    await writeFile(junkFile, 'this is not a Debian package\n');

    await addTestUsers(server.services);
    admin = await login(server.url, 'alice', PASSWORD);
    machine = enrolMachine(server.services, 'web-1');
  });
  after(async () => {
    await server?.close();
    await upstream?.close();
    if (key) await disposeTestKey(key);
    await rm(dir, { recursive: true, force: true });
  });

  it('read in the background once the answer is computed after a report: the .debs fetched through the proxy, read once', async (t) => {
    assert.equal(upstream.hits(fileOf('libssl3')), 0, 'not in the cache yet');
    upstream.fault(fileOf('theta'), { kind: 'wrong-bytes' });
    await report();
    const stalls = stallProbe();
    await waitFor(() => refs().stats.read + refs().stats.failed === 6, 'the six changelogs read');
    await refs().idle();
    t.diagnostic(`longest event loop stall (report, answers, reading the .debs): ${stalls().toFixed(1)} ms`);

    const second = await ask();
    const ssl = second.get('libssl3')!;
    assert.equal(ssl.candidateVersion, '3.0.22-1~deb12u2');
    assert.deepEqual([ssl.refs, ssl.cves, ssl.closes, ssl.launchpad], ['known', LIBSSL3_CVES, [], []]);
    // fetched once, through the proxy, and kept in its cache (an apt client's request is now a hit)
    assert.equal(upstream.hits(fileOf('libssl3')), 1);
    assert.equal(upstream.hits(fileOf('eta')), 1);
    const hit = await request(server.port, `/fixture/${fileOf('libssl3')}`);
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-aptgate-result'], 'hit');

    // epoch, several entries and a binNMU's own entry; lower-case cve ids upper-cased
    assert.deepEqual(
      (({ refs, cves, closes, launchpad }) => ({ refs, cves, closes, launchpad }))(second.get('zeta')!),
      {
        refs: 'known',
        cves: ['CVE-2024-0002', 'CVE-2024-0003', 'CVE-2024-0001'],
        closes: [1002, 9999],
        launchpad: [5001],
      },
    );
    // the doc directory links to eta: eta's changelog, fetched too
    const dev = second.get('eta-dev')!;
    assert.deepEqual([dev.refs, dev.cves, dev.launchpad], ['known', ['CVE-2025-3000'], [3000]]);
    // hostile ones: unavailable, with nothing named
    for (const name of ['bomb', 'junk', 'theta']) {
      const h = second.get(name)!;
      assert.deepEqual([h.refs, h.cves, h.closes, h.launchpad], ['unavailable', [], [], []], name);
    }
    const failures = server.services.changelogRefs.reads;
    assert.match(failures.get('bomb', '1.0-2')!.error!, /more than \d+ bytes unpacked/);
    assert.match(failures.get('junk', '1.0-2')!.error!, /not a readable Debian package/);
    assert.equal(failures.get('bomb', '1.0-2')!.retryAt, null, 'verified bytes stay bad: never read again');

    // a third ask reads nothing again: no new read, no new fetch
    const stats = { ...server.services.changelogRefs.stats };
    const requests = upstream.totalHits();
    const third = await ask();
    await server.services.changelogRefs.idle();
    assert.deepEqual(server.services.changelogRefs.stats, stats);
    assert.equal(upstream.totalHits(), requests);
    assert.deepEqual(third, second);
    assert.deepEqual([stats.read, stats.failed], [3, 3]);
  });

  it('an update not read yet is pending, and queued when asked: read from the cache, not fetched again', async (t) => {
    server.db.prepare("DELETE FROM changelog_read WHERE source IN ('openssl', 'zeta-src')").run();
    const local = async () =>
      JSON.parse(
        await runCli(['machines', 'outdated', 'web-1', '--json', '--db', server.config.db], {
          APTGATE_SERVER: undefined,
        }),
      ) as { packages: Pkg[] };
    const before = { ...refs().stats };
    // the command line on the server host reads nothing itself: pending
    const cli = (await local()).packages.filter((p) => p.refs === 'pending').map((p) => p.package);
    assert.deepEqual(cli.sort(), ['libssl3', 'zeta']);
    assert.deepEqual(refs().stats, before);
    // the server's answer queues them
    const first = await ask();
    assert.deepEqual([first.get('libssl3')!.refs, first.get('libssl3')!.cves], ['pending', []]);
    assert.equal(first.get('eta-dev')!.refs, 'known');
    const stalls = stallProbe();
    await refs().idle();
    t.diagnostic(`longest event loop stall (reading 2 cached .debs): ${stalls().toFixed(1)} ms`);
    assert.equal(refs().stats.read, before.read + 2);
    const again = await ask();
    assert.deepEqual([again.get('libssl3')!.refs, again.get('libssl3')!.cves], ['known', LIBSSL3_CVES]);
    assert.equal(again.get('zeta')!.refs, 'known');
    assert.equal(upstream.hits(fileOf('libssl3')), 1, 'read from the cache');
  });

  it('a failed fetch is remembered: not fetched again on every ask, tried again hours later', async () => {
    const failed = refs().reads.get('theta', '1.0-2')!;
    assert.match(failed.error!, /not fetched/);
    assert.equal(failed.retryAt, failed.readAt + 6 * 3_600_000);
    assert.equal(upstream.hits(fileOf('theta')), 1);
    assert.equal(await server.proxy.store.stat(`fixture/${fileOf('theta')}`), undefined, 'wrong bytes never cached');
    upstream.clearFaults();
    assert.equal((await ask()).get('theta')!.refs, 'unavailable');
    await refs().idle();
    assert.equal(upstream.hits(fileOf('theta')), 1, 'not tried again yet');
    // seven hours later the next ask tries again
    clockOffset += 7 * 3_600_000;
    assert.equal((await ask()).get('theta')!.refs, 'unavailable');
    await refs().idle();
    const again = (await ask()).get('theta')!;
    assert.deepEqual([again.refs, again.cves], ['known', ['CVE-2024-8888']]);
    assert.equal(upstream.hits(fileOf('theta')), 2);
  });

  it('the command line shows the same references (read from the store, nothing fetched)', async () => {
    const json = JSON.parse(
      await runCli(['machines', 'outdated', 'web-1', '--json', '--db', server.config.db], {
        APTGATE_SERVER: undefined,
      }),
    ) as { packages: Pkg[] };
    const ssl = json.packages.find((p) => p.package === 'libssl3')!;
    assert.deepEqual([ssl.refs, ssl.cves], ['known', LIBSSL3_CVES]);
    const human = await runCli(['machines', 'outdated', 'web-1', '--db', server.config.db], {
      APTGATE_SERVER: undefined,
    });
    assert.match(human, /^changelogs name:$/m);
    assert.match(human, /^ {2}libssl3: CVE-2026-84782, CVE-2026-35189, .*CVE-2026-75803$/m);
    assert.match(human, /^ {2}zeta: CVE-2024-0002, CVE-2024-0003, CVE-2024-0001, closes #1002, #9999, LP #5001$/m);
    assert.match(human, /^ {2}\(changelog unavailable: 2\)$/m); // bomb and junk
  });

  it('bounded: a full queue drops updates (queued again when asked again), a failure is not retried on every ask', async () => {
    const db = openDb(path.join(dir, 'bounded.db'));
    try {
      let fetched = 0;
      const service = new ChangelogRefsService(db, { maxQueue: 2 });
      service.attach({
        fetch: () => {
          fetched++;
          return Promise.resolve(undefined);
        },
      });
      const update = (name: string): PendingUpdate => ({
        package: name,
        candidateArchitecture: 'amd64',
        installedVersion: '1.0-1',
        candidateVersion: '1.0-2',
        source: name,
        sourceVersion: '1.0-2',
        origins: [{ backend: 'fixture' }],
      });
      const three = ['a', 'b', 'c'].map(update);
      assert.equal(service.enqueue(three), 2);
      assert.equal(service.enqueue(three), 0, 'the two are queued already, the queue is full');
      assert.equal(service.stats.dropped, 2);
      await service.idle();
      // no index of this database names their files: failed, retried only hours later
      assert.deepEqual([service.stats.read, service.stats.failed, fetched], [0, 2, 0]);
      assert.match(service.reads.get('a', '1.0-2')!.error!, /no index names its file/);
      assert.equal(service.enqueue(three), 1, 'only the dropped one');
      await service.idle();
      assert.equal(service.enqueue(three), 0);
      assert.equal(service.enqueue([{ ...update('d'), origins: [{ backend: undefined }] }]), 0, 'no backend: not ours');
      await service.close();
      assert.equal(service.enqueue([update('e')]), 0, 'closed');
    } finally {
      db.close();
    }
  });
});
