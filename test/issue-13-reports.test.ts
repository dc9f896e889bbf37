// Issue 13, defect 5: one enrolled (compromised) machine stalled the server and bloated its
// database with signed agent.report calls of 480,000 package lines. Over real HTTP against a
// real server: reports beyond the package-count and unpacked-size limits are refused (fault 11)
// and store nothing, reports at the limits pass, reports that carry packages are rate limited
// per machine (fault 12) while check-ins and reports by hash are not, and a machine that
// reports a different large set each time leaves the database the size it was.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { applySetting } from '../src/config.js';
import { packagesTextOfLines, linesOf } from '../src/index/profile-record.js';
import { encodeCall } from '../src/protocol/codec.js';
import { faultCodes } from '../src/protocol/faults.js';
import { createAgent } from './helpers/agent.js';
import {
  bigPackages,
  enrolOverHttp,
  faultOf,
  fullReportBody,
  postSigned,
  reportBody,
  type Enrolled,
} from './helpers/reports.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

const pages = (s: TestServer) => s.db.pragma('page_count', { simple: true }) as number;
const count = (s: TestServer, table: string) =>
  (s.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const profileOf = (xml: string) => Number(/<name>profile<\/name>\s*<value>\s*<int>(\d+)<\/int>/.exec(xml)?.[1]);

describe('issue 13: agent reports are limited in size and rate, and do not grow the database', () => {
  let dir: string;
  // the shipped limits: report_max_packages 20000, report_max_bytes 16M, report_rate 20
  let server: TestServer;
  // small limits: 1,000 packages, the unpacked size of one 1,000-line set, 3 reports a minute
  let small: TestServer;
  const atLimit = bigPackages(1000, 'limit');

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i13-reports-'));
    server = await startServer(testConfig(path.join(dir, 'default'), {}));
    small = await startServer(
      testConfig(path.join(dir, 'small'), {}, (c) => {
        applySetting(c, 'fleet.report_max_packages', '1000');
        applySetting(c, 'fleet.report_max_bytes', String(Buffer.byteLength(atLimit.text)));
        applySetting(c, 'fleet.report_rate', '3');
        // a backend, so that a report's sources make a view
        applySetting(c, 'backend.debian.mirrors', 'http://deb.debian.org/debian');
      }),
    );
  });
  after(async () => {
    await server?.close();
    await small?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const enrol = async (s: TestServer, name: string): Promise<Enrolled> =>
    enrolOverHttp(s.url, s.fleet.enrolment.createToken({ autoApprove: true }).token, name);

  it('refuses the 480,000-line report (62 MiB unpacked) with REPORT_TOO_LARGE and stores nothing', async () => {
    const m = await enrol(server, 'attacker');
    const attack = bigPackages(480_000, 'a');
    assert.ok(Buffer.byteLength(attack.text) > 60 * 1024 * 1024);
    const before = pages(server);
    const xml = await postSigned(server.url, m, fullReportBody(m, attack));
    assert.equal(faultOf(xml), faultCodes.REPORT_TOO_LARGE, xml.slice(0, 300));
    await server.fleet.reports.retention.idle();
    assert.equal(count(server, 'profile'), 0);
    assert.equal(count(server, 'inst_pkg'), 0);
    assert.equal(server.fleet.machines.byId(m.machine)!.profileId, null);
    assert.ok(pages(server) - before < 16, `the database grew by ${pages(server) - before} pages`);
    // a gzip bomb: 64 MiB of newlines in 64 KB is refused the same way (decompression stops at the limit)
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x0a), { level: 9 });
    assert.equal(
      faultOf(await postSigned(server.url, m, reportBody(m, { hash: 'e'.repeat(64), full: bomb }))),
      faultCodes.REPORT_TOO_LARGE,
    );
    // the machine itself still works: a normal report goes through
    const normal = bigPackages(2000, 'normal');
    assert.ok(profileOf(await postSigned(server.url, m, fullReportBody(m, normal))) > 0);
  });

  it('accepts a report at both limits and refuses one package or one byte more, in full and as a delta', async () => {
    const m = await enrol(small, 'at-limit');
    const accepted = await postSigned(small.url, m, fullReportBody(m, atLimit));
    assert.equal(faultOf(accepted), undefined, accepted.slice(0, 300));
    assert.equal(small.fleet.machines.byId(m.machine)!.profileId, profileOf(accepted));
    assert.equal(small.profiles.byId(profileOf(accepted))!.count, 1000);

    const other = await enrol(small, 'over-limit');
    const lines = linesOf(atLimit.text);
    // 1,001 packages (and more bytes): refused for the count
    const more = packagesTextOfLines([...lines, linesOf(bigPackages(1, 'extra').text)[0]!]);
    assert.equal(faultOf(await postSigned(small.url, other, fullReportBody(other, more))), faultCodes.REPORT_TOO_LARGE);
    // 1,000 packages, one byte more than the limit: refused for the size
    const longer = packagesTextOfLines([...lines.slice(1), lines[0]!.replace('"libc6 (>= 2.36)', '"libc6 (>= 2.360)')]);
    assert.equal(Buffer.byteLength(longer.text), Buffer.byteLength(atLimit.text) + 1);
    assert.equal(
      faultOf(await postSigned(small.url, other, fullReportBody(other, longer))),
      faultCodes.REPORT_TOO_LARGE,
    );
    // a delta from the stored set at the limit that adds one package
    const added = linesOf(bigPackages(1, 'added').text)[0]!;
    const grown = packagesTextOfLines([...lines, added]);
    const delta = reportBody(m, { hash: grown.hash, base: atLimit.hash, upsert: gzipSync(`${added}\n`), remove: [] });
    assert.equal(faultOf(await postSigned(small.url, m, delta)), faultCodes.REPORT_TOO_LARGE);
    assert.equal(small.profiles.byHash(grown.hash), undefined);
    assert.equal(small.profiles.byHash(more.hash), undefined);
    assert.equal(small.profiles.byHash(longer.hash), undefined);
  });

  it('rate-limits reports that carry packages per machine (RATE_LIMITED); check-ins, reports by hash and other machines go on', async () => {
    const quiet = await enrol(small, 'quiet');
    const shared = bigPackages(50, 'shared');
    assert.ok(profileOf(await postSigned(small.url, quiet, fullReportBody(quiet, shared))) > 0);
    const m = await enrol(small, 'chatty');
    const sets = ['r1', 'r2', 'r3', 'r4'].map((t) => bigPackages(50, t));
    for (const p of sets.slice(0, 3)) assert.ok(profileOf(await postSigned(small.url, m, fullReportBody(m, p))) > 0);
    const refused = await postSigned(small.url, m, fullReportBody(m, sets[3]!));
    assert.equal(faultOf(refused), faultCodes.RATE_LIMITED);
    assert.match(refused, /report again in \d+ s/);
    assert.equal(small.profiles.byHash(sets[3]!.hash), undefined, 'nothing of the refused report is stored');
    // a delta (against the set the machine holds) carries packages too
    const current = linesOf(sets[2]!.text);
    const smaller = packagesTextOfLines(current.slice(1));
    const [name, arch] = JSON.parse(current[0]!) as [string, string];
    assert.equal(
      faultOf(
        await postSigned(
          small.url,
          m,
          reportBody(m, { hash: smaller.hash, base: sets[2]!.hash, remove: [`${name}:${arch}`] }),
        ),
      ),
      faultCodes.RATE_LIMITED,
    );
    // a set the server holds, by hash or in full (it is not even unpacked), and the cheap check-in
    assert.equal(
      profileOf(await postSigned(small.url, m, reportBody(m, { hash: shared.hash }))),
      small.profiles.byHash(shared.hash)!.id,
    );
    assert.equal(
      profileOf(await postSigned(small.url, m, fullReportBody(m, shared))),
      small.profiles.byHash(shared.hash)!.id,
    );
    const check = await postSigned(
      small.url,
      m,
      encodeCall('agent.checkIn', [{ machineId: m.machineId, state: 'a'.repeat(64), packages: sets[3]!.hash }]),
    );
    assert.equal(faultOf(check), undefined);
    assert.match(check, /<name>packagesKnown<\/name>\s*<value>\s*<boolean>0<\/boolean>/);
    // another machine has its own allowance
    assert.ok(profileOf(await postSigned(small.url, quiet, fullReportBody(quiet, sets[3]!))) > 0);
  });

  it('the real agent answers RATE_LIMITED by leaving its state unreported for its next run (the run succeeds)', async () => {
    const one = await startServer(
      testConfig(path.join(dir, 'rate-one'), {}, (c) => applySetting(c, 'fleet.report_rate', '1')),
    );
    try {
      const agent = await createAgent(path.join(dir, 'agent'), one.url);
      await agent.runOk(['enroll', '--token', one.fleet.enrolment.createToken({ autoApprove: true }).token]);
      const id = agent.state.identity()!.machine;
      // the empty set of the test root is a set nobody reported yet: sent in full
      assert.equal(JSON.parse(await agent.runOk(['run-once', '--json'])).reported, 'full');
      // the server forgets what the machine reported (as if its packages had changed since)
      const profile = one.fleet.machines.byId(id)!.profileId!;
      one.db.prepare('UPDATE machine SET state_hash = NULL, profile_id = NULL WHERE id = ?').run(id);
      one.db.prepare('DELETE FROM profile WHERE id = ?').run(profile);
      const r = await agent.run(['run-once', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).reported, 'no');
      assert.match(r.stderr + r.stdout, /report deferred to the next run: .*report again in \d+ s/);
      assert.equal(one.fleet.machines.byId(id)!.profileId, null);
    } finally {
      await one.close();
    }
  });

  it('a machine that reports a different large set each time does not grow the database; the same set again adds nothing', async () => {
    const m = await enrol(server, 'shifting');
    const report = async (tag: string) => {
      const xml = await postSigned(server.url, m, fullReportBody(m, bigPackages(20_000, tag)));
      assert.equal(faultOf(xml), undefined, xml.slice(0, 300));
      await server.fleet.reports.retention.idle();
      return pages(server);
    };
    const before = count(server, 'inst_pkg');
    await report('s1');
    const second = await report('s2');
    // the first set is gone with its 20,000 records; only the current set is held
    assert.equal(count(server, 'inst_pkg') - before, 20_000);
    // three more sets: the pages the earlier ones left are used again (a set is about half the database)
    let last = second;
    for (const tag of ['s3', 's4', 's5']) {
      last = await report(tag);
      assert.ok(last - second <= second / 10, `set ${tag} grew the database from ${second} to ${last} pages`);
    }
    assert.equal(count(server, 'inst_pkg') - before, 20_000);
    const again = await report('s5');
    assert.ok(again - last <= 8, `the same set again grew the database from ${last} to ${again} pages`);
    assert.equal(server.profiles.byHash(bigPackages(20_000, 's1').hash), undefined);
  });

  it('bounds the rest of a report too: apt files over 128 KiB, more than 64 suites, more holds than packages (REPORT_TOO_LARGE)', async () => {
    const m = await enrol(small, 'extras');
    const p = bigPackages(10, 'extras');
    const send = (extras: Record<string, unknown>) =>
      postSigned(
        small.url,
        m,
        encodeCall('agent.report', [
          {
            machineId: m.machineId,
            state: 'e'.repeat(64),
            packages: { hash: p.hash, full: gzipSync(p.text) },
            holds: [],
            sources: [],
            preferences: [],
            aptUpgradable: [],
            reboot: { required: false, packages: [] },
            dpkg: { audit: '', interrupted: false },
            ...extras,
          },
        ]),
      );
    const stanza = (i: number) => `Package: pkg${i}\nPin: release a=stable\nPin-Priority: 600\n`;
    const prefs = Array.from({ length: 4 }, (_, f) => ({
      path: `/etc/apt/preferences.d/p${f}`,
      content: Array.from({ length: 800 }, (_, i) => stanza(i)).join('\n'),
    }));
    assert.equal(faultOf(await send({ preferences: prefs })), faultCodes.REPORT_TOO_LARGE);
    const suites = Array.from({ length: 65 }, (_, i) => `suite${i}`).join(' ');
    const sources = [
      {
        path: '/etc/apt/sources.list.d/many.sources',
        content: `Types: deb\nURIs: http://deb.debian.org/debian\nSuites: ${suites}\nComponents: main\n`,
      },
    ];
    assert.equal(faultOf(await send({ sources })), faultCodes.REPORT_TOO_LARGE);
    assert.equal(
      faultOf(await send({ holds: Array.from({ length: 1001 }, (_, i) => `pkg${i}:amd64`) })),
      faultCodes.REPORT_TOO_LARGE,
    );
    assert.equal(small.fleet.machines.byId(m.machine)!.profileId, null, 'nothing of these reports is kept');
    // within the bounds the same report is taken
    assert.equal(
      faultOf(
        await send({
          preferences: prefs.slice(0, 1),
          sources: [{ ...sources[0]!, content: sources[0]!.content.replace(/ suite6\d/g, '') }],
        }),
      ),
      undefined,
    );
  });

  it('views no machine reads any more are deleted (a report with other preferences each time)', async () => {
    const m = await enrol(small, 'prefs');
    const p = bigPackages(10, 'prefs');
    const sources = [
      {
        path: '/etc/apt/sources.list.d/debian.sources',
        content: 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n',
      },
    ];
    const views = () => count(small, 'view_def');
    const before = views();
    for (let i = 0; i < 3; i++) {
      // 3: the rate of this server (each report here defines a view)
      const preferences = [
        {
          path: '/etc/apt/preferences.d/pin',
          content: `Package: pkg${i}\nPin: release a=stable\nPin-Priority: ${500 + i}\n`,
        },
      ];
      const body = encodeCall('agent.report', [
        {
          machineId: m.machineId,
          state: String(i).repeat(64),
          packages: { hash: p.hash, full: gzipSync(p.text) },
          holds: [],
          sources,
          preferences,
          aptUpgradable: [],
          reboot: { required: false, packages: [] },
          dpkg: { audit: '', interrupted: false },
        },
      ]);
      assert.equal(faultOf(await postSigned(small.url, m, body)), undefined);
      await small.fleet.reports.retention.idle();
    }
    assert.equal(views() - before, 1, 'only the view the machine reads now is kept');
    assert.ok(small.fleet.machines.report(m.machine)!.viewId);
  });

  it('reports that only name a known set but define a new view each time (other preferences) count against the rate too', async () => {
    const m = await enrol(small, 'views');
    const p = bigPackages(10, 'views');
    const sources = [
      {
        path: '/etc/apt/sources.list.d/debian.sources',
        content: 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n',
      },
    ];
    const body = (i: number, withPackages: boolean) =>
      encodeCall('agent.report', [
        {
          machineId: m.machineId,
          state: String(i).repeat(64),
          packages: withPackages ? { hash: p.hash, full: gzipSync(p.text) } : { hash: p.hash },
          holds: [],
          sources,
          preferences: [
            {
              path: '/etc/apt/preferences.d/pin',
              content: `Package: v${i}\nPin: release a=stable\nPin-Priority: ${600 + i}\n`,
            },
          ],
          aptUpgradable: [],
          reboot: { required: false, packages: [] },
          dpkg: { audit: '', interrupted: false },
        },
      ]);
    assert.equal(faultOf(await postSigned(small.url, m, body(0, true))), undefined);
    for (let i = 1; i < 3; i++) assert.equal(faultOf(await postSigned(small.url, m, body(i, false))), undefined);
    const views = count(small, 'view_def');
    const refused = await postSigned(small.url, m, body(3, false));
    assert.equal(faultOf(refused), faultCodes.RATE_LIMITED);
    assert.equal(count(small, 'view_def'), views, 'the refused report defined no view');
    // the view it already has costs nothing: the same report again is answered
    assert.equal(faultOf(await postSigned(small.url, m, body(2, false))), undefined);
  });
});
