// Issue 16: the release gate in the console, in a real browser against a real fleet (real agents
// in their own roots, apt and dpkg for real, as in issue 5's gate tests). The gate page says what
// the closed gate waits for; once the test machine's upgrade passed, an operator promotes from the
// page with the keyboard alone; the audit page shows the promotion with a link to the generation
// it made, whose evidence the stage's history shows. A viewer sees no button that changes the
// gate, and the API refuses the viewer's promotion anyway (403, in the audit log).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, login, PASSWORD } from './helpers/api.js';
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

describe('issue 16: the release gate in the console', () => {
  let fleet: ConsoleFleet;
  let browser: TestBrowser;
  let origin: string;

  before(async () => {
    fleet = await makeConsoleFleet();
    await fleet.publishV2();
    browser = await launchBrowser(fleet.dir);
    origin = new URL(fleet.server.url).origin;
  });
  after(async () => {
    await browser?.close();
    await fleet?.close();
  });

  const productionGenerations = () => fleet.server.gate.history('production').length;
  const stageSection = (page: import('playwright-core').Page, stage: string) =>
    page.getByRole('region', { name: new RegExp(`^${stage} → `) });

  it('while the test machine has not upgraded: gate closed, what it waits for, the pending updates; no plain promote', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, '#/gate');
    const test = stageSection(page, 'test');
    await test.waitFor();
    assert.match((await test.locator('.badge').textContent()) ?? '', /gate closed/);
    const missing = await test.locator('ul li').allTextContents();
    assert.deepEqual(missing, fleet.server.gate.status('test').missing);
    assert.match(missing.join('\n'), /qa-1: no upgrade job since the content was published/);
    const pending = await test.locator('table').first().locator('tbody tr td:nth-child(2)').allTextContents();
    assert.deepEqual(pending, ['demo', 'libapp', 'other']);
    assert.equal(await test.getByRole('button', { name: 'Promote all' }).count(), 0);
    assert.equal(await test.getByRole('button', { name: 'Force promotion…' }).count(), 1);
    // the same answer as the command line's
    const cli = await fleet.cliJson<{ stages: Array<{ stage: string; holds: boolean }> }>('gate', 'status');
    assert.deepEqual(
      cli.stages.map((s) => [s.stage, s.holds]),
      [['test', false]],
    );
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('a viewer sees no button that changes the gate; the API refuses the viewer’s promotion (403) and records it', async () => {
    const run = await fleet.upgradeOnQa();
    assert.deepEqual(
      run.map((j) => j.failure),
      [undefined, undefined],
    );
    assert.equal(fleet.server.gate.status('test').holds, true, fleet.server.gate.status('test').missing.join('; '));
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD, '#/gate');
    const test = stageSection(page, 'test');
    await test.waitFor();
    assert.match((await test.locator('.badge').textContent()) ?? '', /gate open/);
    const buttons = await page.locator('#main button').allTextContents();
    assert.deepEqual(
      buttons.filter((b) => /promot|roll back|force/i.test(b)),
      [],
      `no promote, force or rollback for a viewer: ${buttons.join(', ')}`,
    );
    assert.equal(await page.locator('#main input[type=checkbox]').count(), 0, 'nothing to select either');

    // the API decides, whatever the page shows: vera's own session and CSRF token
    const before = productionGenerations();
    const vera = await login(fleet.server.url, 'vera', PASSWORD);
    assertError(await vera.call('POST', '/stages/test/promote', {}), 403, 'FORBIDDEN');
    assert.equal(productionGenerations(), before, 'nothing promoted');
    const refused = fleet.server.services.audit.query({ action: 'gate.promote', user: 'vera' });
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.result, 'FORBIDDEN');
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  let generation = 0;

  it('an operator promotes from the gate page with the keyboard alone, after the test machine passed', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, '#/gate');
    const test = stageSection(page, 'test');
    await test.waitFor();
    assert.match((await test.locator('.badge').textContent()) ?? '', /gate open/);
    // the evidence: the test machine passed, with the job that shows it
    const evidence = test.locator('table').nth(1);
    assert.match((await evidence.locator('tbody tr').first().textContent()) ?? '', /^qa-1passed\d+/);
    const job = fleet.server.gate.status('test').machines[0]!.standing as { job: number };
    assert.equal(await evidence.getByRole('link', { name: String(job.job) }).getAttribute('href'), `#/jobs/${job.job}`);

    await page.getByRole('heading', { level: 1 }).focus();
    await tabTo(page, 'button:Promote all');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /Promote test → production\?.*All 3 updates move to production/);
    assert.equal(await focused(page), 'button:Cancel', 'the dialog opens on the safe choice');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'button:Promote');
    await page.keyboard.press('Enter');
    const done = await waitForText(page, '#notice', /^Promoted test → production: /);
    const made = fleet.server.gate.history('production').at(-1)!;
    generation = made.id;
    assert.equal(done, `Promoted test → production: generation ${made.id} (fixture stable).`);
    assert.equal(made.kind, 'promote');
    assert.equal(made.actor, 'oscar');
    // the page was read again: nothing waits any more
    await waitForText(page, '#main', /Nothing waits to move on\./);
    const cli = await fleet.cliJson<{ stages: Array<{ updates: unknown[] }> }>('gate', 'status');
    assert.deepEqual(cli.stages[0]!.updates, []);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('the audit page shows the promotion with a link to its generation; the link shows its evidence', async () => {
    assert.ok(generation > 0, 'the promotion of the previous test');
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'vera', PASSWORD, '#/audit?action=gate.promote');
    const rows = page.locator('#main table tbody tr');
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    assert.equal(texts.length, 2, texts.join('\n'));
    assert.match(texts[0]!, /oscar.*gate\.promote.*"stage":"test".*ok/);
    assert.match(texts[1]!, /vera.*gate\.promote.*FORBIDDEN/);
    const link = rows.first().getByRole('link', { name: `generation ${generation} of production` });
    assert.equal(await link.getAttribute('href'), `#/gate/production?gen=${generation}`);
    await link.click();
    await page.getByRole('heading', { name: 'History of production' }).waitFor();
    const row = page.locator(`#gen-${generation}`);
    assert.equal(await row.getAttribute('class'), 'marked');
    assert.equal(await focused(page), `gen-${generation}`, 'the generation has the focus');
    const text = (await row.textContent()) ?? '';
    assert.match(text, /promote.*oscar/);
    assert.match(text, /from test; gate held/);
    assert.match(text, /test machines: qa-1 passed/);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('a forced promotion needs a reason (the dialog will not send without one); a rollback takes one too', async () => {
    // a new upstream version the test machine has not upgraded to: the gate is closed again
    await fleet.publish([...V1, ...V2, { name: 'demo', version: '3.0-1', arch: 'all' }]);
    assert.equal(fleet.server.gate.status('test').holds, false);
    const { page, log } = await browser.newPage();
    await logIn(page, fleet.server.url, 'oscar', PASSWORD, '#/gate');
    const test = stageSection(page, 'test');
    await test.getByRole('button', { name: 'Force promotion…' }).click();
    const dialog = page.getByRole('dialog');
    assert.match((await dialog.textContent()) ?? '', /The gate does not hold: qa-1: no upgrade job/);
    const before = productionGenerations();
    await dialog.getByRole('button', { name: 'Force the promotion' }).click();
    // nothing sent: the reason is required, and has the focus
    assert.equal(await dialog.isVisible(), true);
    assert.equal(await focused(page), (await dialog.getByLabel('Reason (required)').getAttribute('id'))!);
    assert.equal(productionGenerations(), before);
    await dialog.getByLabel('Reason (required)').fill('upstream fixes a data loss bug <b>now</b>');
    await dialog.getByRole('button', { name: 'Force the promotion' }).click();
    await waitForText(page, '#notice', /^Promoted test → production: generation \d+/);
    const forced = fleet.server.gate.history('production').at(-1)!;
    assert.deepEqual(
      [forced.kind, forced.forced, forced.actor, forced.reason],
      ['promote', true, 'oscar', 'upstream fixes a data loss bug <b>now</b>'],
    );

    const production = page.getByRole('region', { name: 'production (last stage)' });
    await production.getByRole('button', { name: 'Roll back…' }).click();
    await page.getByRole('dialog').getByLabel('Reason').fill('demo 3.0 breaks the reports');
    await page.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
    await waitForText(page, '#notice', /^Rolled back production: generation \d+/);
    const back = fleet.server.gate.history('production').at(-1)!;
    assert.deepEqual([back.kind, back.actor, back.reason], ['rollback', 'oscar', 'demo 3.0 breaks the reports']);

    // the history shows both, the reason as text
    await page.getByRole('link', { name: 'History of production' }).click();
    await page.getByRole('heading', { name: 'History of production' }).waitFor();
    const rows = await page.locator('#main tbody tr').allTextContents();
    assert.match(rows[0]!, /rollback.*oscar.*demo 3\.0 breaks the reports.*returned to generation \d+/);
    assert.match(rows[1]!, /promote \(forced\).*oscar.*upstream fixes a data loss bug <b>now<\/b>/);
    assert.equal(await page.locator('#main b').count(), 0);
    assert.deepEqual(
      fleet.server.services.audit.query({ action: 'stages.rollback' }).map((e) => [e.actor, e.result]),
      [['oscar', 'ok']],
    );
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });
});
