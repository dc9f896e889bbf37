// Issue 16: the console's accounts pages in a real browser (Debian's chromium through
// playwright-core) against a real server and its real API: log in and out, a session that ends
// (the server's clock moves past admin.session_idle) leads back to the login form and then to the
// page that was open, the users page (an admin adds, changes a role, removes; others have no
// link and the API refuses them), API tokens (shown once, usable, revoked), the audit page
// (filters, a refused filter, hostile text shown as text). What the page did is checked against
// the server's own state, not against the page.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addTestUsers, anonymous, bearer, PASSWORD } from './helpers/api.js';
import {
  focused,
  launchBrowser,
  logIn,
  tabTo,
  unexpectedErrors,
  waitForText,
  type TestBrowser,
} from './helpers/browser.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

const HOUR = 3_600_000;

describe('issue 16: the console against the API (accounts, tokens, audit)', () => {
  let dir: string;
  let server: TestServer;
  let browser: TestBrowser;
  let origin: string;
  // the server's clock runs ahead by this much (a session's end without waiting for it)
  let skew = 0;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-console-access-'));
    server = await startServer(testConfig(dir, {}), { now: () => Date.now() + skew });
    await addTestUsers(server.services);
    origin = new URL(server.url).origin;
    browser = await launchBrowser(dir);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const users = () => new Map(server.services.access.listUsers().map((u) => [u.name, u.role]));
  const audited = (action: string) => server.services.audit.query({ action, limit: 1000 });

  it('logs in through the form: the sections, who is logged in; logs out: the session ends on the server', async () => {
    const { page, log } = await browser.newPage();
    // a bookmark of a page: the login form first, then that page
    await logIn(page, server.url, 'oscar', PASSWORD, '#/audit');
    assert.equal(await page.locator('#who span').textContent(), 'oscar (operator)');
    const sections = await page.locator('#nav a').allTextContents();
    assert.ok(sections.includes('Overview') && sections.includes('Audit log'), sections.join(', '));
    assert.ok(!sections.includes('Users'), 'an operator has no link to the users page');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    assert.equal(await focused(page), 'h1:Audit log', 'the page heading has the focus');
    const cookies = await page.context().cookies();
    const cookie = cookies.find((c) => c.name === 'aptgate_session');
    assert.ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.path === '/api/v1');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the page cannot read the session cookie');

    await page.getByRole('button', { name: 'Log out' }).click();
    await waitForText(page, '#login-status', /You are logged out/);
    assert.equal(await page.locator('#nav').isHidden(), true);
    // the cookie's session is over on the server, not only forgotten by the page
    const again = await anonymous(server.url, { cookie: `aptgate_session=${cookie.value}` }).call('GET', '/session');
    assert.equal(again.status, 401);
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/session')).status), 401);
    const out = audited('session.logout').filter((e) => e.actor === 'oscar');
    assert.equal(out.length, 1);
    assert.equal(out[0]!.result, 'ok');
    assert.deepEqual(unexpectedErrors(log, origin), []);
  });

  it('a session that ended on the server (idle too long) leads to the login form, then back to the page that was open', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/audit');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    // the idle limit (admin.session_idle, 8 h by default) passes on the server's clock
    skew += server.config.admin.sessionIdleMs + HOUR;
    await page.getByRole('link', { name: 'Tokens' }).click();
    await waitForText(page, '#login-status', /Your session has ended: log in again/);
    assert.equal(await page.locator('#nav').isHidden(), true);
    assert.equal(await page.locator('#notice').isHidden(), true, 'no error beside the login form');
    assert.equal(await focused(page), 'login-user');
    await page.getByLabel('User').fill('vera');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    // the page the link asked for, not the overview
    await page.getByRole('heading', { name: 'Tokens and approvals' }).waitFor();
    assert.match(page.url(), /#\/tokens$/);
    assert.equal(await page.locator('#who span').textContent(), 'vera (viewer)');
    assert.deepEqual(
      unexpectedErrors(log, origin, ['/session', '/machines', '/tokens', '/api-tokens']),
      [],
      'only the refusals of the ended session',
    );
  });

  it('an admin adds a user, changes the role, removes the user; a refused input is shown and changes nothing', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'alice', PASSWORD, '#/audit');
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    const table = page.locator('#main table');
    assert.deepEqual((await table.locator('tbody tr td:first-child').allTextContents()).sort(), [
      'alice',
      'oscar',
      'vera',
    ]);

    // too short a password: the API's USAGE, shown as it is; nobody added
    const add = page.getByRole('form', { name: 'Add a user' });
    await add.getByLabel('Name').fill('dora');
    await add.getByLabel('Role').selectOption('operator');
    await add.getByLabel('Password').fill('short');
    await page.evaluate(() => document.querySelector('#user-password')!.removeAttribute('minlength'));
    await page.getByRole('button', { name: 'Add user' }).click();
    const refusal = await waitForText(page, '#notice', /\(USAGE\)$/);
    assert.match(refusal, /password/i);
    assert.equal(users().has('dora'), false);
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not kept in the page');

    await page.getByLabel('Password').fill('a long enough password');
    await page.getByRole('button', { name: 'Add user' }).click();
    await waitForText(page, '#notice', /User dora added \(operator\)\./);
    assert.equal(users().get('dora'), 'operator');
    await page.getByRole('cell', { name: 'dora', exact: true }).waitFor();

    // the role: the select, the button, the confirmation
    await page.getByLabel('Role of dora', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Set the role of dora' }).click();
    const dialog = page.getByRole('dialog');
    assert.match((await dialog.textContent()) ?? '', /Make dora viewer\?/);
    await dialog.getByRole('button', { name: 'Change the role' }).click();
    await waitForText(page, '#notice', /dora is viewer now\./);
    assert.equal(users().get('dora'), 'viewer');
    assert.equal(await page.getByLabel('Role of dora', { exact: true }).inputValue(), 'viewer');

    // cancelled: nothing asked of the server
    await page.getByRole('button', { name: 'Remove dora' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal(users().has('dora'), true);
    await page.getByRole('button', { name: 'Remove dora' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await waitForText(page, '#notice', /User dora removed\./);
    assert.equal(users().has('dora'), false);
    assert.equal(await page.getByRole('cell', { name: 'dora', exact: true }).count(), 0);

    // the last admin cannot go: the API's refusal, on the page
    await page.getByRole('button', { name: 'Remove alice' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await waitForText(page, '#notice', /\([A-Z_]+\)$/);
    assert.equal(users().get('alice'), 'admin');

    const trail = server.services.audit
      .query({ action: 'users', limit: 100 })
      .filter((e) => e.actor === 'alice')
      .map((e) => `${e.action} ${e.result}`);
    assert.deepEqual(trail.reverse(), [
      'users.add USAGE',
      'users.add ok',
      'users.role ok',
      'users.remove ok',
      'users.remove USAGE',
    ]);
    // the refusals' answers (400 and the last admin's) are the only failed loads
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/users', '/users/alice']), []);
  });

  it('an operator has no users link; the page itself shows the API refusal (403) and no list', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'oscar', PASSWORD, '#/audit');
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
    await page.goto(`${server.url}/console/#/users`);
    const notice = await waitForText(page, '#notice', /\(FORBIDDEN\)$/);
    assert.match(notice, /users\.list needs the admin role/);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'This page could not be shown');
    assert.equal(await page.locator('#main table').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Add user' }).count(), 0);
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/users']), []);
  });

  it('an API token: created at the role chosen (at most one’s own), shown once, works as Bearer, revoked from the page', async () => {
    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'oscar', PASSWORD, '#/tokens');
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    const roles = await page.locator('#api-role option').allTextContents();
    assert.deepEqual(roles, ['viewer', 'operator'], 'no role above the owner’s is offered');
    const form = page.getByRole('form', { name: 'Create an API token' });
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByLabel('Expires in').fill('2d');
    await form.getByLabel('Label').fill('nightly report');
    await page.getByRole('button', { name: 'Create API token' }).click();
    const shown = page.locator('#main pre');
    await shown.waitFor();
    const token = ((await shown.textContent()) ?? '').trim();
    assert.match(token, /^agt_api_/);
    assert.match(
      (await page.locator('#main .notice strong').textContent()) ?? '',
      /copy it now, it is not shown again/,
    );
    // the list was read again: the new token is in it, with its label and state
    const row = page.getByRole('row', { name: /nightly report/ });
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /viewer.*active/);

    const script = bearer(server.url, token);
    const who = await script.call('GET', '/session');
    assert.equal(who.status, 200);
    assert.deepEqual([who.body.user, who.body.role, who.body.kind], ['oscar', 'viewer', 'token']);

    // shown once: not on the page any more after a reload
    await page.reload();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await row.waitFor();
    assert.ok(!((await page.locator('#main').textContent()) ?? '').includes(token));

    const id = server.services.access
      .listApiTokens({ kind: 'user', name: 'oscar', role: 'operator' })
      .find((t) => t.name === 'nightly report')!.id;
    await page.getByRole('button', { name: `Revoke API token ${id}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await waitForText(page, '#notice', new RegExp(`API token ${id} revoked\\.`));
    assert.match((await row.textContent()) ?? '', /revoked/);
    assert.equal(await page.getByRole('button', { name: `Revoke API token ${id}` }).count(), 0);
    assert.equal((await script.call('GET', '/session')).status, 401, 'the revoked token opens nothing');
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/machines', '/tokens']), []);
  });

  it('the API tokens part works with the keyboard alone: Tab to the revoke button, Enter, confirm in the dialog', async () => {
    const created = await server.services.access.createApiToken(
      { kind: 'user', name: 'vera', role: 'viewer' },
      { role: 'viewer', expiresAt: Date.now() + 86_400_000, name: 'keyboard' },
    );
    const { page } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/tokens');
    await page.getByRole('button', { name: `Revoke API token ${created.id}` }).waitFor();
    await page.getByRole('heading', { level: 1 }).focus();
    await tabTo(page, `button:Revoke API token ${created.id}`);
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    // the dialog opens on Cancel (the safe choice); Shift+Tab reaches the confirmation
    assert.equal(await focused(page), 'button:Cancel');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'button:Revoke');
    await page.keyboard.press('Enter');
    await waitForText(page, '#notice', new RegExp(`API token ${created.id} revoked\\.`));
    const t = server.services.access
      .listApiTokens({ kind: 'user', name: 'vera', role: 'viewer' })
      .find((x) => x.id === created.id)!;
    assert.equal(t.state, 'revoked');
  });

  it('the audit page: who did what from where; filters; a refused filter keeps the form; hostile text stays text', async () => {
    // a login attempt with markup for a name: audited with the name as given
    const hostile = '<img src=x onerror="window.__pwned=1">';
    const tried = await anonymous(server.url).call('POST', '/session', { user: hostile, password: 'nope' });
    assert.equal(tried.status, 401);

    const { page, log } = await browser.newPage();
    await logIn(page, server.url, 'vera', PASSWORD, '#/audit');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const rows = page.locator('#main table tbody tr');
    await rows.first().waitFor();
    const entries = server.services.audit.query({ limit: 100 });
    assert.equal(await rows.count(), entries.length, 'every entry (up to a page) is a row');
    // newest first, as the API answers
    assert.match((await rows.first().textContent()) ?? '', /session\.login/);
    const added = page.getByRole('row').filter({ hasText: 'users.add' }).filter({ hasText: '"role":"operator"' });
    assert.match((await added.first().textContent()) ?? '', /alice.*127\.0\.0\.1.*users\.add.*"name":"dora".*ok/);
    const refusedLogin = page.getByRole('row', { name: /session\.login/ }).filter({ hasText: hostile });
    assert.equal(await refusedLogin.count(), 1, 'the hostile name is shown as text');
    assert.match((await refusedLogin.textContent()) ?? '', /UNAUTHENTICATED/);
    assert.equal(await page.locator('#main img').count(), 0, 'no element made of it');
    assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined);

    // a filter: only the users.* actions, by the API (the link keeps it)
    await page.getByLabel('Action').fill('users');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/#\/audit\?action=users$/);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#main tbody tr td:nth-child(4)')].every((td) =>
        td.textContent!.startsWith('users.'),
      ),
    );
    const actions = await page.locator('#main tbody tr td:nth-child(4)').allTextContents();
    assert.equal(actions.length, audited('users').length);

    // a date the API cannot read: its USAGE under the form, which stays to be corrected
    await page.getByLabel('Since').fill('last tuesday');
    await page.getByRole('button', { name: 'Show' }).click();
    const bad = await waitForText(page, '#main p.bad', /\(USAGE\)$/);
    assert.match(bad, /since/);
    assert.equal(await page.getByLabel('Since').inputValue(), 'last tuesday');
    assert.equal(await page.locator('#main table').count(), 0);
    assert.deepEqual(
      log.requests.filter((u) => new URL(u).origin !== origin),
      [],
      'no request left the origin',
    );
    assert.deepEqual(unexpectedErrors(log, origin, ['/session', '/audit']), []);
  });
});
