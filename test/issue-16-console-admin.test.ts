// Issue 16: the console's administration pages in a real browser against a real server and its
// API: enrolment tokens (an operator creates one, shown once with the enrol command, and revokes
// it; a viewer has no form), schedules and maintenance windows (added and removed; a refused
// cron or window shown as the API says it, nothing added). What the page did is checked against
// the server's own state and audit log.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addTestUsers, PASSWORD } from './helpers/api.js';
import { launchBrowser, logIn, unexpectedErrors, waitForText, type TestBrowser } from './helpers/browser.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

describe('issue 16: the console’s administration pages against the API', () => {
  let dir: string;
  let server: TestServer;
  let browser: TestBrowser;
  let origin: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-console-admin-'));
    server = await startServer(testConfig(dir, {}));
    await addTestUsers(server.services);
    server.fleet.classes.create('web');
    origin = new URL(server.url).origin;
    browser = await launchBrowser(dir);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const audited = (action: string) => server.services.audit.query({ action, limit: 100 }).map((e) => e.result);

  it('an operator creates an enrolment token (shown once, with the enrol command) and revokes it', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'oscar', PASSWORD, '#/tokens');
    const form = page.getByRole('form', { name: 'Create an enrolment token' });
    await form.getByLabel('Class').fill('web');
    await form.getByLabel('Expires in').fill('2d');
    await form.getByLabel('Uses').fill('5');
    await form.getByLabel('Note').fill('rack 4');
    await form.getByRole('button', { name: 'Create token' }).click();
    const shown = page.locator('#main .notice pre');
    await shown.first().waitFor();
    const [token, command] = await shown.allTextContents();
    assert.match(token!, /^\S{20,}$/);
    assert.match(command!, new RegExp(`^aptgate-agent enrol --server https?://\\S+ --token ${token}$`));
    const [made] = server.fleet.machines.tokens();
    assert.ok(made && made.class === 'web' && made.maxUses === 5 && made.note === 'rack 4');
    // the list, read again, has it
    await page.reload();
    const row = page.getByRole('row').filter({ hasText: 'rack 4' });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /valid\s*web\s*no\s*0 of 5/);
    assert.ok(!((await page.locator('#main').textContent()) ?? '').includes(token!), 'shown once');

    await row.getByRole('button', { name: `Revoke enrolment token ${made.id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await waitForText(page, '#notice', new RegExp(`Token ${made.id} revoked\\.`));
    await waitForText(page, `#main`, /revoked\s*web/);
    assert.notEqual(server.fleet.machines.tokenById(made.id)!.revokedAt, null);
    assert.deepEqual(audited('tokens'), ['ok', 'ok']);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('a viewer sees the enrolment tokens but no form and no revoke button', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/tokens');
    await page.getByRole('row').filter({ hasText: 'rack 4' }).waitFor();
    assert.equal(await page.getByRole('form', { name: 'Create an enrolment token' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Revoke enrolment token/ }).count(), 0);
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('an operator adds and removes a schedule and a maintenance window; a refused cron is shown, nothing added', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'oscar', PASSWORD, '#/schedules');
    const form = page.getByRole('form', { name: 'Add a schedule' });
    await form.getByLabel('Class').selectOption('web');
    await form.getByLabel('Job').selectOption('upgrade');
    await form.getByLabel('Cron').fill('0 3 * * 9');
    await form.getByRole('button', { name: 'Add schedule' }).click();
    await waitForText(page, '#notice', /\(USAGE\)$/);
    assert.equal(server.fleet.schedules.list().length, 0);

    await form.getByLabel('Cron').fill('0 3 * * 6');
    await form.getByRole('button', { name: 'Add schedule' }).click();
    await waitForText(page, '#notice', /Schedule added for web\./);
    const [s] = server.fleet.schedules.list();
    assert.ok(s && s.kind === 'upgrade' && s.cron === '0 3 * * 6');
    const row = page.getByRole('row').filter({ hasText: '0 3 * * 6' });
    assert.match((await row.textContent()) ?? '', /web\s*upgrade/);

    const win = page.getByRole('form', { name: 'Add a maintenance window' });
    await win.getByLabel('Window').fill('mon-fri 22:00-04:00');
    await win.getByRole('button', { name: 'Add window' }).click();
    await waitForText(page, '#notice', /Window added to web\./);
    // the server writes the days out
    await waitForText(page, '#windows', /web: mon,tue,wed,thu,fri 22:00-04:00/);

    await page.getByRole('button', { name: `Remove ${s.id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await waitForText(page, '#notice', new RegExp(`Schedule ${s.id} removed\\.`));
    assert.equal(server.fleet.schedules.list().length, 0);
    await page.getByRole('button', { name: /^Remove window mon,tue,wed,thu,fri 22:00-04:00 of web$/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await waitForText(page, '#windows', /web: any time \(no window\)/);
    assert.deepEqual(audited('schedules'), ['ok', 'ok', 'USAGE']);
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/schedules']), []);
  });
});
