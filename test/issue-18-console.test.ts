// Issue 18 in the console, in a real browser against a real central server: a real site server
// joined with `aptgate site join` (the real CLI) and reported at its start; its later report
// (signed with its identity) carries traffic, a degraded health whose reason holds markup, and
// pre-loading under way. A viewer sees the list and the site's page with those figures and no
// button that changes anything (nor does an operator; the API refuses a viewer's change); an
// admin creates a site token by keyboard (shown once, with the join command, which joins another
// real site), sets a site's networks and class (kept after a reload, its machine counted,
// audited), sees a bad CIDR refused with the server's words and nothing changed, and removes a
// site only once the dialog is confirmed. The pages fit 1366×768.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { readSiteIdentity, SiteClient, type SiteIdentity } from '../src/assembly/site-client.js';
import { addTestUsers, login, PASSWORD } from './helpers/api.js';
import {
  focused,
  launchBrowser,
  logIn,
  tabTo,
  unexpectedErrors,
  waitForText,
  type TestBrowser,
} from './helpers/browser.js';
import { exec } from './helpers/exec.js';
import { enrolMachine, type TestMachine } from './helpers/fleet-api.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));
const HOSTILE_REASON = 'parent unreachable: <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

interface Site {
  name: string;
  url: string;
  networks: string[];
  classes: string[];
  lastContact: string | null;
  lastAddress: string | null;
  bytesLocal: number;
  bytesParent: number;
  hits: number;
  misses: number;
  hitRatio: number | null;
  health: string;
  healthReason: string;
  preload: { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number };
  machines: number;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await exec(process.execPath, [CLI, ...args], { env, timeoutMs: 60_000 });
  return { code: r.code ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The rows of the sites table as text, by site name. */
async function rows(page: Page): Promise<Map<string, string[]>> {
  const all = await page
    .locator('#main .data-table tbody tr')
    .evaluateAll((trs) => trs.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
  return new Map(all.filter((r) => r.length > 1).map((r) => [r[0]!, r]));
}

/** A site's page as its facts: term → text. */
async function facts(page: Page): Promise<Record<string, string>> {
  await page.locator('#site-facts').waitFor();
  return page.locator('#site-facts').evaluate((dl) => {
    const out: Record<string, string> = {};
    for (const dt of dl.querySelectorAll('dt'))
      out[dt.textContent ?? ''] = (dt.nextElementSibling?.textContent ?? '').trim();
    return out;
  });
}

describe('issue 18: the sites page of the console', () => {
  let dir: string;
  let central: TestServer;
  let fingerprint: string;
  let browser: TestBrowser;
  let origin: string;
  let member: TestMachine;

  const api = async <T>(p: string): Promise<T> => {
    const a = await (await login(central.url, 'vera', PASSWORD)).call('GET', p);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return a.body as T;
  };
  const stored = (name: string) => {
    const s = central.services.sites.store.byName(name);
    return s && JSON.stringify([s.networks, s.classes, s.url]);
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i18-console-'));
    const centralDir = path.join(dir, 'central');
    central = await startServer(
      testConfig(centralDir, {}, (c) => {
        c.stateDir = centralDir;
      }),
    );
    fingerprint = await central.gate.prepareKey();
    const s = central.services;
    await addTestUsers(s);
    // a machine of the class an admin gives the site
    s.fleet.classes.create('branch-north');
    member = enrolMachine(s, 'north-desk-1');
    s.fleet.classes.addMember('branch-north', member.id);

    // north: a real site server, joined with the CLI, reporting at its start
    const siteDir = path.join(dir, 'north');
    const joined = await cli([
      'site',
      'join',
      '--parent',
      central.url,
      '--token',
      s.sites.createToken({ name: 'north' }).token,
      '--fingerprint',
      fingerprint,
      '--state-dir',
      siteDir,
      '--url',
      'http://north.example:3142',
    ]);
    assert.equal(joined.code, 0, joined.stderr);
    const site = await startServer(
      testConfig(siteDir, {}, (c) => {
        c.stateDir = siteDir;
        c.site.parent = central.url;
        c.site.parentKey = path.join(siteDir, 'site', 'parent-key.gpg');
      }),
    );
    try {
      await waitFor(() => s.sites.store.byName('north')?.lastContact, "north's first report");
    } finally {
      // no later call of its own comes to change the figures under the test
      await site.close();
    }
    // its next report, signed with its identity: a run with traffic, the parent lost, pre-loading.
    // Its timestamp must be newer than the site's last call (replays are refused).
    const lastTs = () =>
      (central.db.prepare('SELECT last_ts AS ts FROM site WHERE name = ?').get('north') as { ts: number }).ts;
    await waitFor(() => Date.now() > lastTs(), "a clock past the site's last call");
    const id = readSiteIdentity(site.config) as SiteIdentity;
    await new SiteClient(central.url, id).call('site.report', [
      {
        started: String(Date.now() - 3_600_000),
        bytes_local: '5000000000',
        bytes_parent: '1500000',
        hits: '9',
        misses: '3',
        health: 'degraded',
        reason: HOSTILE_REASON,
        preload: { files_done: '3', files_total: '8', bytes_done: '300000', bytes_total: '1200000' },
      },
    ]);
    // south: registered, never reported
    s.sites.register(s.sites.createToken({ name: 'south' }).token, '', 'http://south.example:3142');
    browser = await launchBrowser(dir);
    origin = new URL(central.url).origin;
  });
  after(async () => {
    await browser?.close();
    await central?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a viewer sees every site's figures, and one site's page, as reported; no button that changes anything", async () => {
    const { sites } = await api<{ sites: Site[] }>('/sites');
    const north = sites.find((x) => x.name === 'north')!;
    // the central server's figures: the start's report of a fresh site (nothing served) and the later one
    assert.deepEqual(
      [north.bytesLocal, north.bytesParent, north.hits, north.misses, north.hitRatio, north.health],
      [5_000_000_000, 1_500_000, 9, 3, 0.75, 'degraded'],
    );
    assert.deepEqual(north.preload, { filesDone: 3, filesTotal: 8, bytesDone: 300_000, bytesTotal: 1_200_000 });

    const { page, log } = await browser.newPage();
    await logIn(page, central.url, 'vera', PASSWORD, '#/sites');
    await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
    assert.equal(await page.locator('#nav a[aria-current=page]').textContent(), 'Sites');
    await page.getByRole('link', { name: 'south' }).waitFor();
    const shown = await rows(page);
    assert.deepEqual([...shown.keys()], ['north', 'south']);
    const [, url, , health, local, parent, ratio, machines, preload] = shown.get('north')!;
    assert.equal(url, 'http://north.example:3142');
    assert.equal(health, `degraded ${HOSTILE_REASON}`);
    assert.deepEqual([local, parent, ratio, machines], ['4.7 GiB', '1.4 MiB', '75.0 %', '0']);
    assert.equal(preload, '3 of 8 files, 293 KiB of 1.1 MiB');
    // the bar: bytes done of the bytes to pre-load
    const bar = page.getByRole('progressbar', { name: /^Pre-loading at north/ });
    assert.deepEqual(await bar.evaluate((p: HTMLProgressElement) => [p.value, p.max]), [300_000, 1_200_000]);
    // last contact: how long ago, the time itself in the title
    const time = page.locator('#main .data-table tbody tr', { hasText: 'north' }).locator('time');
    assert.equal(await time.getAttribute('datetime'), north.lastContact);
    assert.match((await time.textContent()) ?? '', /now|seconds? ago|minutes? ago/);
    assert.ok(((await time.getAttribute('title')) ?? '').length > 5);
    const south = shown.get('south')!;
    assert.deepEqual([south[2], south[3], south[6], south[8]], ['never', 'unknown', '—', 'nothing to pre-load']);
    // markup in a report stays text
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator('#main img, #main script').count(), 0);
    // nothing to change for a viewer
    assert.equal(await page.locator('#main form').count(), 0);
    assert.equal(await page.getByRole('button', { name: /token|Remove|Save/ }).count(), 0);

    await page.getByRole('link', { name: 'north' }).click();
    await page.getByRole('heading', { name: 'Site north', level: 1 }).waitFor();
    assert.match(page.url(), /#\/sites\/north$/);
    const f = await facts(page);
    assert.equal(f['Served locally'], '4.7 GiB (5,000,000,000 bytes)');
    assert.equal(f['From this server'], '1.4 MiB (1,500,000 bytes)');
    assert.equal(f['Hit ratio'], '75.0 % (9 hits, 3 misses)');
    assert.equal(f['Pre-loading'], '3 of 8 files, 293 KiB of 1.1 MiB');
    assert.equal(f['Pre-loading to do'], '5 files, 879 KiB');
    assert.equal(f['Health'], `degraded ${HOSTILE_REASON}`);
    assert.equal(f['Last address'], '127.0.0.1');
    assert.deepEqual([f['Networks'], f['Classes'], f['Machines']], ['none', 'none', '0']);
    assert.equal(await page.locator('#main form, #main input').count(), 0);
    assert.equal(await page.getByRole('button', { name: /Remove|Save/ }).count(), 0);
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);

    // an operator has no button either (the sites are an admin's), and the API refuses a viewer's change
    const op = await browser.newPage();
    await logIn(op.page, central.url, 'oscar', PASSWORD, '#/sites/north');
    await op.page.locator('#site-facts').waitFor();
    assert.equal(await op.page.locator('#main form, #main input, #main button').count(), 0);
    const was = stored('north');
    const refused = await (await login(central.url, 'vera', PASSWORD)).call('PUT', '/sites/north', { networks: [] });
    assert.equal(refused.status, 403);
    assert.equal(stored('north'), was);

    // a site that is not there: the server's answer
    await page.goto(`${central.url}/console/#/sites/nowhere`);
    await waitForText(page, '#notice', /no site named nowhere.*\(NOT_FOUND\)/);
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/sites/nowhere']), []);
  });

  it('an admin creates a site token by keyboard: shown once with the join command, which joins a site', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, central.url, 'alice', PASSWORD, '#/sites');
    await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
    await tabTo(page, 'site-token-name');
    await page.keyboard.type('east');
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'site-token-expires');
    await page.keyboard.type('1d');
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'site-token-parent');
    await page.keyboard.type(central.url);
    await page.keyboard.press('Enter');
    const shown = page.getByRole('status').filter({ hasText: 'not shown again' });
    await shown.waitFor();
    const [token, command] = await shown.locator('pre').allTextContents();
    assert.match(token!, /^ast_[A-Za-z0-9_-]{32}$/);
    assert.match(await shown.textContent().then((t) => t ?? ''), /Site token \d+ for east: copy it now/);
    assert.equal(
      command,
      `aptgate site join --parent ${central.url} --token ${token} --fingerprint ${fingerprint} --name east --url http://SITE-HOST:3142`,
    );
    assert.equal(central.services.sites.store.byName('east'), undefined, 'nothing registered by the token yet');

    // the command as shown joins a real site (its URL set, its state in its own directory)
    const args = command!.split(' ').slice(1);
    args[args.indexOf('http://SITE-HOST:3142')] = 'http://east.example:3142';
    const r = await cli([...args, '--state-dir', path.join(dir, 'east')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(central.services.sites.store.byName('east')?.url, 'http://east.example:3142');

    // shown once: a reload shows the site, not the token
    await page.reload();
    await page.getByRole('link', { name: 'east' }).waitFor();
    assert.equal(await page.getByText(token!).count(), 0);
    assert.deepEqual([...(await rows(page)).keys()], ['east', 'north', 'south']);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("an admin sets a site's networks and class: kept after a reload, its machine counted, in the audit log", async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, central.url, 'alice', PASSWORD, '#/sites/north');
    await page.getByRole('heading', { name: 'Site north', level: 1 }).waitFor();
    assert.equal(await page.getByLabel('URL').inputValue(), 'http://north.example:3142');
    await page.getByLabel('Networks').fill('10.1.0.0/16, fd00:1::/48');
    await page.getByLabel('Classes').fill('branch-north');
    await page.getByLabel('Classes').press('Enter');
    await waitForText(page, '#notice', /Site north saved/);
    assert.equal(
      await page.locator('#notice').textContent(),
      'Site north saved: networks 10.1.0.0/16, fd00:1::/48; classes branch-north; 1 machines.',
    );
    const s = central.services.sites.store.byName('north')!;
    assert.deepEqual(
      [s.networks, s.classes, s.url],
      [['10.1.0.0/16', 'fd00:1::/48'], ['branch-north'], 'http://north.example:3142'],
    );

    await page.reload();
    const f = await facts(page);
    assert.deepEqual([f['Networks'], f['Classes'], f['Machines']], ['10.1.0.0/16, fd00:1::/48', 'branch-north', '1']);
    assert.equal(await page.getByLabel('Networks').inputValue(), '10.1.0.0/16, fd00:1::/48');
    await page.getByRole('link', { name: '← Sites' }).click();
    await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
    assert.equal((await rows(page)).get('north')![7], '1');

    // the audit log says who did it, with what
    await page.goto(`${central.url}/console/#/audit?action=sites.set`);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const audit = await page
      .locator('#main .data-table tbody tr')
      .evaluateAll((trs) => trs.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    // newest first: alice's change, then the viewer's refused attempt (the first test)
    assert.deepEqual(
      audit.map((r) => [r[1], r[3], r[5]]),
      [
        ['alice', 'sites.set', 'ok'],
        ['vera', 'sites.set', 'FORBIDDEN'],
      ],
    );
    const [, who, , action, args, result] = audit[0]!;
    assert.deepEqual([who, action, result], ['alice', 'sites.set', 'ok']);
    assert.deepEqual(JSON.parse(args!), {
      name: 'north',
      networks: ['10.1.0.0/16', 'fd00:1::/48'],
      classes: ['branch-north'],
      url: 'http://north.example:3142',
    });
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("a bad CIDR: the server's refusal is shown, the form keeps it, nothing changes", async () => {
    const was = stored('north');
    const { page, log } = await browser.newPage();
    await logIn(page, central.url, 'alice', PASSWORD, '#/sites/north');
    await page.getByRole('heading', { name: 'Site north', level: 1 }).waitFor();
    await page.getByLabel('Networks').fill('10.1.0.0/16, 10.2.0.0/33');
    await page.getByLabel('Classes').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    const notice = await waitForText(page, '#notice', /USAGE/);
    assert.equal(notice, '"10.2.0.0/33" is not a network: expected a CIDR such as 10.1.0.0/16 or fd00:1::/48 (USAGE)');
    assert.equal(await page.getByLabel('Networks').inputValue(), '10.1.0.0/16, 10.2.0.0/33');
    assert.equal(stored('north'), was, 'nothing changed');
    await page.reload();
    const f = await facts(page);
    assert.deepEqual([f['Networks'], f['Classes']], ['10.1.0.0/16, fd00:1::/48', 'branch-north']);
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/sites/north']), []);
  });

  it('an admin removes a site only once the dialog is confirmed', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, central.url, 'alice', PASSWORD, '#/sites/south');
    await page.getByRole('heading', { name: 'Site south', level: 1 }).waitFor();
    const remove = page.getByRole('button', { name: 'Remove site south' });
    // Escape cancels: nothing removed
    await remove.click();
    const dialog = page.getByRole('dialog', { name: 'Remove site south?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.ok(central.services.sites.store.byName('south'));
    // confirmed: gone, back on the list
    await remove.click();
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await waitForText(page, '#notice', /Site south removed\./);
    await page.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
    assert.match(page.url(), /#\/sites$/);
    assert.equal(central.services.sites.store.byName('south'), undefined);
    assert.deepEqual([...(await rows(page)).keys()], ['east', 'north']);
    const a = await (await login(central.url, 'alice', PASSWORD)).call('GET', '/audit?action=sites.remove');
    assert.deepEqual(
      (a.body as { entries: Array<{ actor: string; result: string }> }).entries.map((e) => [e.actor, e.result]),
      [['alice', 'ok']],
    );
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the sites pages fit a 1366×768 laptop screen and show without an error', async () => {
    const { page, log } = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await logIn(page, central.url, 'alice', PASSWORD, '#/sites');
    for (const [hash, title] of [
      ['#/sites', 'Sites'],
      ['#/sites/north', 'Site north'],
    ] as const) {
      await page.goto(`${central.url}/console/${hash}`);
      await page.getByRole('heading', { name: title, level: 1 }).waitFor();
      if (hash === '#/sites') {
        // with a join command shown, the longest line the page has
        await page.getByRole('button', { name: 'Create site token' }).click();
        await page.getByRole('status').filter({ hasText: 'not shown again' }).waitFor();
      }
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `${hash} is ${wide}px wider than the window`);
    }
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });
});
