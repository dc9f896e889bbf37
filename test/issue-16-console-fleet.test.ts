// Issue 16: the fleet in the console, in a real browser against a real fleet (real agents in
// their own roots, apt and dpkg for real): the overview's counts are those of `aptgate overview
// --json` and each links to a list of exactly that many machines; a machine's page gives the
// reason apt keeps a package back; its print shows the outdated list without the console around
// it; the main pages work with the keyboard alone; hostile host names are shown as text.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD } from './helpers/api.js';
import {
  focused,
  launchBrowser,
  logIn,
  tabTo,
  unexpectedErrors,
  waitForText,
  type TestBrowser,
} from './helpers/browser.js';
import { makeConsoleFleet, V1, V2, type ConsoleFleet } from './helpers/console-fleet.js';
import { enrolOverHttp } from './helpers/reports.js';

// markup a host name might carry if anything let it through: never parsed by the console
const HOSTILE_IMG = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_SCRIPT = '<script>window.__pwned=2</script>x';

interface Overview {
  machines: { total: number; unseen: string; states: Record<string, number> };
  gate: { stages: Array<{ stage: string; holds: boolean }> };
  proxy: { hitRatio: number | null };
}
interface MachineList {
  machines: Array<{ id: number; hostname: string }>;
  total: number;
}
interface Outdated {
  packages: Array<{ package: string; action: string; keptBack: { reason: string; because?: string } | null }>;
}

describe('issue 16: the fleet in the console', () => {
  let fleet: ConsoleFleet;
  let browser: TestBrowser;
  let origin: string;
  let prod1: number;

  before(async () => {
    fleet = await makeConsoleFleet({ prodMachines: 2 });
    await fleet.publishV2();
    const jobs = await fleet.upgradeOnQa();
    assert.deepEqual(
      jobs.map((j) => j.failure),
      [undefined, undefined],
    );
    // production gets v2, where its installed app keeps libapp back
    await fleet.server.gate.promote('test', { actor: 'oscar' });
    await fleet.checkIn();
    prod1 = fleet.prod[0]!.state.identity()!.machine;
    browser = await launchBrowser(fleet.dir);
    origin = new URL(fleet.server.url).origin;
  });
  after(async () => {
    await browser?.close();
    await fleet?.close();
  });

  it("the overview's counts are `aptgate overview --json`'s; each card lists exactly that many machines, those of the command line", async () => {
    const cli = await fleet.cliJson<Overview>('overview');
    assert.ok(cli.machines.states['outdated']! >= 2 && cli.machines.states['pending'] === 1, JSON.stringify(cli));
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD);
    await page.waitForURL(/#\/overview$/);
    await page.locator('.cards a').first().waitFor();
    assert.match(
      (await page.locator('#main').textContent()) ?? '',
      new RegExp(`${cli.machines.total} machines enrolled`),
    );
    const shown: Record<string, number> = {};
    for (const card of await page.locator('.cards a[data-state]').all())
      shown[(await card.getAttribute('data-state'))!] = Number(await card.locator('.n').textContent());
    assert.deepEqual(shown, cli.machines.states);
    // the gate and the proxy, as the command line says
    const gate = page.locator('li[data-stage=test] .badge');
    assert.equal(await gate.textContent(), cli.gate.stages[0]!.holds ? 'gate open' : 'gate closed');
    const ratio = cli.proxy.hitRatio;
    assert.equal(
      await page.locator('#proxy-hit-ratio').textContent(),
      ratio === null ? '—' : `${(ratio * 100).toFixed(1)} %`,
    );

    for (const [state, n] of Object.entries(cli.machines.states)) {
      await page.goto(`${fleet.server.url}/console/#/overview`);
      await page.locator(`.cards a[data-state=${state}]`).click();
      await page.getByRole('heading', { name: 'Machines' }).waitFor();
      const range = await waitForText(page, '.pager .range', / of \d+ /);
      assert.match(range, new RegExp(` of ${n} `), `${state}: ${range}`);
      const list = await fleet.cliJson<MachineList>('machines', 'list', '--state', state);
      assert.equal(list.total, n);
      assert.deepEqual(
        await page.locator('#main tbody td:first-child a').allTextContents(),
        list.machines.map((m) => m.hostname),
        state,
      );
      assert.equal(await page.getByLabel('State').inputValue(), state);
    }
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("a package's page: counts and versions as the command line gives them, its machines paged and filtered by the server", async () => {
    const cli = await fleet.cliJson<{
      counts: { machines: number };
      versions: Array<{ version: string; machines: number }>;
      machines: Array<{ hostname: string; version: string }>;
    }>('packages', 'libapp');
    assert.ok(cli.versions.length >= 2, JSON.stringify(cli.versions));
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD, '#/packages/libapp');
    await waitForText(page, '.pager .range', / of \d+ /);
    assert.match(
      (await page.locator('#main').textContent()) ?? '',
      new RegExp(`${cli.counts.machines} machines have it`),
    );
    const users = page.getByRole('table', { name: 'Machines with libapp' });
    assert.deepEqual(
      await users.locator('tbody td:first-child a').allTextContents(),
      cli.machines.map((m) => m.hostname),
    );
    // one version: the server narrows the list, the counts stay of all
    const v = cli.versions[cli.versions.length - 1]!;
    await page.getByLabel('Installed version').selectOption(v.version);
    await page.waitForURL(/version=/);
    await waitForText(page, '.pager .range', new RegExp(` of ${v.machines} `));
    assert.deepEqual(
      (await users.locator('tbody td:first-child a').allTextContents()).sort(),
      cli.machines
        .filter((m) => m.version === v.version)
        .map((m) => m.hostname)
        .sort(),
    );
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the machine list sorts and searches through the API, as the command line does', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD, '#/machines');
    await page.locator('#main tbody tr').first().waitFor();
    await page.getByRole('button', { name: 'Outdated' }).click();
    await page.waitForURL(/sort=outdated/);
    const bySort = await fleet.cliJson<MachineList>('machines', 'list', '--sort', 'outdated');
    await page.waitForFunction(
      (want) =>
        [...document.querySelectorAll('#main tbody td:first-child a')].map((a) => a.textContent).join() === want,
      bySort.machines.map((m) => m.hostname).join(),
    );
    assert.equal(await page.locator('th[aria-sort]').textContent(), 'Outdated');
    assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'ascending');
    await page.getByLabel('Search host name').fill('prod');
    await page.waitForURL(/q=prod/);
    await waitForText(page, '.pager .range', / of 2 /);
    assert.deepEqual((await page.locator('#main tbody td:first-child a').allTextContents()).sort(), [
      'prod-1',
      'prod-2',
    ]);
    // the link keeps the list: a reload shows the same
    await page.reload();
    await waitForText(page, '.pager .range', / of 2 /);
    assert.equal(await page.getByLabel('Search host name').inputValue(), 'prod');
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("a machine's page gives the reason apt keeps a package back, as apt itself does", async () => {
    // apt on the machine: libapp is kept back
    const sim = await fleet.prod[0]!.root.apt(['-s', 'upgrade']);
    assert.equal(sim.code, 0, sim.output);
    assert.match(sim.output, /The following packages have been kept back:\n\s+libapp\n/);
    const cli = await fleet.cliJson<Outdated>('machines', 'outdated', 'prod-1');
    const entry = cli.packages.find((p) => p.package === 'libapp')!;
    assert.deepEqual([entry.action, entry.keptBack], ['kept-back', { reason: 'blocked', because: 'app:amd64' }]);

    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD, `#/machines/${prod1}`);
    await page.getByRole('heading', { name: 'prod-1', level: 1 }).waitFor();
    const table = page.getByRole('table', { name: 'Outdated packages of prod-1' });
    const row = table.getByRole('row').filter({ hasText: 'libapp' });
    const why = (await row.locator('td').last().textContent()) ?? '';
    assert.match(
      why,
      /^kept back: an installed package that stays at its version .*needs this version; because of app:amd64$/,
    );
    assert.match((await row.textContent()) ?? '', /libapp:amd64\s*1\.0-1\s*2\.0-1/);
    const others = await table
      .getByRole('row')
      .filter({ hasText: 'upgradable now' })
      .locator('td:first-child')
      .allTextContents();
    assert.deepEqual(others.sort(), ['demo:amd64', 'other:amd64']);
    // a viewer has no action bar
    assert.equal(await page.getByRole('group', { name: 'Actions' }).count(), 0);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("the machine page's print shows the outdated list without the console's header, buttons and jobs", async () => {
    const { page } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, `#/machines/${prod1}`);
    await page.getByRole('heading', { name: 'prod-1', level: 1 }).waitFor();
    const visible = (sel: string) => page.locator(sel).first().isVisible();
    assert.equal(await visible('header.top'), true);
    assert.equal(
      await page.getByRole('group', { name: 'Actions' }).isVisible(),
      true,
      'an operator has the bar on screen',
    );
    await page.emulateMedia({ media: 'print' });
    for (const sel of [
      'header.top',
      '#nav',
      '.skip',
      '[role=group][aria-label=Actions]',
      '#main .toolbar',
      '#jobs-title',
    ])
      assert.equal(await visible(sel), false, `${sel} is not printed`);
    const buttons = await page
      .locator('#main button')
      .evaluateAll((bs) => bs.filter((b) => b.checkVisibility()).length);
    assert.equal(buttons, 0, 'no button on paper');
    assert.equal(await page.getByRole('table', { name: 'Outdated packages of prod-1' }).isVisible(), true);
    assert.match((await page.locator('.print-only').textContent()) ?? '', /^prod-1: outdated packages, /);
    assert.equal(await visible('.print-only'), true);
    await page.emulateMedia({ media: 'screen' });
    assert.equal(await visible('.print-only'), false);
    assert.equal(await visible('header.top'), true);
  });

  it('every page fits a 1366×768 laptop screen (nothing wider than the window) and shows without an error', async () => {
    const { page, log } = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await logIn(page, fleet.server.url, 'alice', PASSWORD, '#/audit');
    const pages = [
      '#/overview',
      '#/machines',
      `#/machines/${prod1}`,
      '#/packages/libapp',
      '#/gate',
      '#/gate/production',
      '#/jobs',
      '#/schedules',
      '#/tokens',
      '#/users',
      '#/audit',
    ];
    for (const hash of pages) {
      await page.goto(`${fleet.server.url}/console/${hash}`);
      await page.waitForLoadState('networkidle');
      await page.waitForFunction(() => !document.querySelector('#main .loading'));
      const title = (await page.getByRole('heading', { level: 1 }).textContent()) ?? '';
      assert.notEqual(title, 'This page could not be shown', `${hash}: ${await page.locator('#notice').textContent()}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `${hash} is ${wide}px wider than the window`);
    }
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the main pages work with the keyboard alone: a card, the list, a machine', async () => {
    const { page } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD);
    await page.locator('.cards a').first().waitFor();
    await page.getByRole('heading', { name: 'Overview' }).focus();
    await tabTo(page, (f) => f.startsWith('a:') && f.includes('Outdated'));
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/machines\?state=outdated$/);
    await page.getByRole('heading', { name: 'Machines' }).waitFor();
    await waitForText(page, '.pager .range', / of \d+ /);
    assert.equal(await focused(page), 'h1:Machines', 'the new page announces itself');
    await tabTo(page, 'a:prod-1');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'prod-1', level: 1 }).waitFor();
    assert.equal(await focused(page), 'h1:prod-1');
    // the skip link: from the top of the page to the content
    await page.locator('.skip').focus();
    await page.keyboard.press('Enter');
    assert.equal(await focused(page), 'main');
  });

  it("an operator queues a job from the jobs page; the agent runs it; the job's page shows its transcript", async () => {
    await fleet.publish([...V1, ...V2, { name: 'banner', version: '1.0-1', arch: 'all' }]);
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, '#/jobs');
    const form = page.getByRole('form', { name: 'Queue a job' });
    await form.getByLabel('Kind').selectOption('install');
    await form.getByLabel('For').fill('qa-1');
    await form.getByLabel('Packages').fill('banner');
    await form.getByRole('button', { name: 'Queue job' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Queue' }).click();
    const queued = await waitForText(page, '#notice', /^Queued 1 job\(s\): \d+ \(qa-1\)\.$/);
    const id = Number(/: (\d+) /.exec(queued)![1]);
    const job = fleet.server.services.fleet.jobs.byId(id)!;
    assert.deepEqual([job.kind, JSON.parse(job.params)], ['install', { packages: ['banner'] }]);
    assert.equal(fleet.server.services.audit.query({ action: 'jobs.create', user: 'oscar' }).length, 1);

    await fleet.qa.runOk(['run-once']);
    await fleet.settle();
    await page.getByRole('link', { name: String(id), exact: true }).click();
    await page.getByRole('heading', { name: `Job ${id}: install on qa-1` }).waitFor();
    const transcript = (await page.locator('pre.transcript').textContent()) ?? '';
    assert.equal(transcript, fleet.server.services.fleet.jobs.byId(id)!.transcript);
    assert.match(transcript, /apt-get .* install banner\n[\s\S]*Setting up banner \(1\.0-1\)/);
    assert.match((await page.locator('dl.facts').textContent()) ?? '', /Statesucceeded/);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it("a machine's action bar queues an upgrade after a confirmation; the job's page cancels it", async () => {
    const prod2 = fleet.prod[1]!.state.identity()!.machine;
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, `#/machines/${prod2}`);
    const bar = page.getByRole('group', { name: 'Actions' });
    await bar.getByRole('button', { name: 'Upgrade now' }).click();
    const dialog = page.getByRole('dialog');
    assert.match((await dialog.textContent()) ?? '', /Upgrade prod-2\?.*An upgrade job for prod-2/);
    await dialog.getByRole('button', { name: 'Queue the upgrade' }).click();
    const queued = await waitForText(page, '#notice', /^Queued: job \d+\.$/);
    const id = Number(/job (\d+)/.exec(queued)![1]);
    const job = fleet.server.services.fleet.jobs.byId(id)!;
    assert.deepEqual([job.machineId, job.kind, job.state, job.origin], [prod2, 'upgrade', 'queued', 'api:oscar']);
    // the machine's recent jobs list it; its page cancels it
    await page.getByRole('link', { name: String(id), exact: true }).click();
    await page.getByRole('heading', { name: `Job ${id}: upgrade on prod-2` }).waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel the job' }).click();
    await waitForText(page, '#notice', new RegExp(`^Job ${id} cancelled\\.$`));
    assert.equal(fleet.server.services.fleet.jobs.byId(id)!.state, 'cancelled');
    assert.match((await page.locator('dl.facts').textContent()) ?? '', /Statecancelled/);
    assert.equal(await page.getByRole('button', { name: 'Cancel job' }).count(), 0);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('hostile host names are text on every page; the enrolment refuses them; nothing runs, nothing is fetched', async () => {
    // the enrolment checks a host name (a machine cannot name itself so)
    const count = () => fleet.server.services.fleet.machines.all().length;
    const before = count();
    await assert.rejects(
      enrolOverHttp(
        fleet.server.url,
        fleet.server.fleet.enrolment.createToken({ autoApprove: true }).token,
        HOSTILE_IMG,
      ),
    );
    assert.equal(count(), before, 'no machine enrolled');
    // as a database from elsewhere (or an older version) might hold them
    const rename = fleet.server.db.prepare('UPDATE machine SET hostname = ? WHERE id = ?');
    rename.run(HOSTILE_IMG, fleet.lab.machine);
    rename.run(HOSTILE_SCRIPT, fleet.pending.machine);

    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, '#/machines');
    await page.locator('#main tbody tr').first().waitFor();
    const hosts = await page.locator('#main tbody td:first-child a').allTextContents();
    assert.ok(hosts.includes(HOSTILE_IMG) && hosts.includes(HOSTILE_SCRIPT), hosts.join(' | '));

    await page.getByRole('link', { name: HOSTILE_IMG, exact: true }).click();
    await page.getByRole('heading', { name: HOSTILE_IMG, level: 1 }).waitFor();
    assert.equal(await page.title(), 'aptgate');

    // the approval, its button and its dialog name the pending machine
    await page.goto(`${fleet.server.url}/console/#/tokens`);
    await page.getByRole('button', { name: `Approve ${HOSTILE_SCRIPT}` }).click();
    const dialog = page.getByRole('dialog');
    assert.equal(await dialog.getByRole('heading').textContent(), `Approve ${HOSTILE_SCRIPT}?`);
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await waitForText(page, '#notice', /approved\.$/);
    assert.equal(await page.locator('#notice').textContent(), `${HOSTILE_SCRIPT}: approved.`);
    assert.equal(fleet.server.services.fleet.machines.byId(fleet.pending.machine)!.status, 'approved');

    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined, 'no script ran');
    assert.equal(await page.locator('#main img, #main script, dialog img').count(), 0, 'no element made of a name');
    assert.deepEqual(
      log.requests.filter((u) => new URL(u).origin !== origin || /\/x$/.test(new URL(u).pathname)),
      [],
      'no request left the origin, none for the image',
    );
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });
});
