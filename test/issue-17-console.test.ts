// Issue 17 in the console, in a real browser against a real server: a fleet whose machines
// reported installed sets (Fleet.report) through the release gate's stages or directly, with the
// Debian tracker's JSON and the DSA list imported by the real parsers (as in
// issue-17-exposures.test.ts). The CVEs page lists what `aptgate cves --json` lists (filtered by
// urgency by the server); a CVE's page shows its machines and the stage ladder; a machine's page
// its exposures; the gate page each update's cooldown and the CVEs it fixes; the advisory feeds'
// page offers an admin the refresh, which fetches from a feed server on 127.0.0.1 (a viewer
// has no button); hostile text from a feed (a CVE's
// summary, a feed's error) stays text; the new pages fit a 1366×768 screen.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { defaultConfig, validate } from '../src/config.js';
import { AdvisoryStore } from '../src/state/advisories.js';
import { addTestUsers, login, PASSWORD } from './helpers/api.js';
import { launchBrowser, logIn, unexpectedErrors, waitForText, type TestBrowser } from './helpers/browser.js';
import { enrolMachine, runCli, type TestMachine } from './helpers/fleet-api.js';
import {
  importFixture,
  indexSnapshot,
  NEW_SSL,
  OLD_SSL,
  PROD_PACKAGES,
  report,
  ssl,
  UP_PACKAGES,
} from './helpers/exposures-fleet.js';
import { fixturesDir } from './helpers/paths.js';
import { startServer, type TestServer } from './helpers/server.js';

// markup a feed might carry: the console never parses it
const HOSTILE_CVE = 'CVE-2099-1666';
const HOSTILE_SUMMARY = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>b0rk';
const HOSTILE_ERROR = '<img src=y onerror="window.__pwned=3">upstream said <b>no</b>';

interface CveRow {
  cve: string;
  urgency: string;
  source: string;
  release: string;
  fixed: string | null;
  machines: number;
  installed: string | null;
  status: string | null;
}
interface CveList {
  cves: CveRow[];
  total: number;
  machinesExposed: number;
}

/** The text of each cell of the rows of a table. */
async function cells(page: Page, table: string): Promise<string[][]> {
  return page
    .locator(`${table} tbody tr`)
    .evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
}

describe('issue 17: advisories in the console', () => {
  let dir: string;
  let server: TestServer;
  let feeds: Server;
  let browser: TestBrowser;
  let origin: string;
  let up: TestMachine;

  const cli = async <T>(...args: string[]): Promise<T> =>
    JSON.parse(await runCli([...args, '--json', '--db', server.config.db], { APTGATE_SERVER: undefined })) as T;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i17-console-'));
    // the fixture tracker, and an issue whose description carries markup
    const tracker = JSON.parse(
      await readFile(path.join(fixturesDir, 'advisories', 'exposures-tracker.json'), 'utf8'),
    ) as Record<string, Record<string, unknown>>;
    tracker['libxml2']![HOSTILE_CVE] = {
      description: HOSTILE_SUMMARY,
      releases: { bookworm: { status: 'open', repositories: { bookworm: '2.9.14+dfsg-1.3~deb12u1' }, urgency: 'low' } },
    };
    const trackerFile = path.join(dir, 'tracker.json');
    await writeFile(trackerFile, JSON.stringify(tracker));
    const dsaFile = path.join(fixturesDir, 'advisories', 'dsa-list.txt');
    // the feeds' upstream for the refresh (nothing from the internet)
    const files: Record<string, [string, string]> = {
      '/tracker/data/json': [trackerFile, 'application/json'],
      '/DSA/list': [dsaFile, 'text/plain'],
    };
    feeds = createServer((req, res) => {
      const f = files[req.url ?? ''];
      if (!f) return res.writeHead(404).end();
      readFile(f[0]).then(
        (b) => res.writeHead(200, { 'Content-Type': f[1], 'Content-Length': b.length }).end(b),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => feeds.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(feeds.address() as { port: number }).port}`;

    const config = defaultConfig();
    config.listen = '127.0.0.1';
    config.port = 0;
    config.cacheDir = path.join(dir, 'cache');
    config.db = path.join(dir, 'aptgate.db');
    config.logLevel = 'silent';
    config.proxy.refreshIntervalMs = 0;
    config.advisories.feeds = ['debian-tracker', 'dsa'];
    config.advisories.urls['debian-tracker'] = `${base}/tracker/data/json`;
    config.advisories.urls.dsa = `${base}/DSA/list`;
    config.advisories.refreshIntervalMs = 0; // no timer: the admin's button fetches
    config.advisories.changelogs = 'cached';
    validate(config);
    await mkdir(config.cacheDir, { recursive: true });
    server = await startServer(config);
    const s = server.services;
    await addTestUsers(s);

    // every stage takes the first snapshot; the second (openssl fixed) goes to test only
    const t0 = Date.now() - 60_000;
    await s.gate.onSnapshotIndexed(indexSnapshot(s, 1, OLD_SSL, t0));
    await s.gate.onSnapshotIndexed(indexSnapshot(s, 3, NEW_SSL, t0 + 1000));

    assert.equal(await importFixture(s, 'debian-tracker', 'debian-tracker', trackerFile), 8);
    assert.ok((await importFixture(s, 'dsa', 'dsa', dsaFile)) > 0);
    const store = new AdvisoryStore(s.db);
    store.setFeed('dla', 'https://salsa.debian.org/security-tracker-team/security-tracker/raw/master/data/DLA/list');
    store.failed('dla', HOSTILE_ERROR);

    up = enrolMachine(s, 'up-1');
    const prod = enrolMachine(s, 'prod-1');
    const tst = enrolMachine(s, 'test-1');
    await report(s, up, UP_PACKAGES, 'direct');
    await report(s, prod, PROD_PACKAGES, 'production');
    await report(s, tst, ssl(OLD_SSL), 'test');
    browser = await launchBrowser(dir);
    origin = new URL(server.url).origin;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    feeds?.closeAllConnections();
    await new Promise((resolve) => feeds?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('the CVEs page lists what `aptgate cves --json` lists, in its order; the urgency filter asks the server', async () => {
    const all = await cli<CveList>('cves');
    assert.ok(all.total >= 6, JSON.stringify(all));
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/cves');
    await page.getByRole('heading', { name: 'CVEs', level: 1 }).waitFor();
    assert.equal(await page.locator('#nav a[aria-current=page]').textContent(), 'CVEs');
    const range = await waitForText(page, '.pager .range', / of \d+ /);
    assert.match(range, new RegExp(` of ${all.total} `));
    assert.equal(
      await page.locator('#cves-summary').textContent(),
      `${all.total} issues on ${all.machinesExposed} machines.`,
    );
    const want = (l: CveList) =>
      l.cves.map((c) => [c.cve, c.urgency, c.source, c.release, c.fixed ?? 'not fixed', String(c.machines)]);
    const shown = (await cells(page, '#main .data-table')).map((r) => r.slice(0, 6));
    assert.deepEqual(shown, want(all));

    const asked: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/cves')) asked.push(r.url());
    });
    await page.getByLabel('Urgency').selectOption('medium');
    const medium = await cli<CveList>('cves', '--urgency', 'medium');
    assert.ok(medium.total >= 1 && medium.total < all.total);
    await waitForText(page, '.pager .range', new RegExp(` of ${medium.total} `));
    assert.deepEqual(
      (await cells(page, '#main .data-table')).map((r) => r.slice(0, 6)),
      want(medium),
    );
    assert.ok(
      asked.some((u) => new URL(u).searchParams.get('urgency') === 'medium'),
      asked.join(' '),
    );
    assert.match(page.url(), /#\/cves\?urgency=medium$/);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("a CVE's page: the stage ladder, what each feed says, the machines exposed as the command line lists them", async () => {
    const d = await cli<{
      total: number;
      machines: Array<{ hostname: string; status: string; installed: string }>;
      records: Array<{ feed: string; advisory: string | null }>;
      stages: Array<{ standing: string }>;
    }>('cves', '--cve', 'CVE-2024-9143');
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/cves');
    await page.getByRole('link', { name: 'CVE-2024-9143' }).click();
    await page.getByRole('heading', { name: 'CVE-2024-9143', level: 1 }).waitFor();
    assert.match(page.url(), /#\/cves\/CVE-2024-9143$/);
    assert.match((await page.locator('.cve-summary').textContent()) ?? '', /elliptic curve/);
    assert.equal(d.stages[0]!.standing, 'fixed in test, pending promotion to production');
    assert.equal(await page.locator('.cve-ladder .standing').textContent(), d.stages[0]!.standing);
    assert.deepEqual(
      (await cells(page, '.cve-ladder')).map((r) => r.slice(0, 2)),
      [
        ['test', 'fixed'],
        ['production', 'not yet'],
      ],
    );
    assert.deepEqual(
      (await cells(page, '#cve-records')).map((r) => [r[0], r[1]]),
      d.records.map((r) => [r.feed, r.advisory ?? '—']),
    );
    assert.match((await page.locator('#cve-counts').textContent()) ?? '', new RegExp(`^${d.total} machines exposed`));
    const rows = await cells(page, '#main .data-table');
    assert.deepEqual(
      rows.map((r) => [r[0], r[3]]),
      d.machines.map((m) => [m.hostname, m.installed]),
    );
    assert.equal(rows.find((r) => r[0] === 'prod-1')![5], 'waiting at the gate');
    // a machine links to its page
    await page.getByRole('link', { name: 'prod-1' }).click();
    await page.getByRole('heading', { name: 'prod-1', level: 1 }).waitFor();

    // an unknown CVE: the server's refusal, shown
    await page.goto(`${server.url}/console/#/cves/CVE-2099-9999`);
    await waitForText(page, '#notice', /NOT_FOUND/);
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/cves/CVE-2099-9999']), []);
  });

  it("a machine's page: its exposures as `aptgate cves --machine` lists them, each CVE a link", async () => {
    const x = await cli<CveList>('cves', '--machine', 'up-1');
    assert.ok(x.total >= 6, JSON.stringify(x));
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, `#/machines/${up.id}`);
    await page.getByRole('heading', { name: 'Exposures' }).waitFor();
    const table = page.getByRole('table', { name: 'Exposures of up-1' });
    const rows = await table
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[2], r[3], r[4]]),
      x.cves.map((c) => [c.cve, c.urgency, c.source, c.installed, c.fixed ?? 'not fixed']),
    );
    const held = rows.find((r) => r[0] === 'CVE-2099-1002')!;
    assert.equal(held[5], 'held');
    // the outdated list says why in the server's words (why.text), not an empty cell
    const why = await page
      .getByRole('table', { name: 'Outdated packages of up-1' })
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((r) => (r.lastElementChild?.textContent ?? '').trim()));
    assert.ok(why.length > 0 && why.every((t) => t.length > 0), JSON.stringify(why));
    await table.getByRole('link', { name: 'CVE-2099-1005' }).click();
    await page.getByRole('heading', { name: 'CVE-2099-1005', level: 1 }).waitFor();
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the gate page: each pending update’s cooldown and the CVEs it fixes, as GET /gate says', async () => {
    const viewer = await login(server.url, 'vera', PASSWORD);
    const gate = (await viewer.call('GET', '/gate')).body as {
      stages: Array<{
        stage: string;
        updates: Array<{
          source: string;
          inCooldown: boolean;
          fastLane: string | null;
          fixes: Array<{ cve: string; urgency: string }>;
        }>;
      }>;
    };
    const u = gate.stages.find((s) => s.stage === 'test')!.updates.find((x) => x.source === 'openssl')!;
    assert.ok(u, JSON.stringify(gate));
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/gate');
    const section = page.locator('section.stage', { has: page.locator('h2#stage-test') });
    await section.locator('tbody tr').first().waitFor();
    const row = await cells(page, 'section.stage:has(h2#stage-test) table:first-of-type');
    const openssl = row.find((r) => r[0] === 'openssl')!;
    assert.ok(openssl, JSON.stringify(row));
    const cooldown = openssl[5]!;
    if (u.inCooldown) assert.match(cooldown, /^until \S/);
    else assert.equal(cooldown, u.fastLane ? `fast lane: ${u.fastLane}` : 'done');
    // bookworm-security is a security suite: the fast lane, whose reason the page gives
    assert.equal(cooldown, 'fast lane: from a security suite');
    assert.equal(openssl[6], u.fixes.length ? u.fixes.map((f) => `${f.cve} (${f.urgency})`).join(', ') : '—');
    for (const f of u.fixes) assert.equal(await section.getByRole('link', { name: f.cve }).count(), 1);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the advisory feeds: a viewer sees their status and no refresh button; an admin’s refresh fetches and imports them (CSRF header, audited)', async () => {
    const status = (await (await login(server.url, 'vera', PASSWORD)).call('GET', '/advisories')).body as {
      feeds: Array<{ feed: string; records: number }>;
    };
    const viewer = await browser.newPage();
    await logIn(viewer.page, server.url, 'vera', PASSWORD, '#/cves');
    await viewer.page.getByRole('link', { name: 'their status' }).click();
    await viewer.page.getByRole('heading', { name: 'Advisory feeds', level: 1 }).waitFor();
    for (const f of status.feeds)
      assert.equal(
        await viewer.page.locator(`#feeds tr[data-feed="${f.feed}"] td.num`).textContent(),
        String(f.records),
      );
    assert.equal(await viewer.page.getByRole('button', { name: /refresh/i }).count(), 0);
    assert.deepEqual(unexpectedErrors(viewer.log, origin), []);

    const admin = await browser.newPage();
    await logIn(admin.page, server.url, 'alice', PASSWORD, '#/advisories');
    const button = admin.page.getByRole('button', { name: 'Refresh the feeds now' });
    const before = server.services.audit.query({ action: 'advisories.refresh', limit: 100 }).length;
    await button.click();
    const notice = await waitForText(admin.page, '#notice', /^Refreshed: /, 30_000);
    assert.match(notice, /debian-tracker: (imported|not-modified), 8 records/);
    assert.match(notice, /dsa: (imported|not-modified), \d+ records/);
    const audited = server.services.audit.query({ action: 'advisories.refresh', limit: 100 });
    assert.equal(audited.length, before + 1);
    assert.equal(audited[0]!.actor, 'alice');
    // the page shows the feeds again, as the server has them now
    const now = (await (await login(server.url, 'vera', PASSWORD)).call('GET', '/advisories')).body as {
      feeds: Array<{ feed: string; fetchedAt: string | null; records: number }>;
    };
    const tracker = now.feeds.find((f) => f.feed === 'debian-tracker')!;
    assert.equal(tracker.records, 8);
    assert.equal(
      await admin.page.locator('#feeds tr[data-feed="debian-tracker"] td.num').textContent(),
      String(tracker.records),
    );
    assert.deepEqual(unexpectedErrors(admin.log, origin), []);
  });

  it('hostile text from the feeds (a CVE summary, a feed error with markup) stays text', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, `#/cves/${HOSTILE_CVE}`);
    await page.getByRole('heading', { name: HOSTILE_CVE, level: 1 }).waitFor();
    assert.equal(await page.locator('.cve-summary').textContent(), HOSTILE_SUMMARY);
    await page.goto(`${server.url}/console/#/advisories`);
    await page.getByRole('heading', { name: 'Advisory feeds', level: 1 }).waitFor();
    assert.match((await page.locator('#feeds tr[data-feed=dla] td.bad').textContent()) ?? '', /: <img src=y/);
    assert.equal(await page.locator('#main img, #main script, #main b').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    assert.deepEqual(
      log.requests.filter((u) => /\/(x|y)$/.test(new URL(u).pathname)),
      [],
      'no image fetched',
    );
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the new pages fit a 1366×768 laptop screen (nothing wider than the window) and show without an error', async () => {
    const { page, log } = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await logIn(page, server.url, 'alice', PASSWORD, '#/cves');
    for (const hash of ['#/cves', '#/cves/CVE-2024-9143', `#/machines/${up.id}`, '#/gate', '#/advisories']) {
      await page.goto(`${server.url}/console/${hash}`);
      await page.waitForLoadState('networkidle');
      await page.waitForFunction(() => !document.querySelector('#main .loading'));
      const title = (await page.getByRole('heading', { level: 1 }).textContent()) ?? '';
      assert.notEqual(title, 'This page could not be shown', `${hash}: ${await page.locator('#notice').textContent()}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `${hash} is ${wide}px wider than the window`);
    }
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });
});
