// Issue 16: the web console, in a real browser (Debian's chromium through playwright-core,
// test/helpers/browser.ts) against a real aptgate server. This round: the console's files and
// their headers, the login page (labels, keyboard, focus), the CSP at work in the browser (no
// inline script, no framing), every request to the server's own origin, no error in the page,
// every module of the console loading. The pages that show data: the other issue-16-console-*
// files (see the last describe's comment).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { request } from 'undici';
import { defaultConfig, parseConfigText } from '../src/config.js';
import { CONSOLE_DIR, consoleDir, consoleRoutes } from '../src/console/routes.js';
import { OPERATIONS } from '../src/ops/registry.js';
import { launchBrowser, submitLogin, unexpectedErrors, type TestBrowser } from './helpers/browser.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

const consoleFiles = (ext: string) =>
  readdirSync(CONSOLE_DIR, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => path.relative(CONSOLE_DIR, path.join(e.parentPath, e.name)).split(path.sep).join('/'));

describe('issue 16: the console files and their headers', () => {
  let dir: string;
  let server: TestServer;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-console-'));
    server = await startServer(testConfig(dir, {}));
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves index.html under /console/ with a CSP that forbids inline script, framing and other origins', async () => {
    const res = await fetch(`${server.url}/console/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const csp = res.headers.get('content-security-policy') ?? '';
    const directives = new Map(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name!, values] as const;
      }),
    );
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    assert.deepEqual(directives.get('script-src'), ["'self'"]);
    assert.deepEqual(directives.get('style-src'), ["'self'"]);
    assert.deepEqual(directives.get('connect-src'), ["'self'"]);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
    assert.ok(!/unsafe-inline|unsafe-eval|https?:|data:|\*/.test(csp), `nothing beyond 'self': ${csp}`);
    assert.ok(!csp.includes('upgrade-insecure-requests'), 'a console over plain HTTP keeps working');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS over HTTP');
    assert.ok(res.headers.get('etag'), 'revalidated by ETag');
    // (undici's request: fetch() adds Cache-Control: no-cache to a conditional request)
    const again = await request(`${server.url}/console/`, { headers: { 'if-none-match': res.headers.get('etag')! } });
    await again.body.dump();
    assert.equal(again.statusCode, 304);
  });

  it('serves the modules as JavaScript, /console without its slash by a redirect, nothing outside console/', async () => {
    const js = await fetch(`${server.url}/console/js/main.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^(text|application)\/javascript/);
    assert.equal(js.headers.get('cache-control'), 'no-cache');
    const bare = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), '/console/');
    for (const p of ['/console/../package.json', '/console/%2e%2e/package.json', '/console/..%2fpackage.json']) {
      const r = await fetch(`${server.url}${p}`);
      const text = await r.text();
      assert.ok(!text.includes('"dependencies"'), `${p} does not reach the project's files (${r.status})`);
    }
    const missing = await fetch(`${server.url}/console/js/no-such-module.js`);
    assert.equal(missing.status, 404);
  });

  it("leaves apt's page at / on the main listener, and serves nothing under /console/ with admin.console = false", async () => {
    const root = await fetch(`${server.url}/`);
    assert.match(root.headers.get('content-type') ?? '', /^text\/plain/);
    const off = await startServer(
      testConfig(path.join(dir, 'off'), {}, (c) => {
        c.admin.console = false;
      }),
    );
    try {
      const r = await fetch(`${off.url}/console/`);
      assert.notEqual(r.status, 200);
      assert.ok(!(r.headers.get('content-type') ?? '').startsWith('text/html'));
      assert.equal(r.headers.get('content-security-policy'), null);
    } finally {
      await off.close();
    }
  });

  it('on a listener of its own (admin.listen), GET / leads to the console; with TLS the headers add HSTS', async () => {
    const app = Fastify({ logger: false });
    try {
      await consoleRoutes(app, { tls: true, redirectRoot: true });
      const root = await app.inject({ method: 'GET', url: '/' });
      assert.equal(root.statusCode, 302);
      assert.equal(root.headers['location'], '/console/');
      const page = await app.inject({ method: 'GET', url: '/console/' });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['strict-transport-security']), /max-age=\d+/);
    } finally {
      await app.close();
    }
    // a package without the console's files says so (before the server starts anything)
    assert.throws(
      () => consoleDir(dir),
      (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /console's files are missing/.test(e.message),
    );
  });

  it('the files hold no inline script, no inline handler, no style attribute, nothing from elsewhere, no HTML parsing', () => {
    const html = consoleFiles('.html');
    assert.deepEqual(html, ['index.html']);
    for (const f of html) {
      const text = readFileSync(path.join(CONSOLE_DIR, f), 'utf8');
      for (const m of text.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
        assert.match(m[1]!, /\bsrc="[^":]+"/, `${f}: a script with a local src`);
        assert.equal(m[2]!.trim(), '', `${f}: no inline script`);
      }
      assert.ok(!/\son[a-z]+\s*=/i.test(text), `${f}: no inline event handler`);
      assert.ok(!/\sstyle\s*=/i.test(text), `${f}: no style attribute`);
      assert.ok(!/(href|src)="(https?:)?\/\//i.test(text), `${f}: nothing from another host`);
    }
    const scripts = consoleFiles('.js');
    assert.ok(scripts.length >= 20, `the modules are found: ${scripts.length}`);
    for (const f of scripts) {
      const text = readFileSync(path.join(CONSOLE_DIR, f), 'utf8');
      // data from the API is set as text: nothing here parses a string as HTML or code
      assert.ok(
        !/\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*'style'/.test(
          text,
        ),
        `${f} parses no string as HTML or code`,
      );
      assert.ok(!/https?:\/\//.test(text.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')), `${f}: no absolute URL`);
      assert.ok(text.split('\n').length <= 200, `${f}: small (one concern per file)`);
    }
    for (const f of consoleFiles('.css')) {
      const text = readFileSync(path.join(CONSOLE_DIR, f), 'utf8');
      assert.ok(!/@import|url\(/.test(text), `${f}: loads nothing`);
    }
  });

  it('every API path the console asks (js/endpoints.js) is a route of an operation (or the session’s)', async () => {
    const { EP } = (await import(path.join(CONSOLE_DIR, 'js', 'endpoints.js'))) as {
      EP: Record<string, string | ((arg: string) => string)>;
    };
    const routes = OPERATIONS.map((o) => new RegExp(`^${o.path.replace(/:[A-Za-z]+/g, '[^/]+')}$`));
    const missing = Object.entries(EP)
      .map(([name, p]) => [name, typeof p === 'function' ? p('X') : p] as const)
      .filter(([, p]) => p !== '/session' && !routes.some((r) => r.test(p)));
    assert.deepEqual(missing, []);
    assert.ok(Object.keys(EP).length >= 30, 'the paths were read');
  });

  it('admin.console is true or false; "console" is no backend name (its path is the console\'s)', () => {
    const c = defaultConfig();
    assert.equal(c.admin.console, true);
    parseConfigText(c, '[admin]\nconsole = false\n', 'a.conf');
    assert.equal(c.admin.console, false);
    assert.throws(
      () => parseConfigText(defaultConfig(), '[admin]\nconsole = maybe\n', 'a.conf'),
      /admin\.console: expected true or false/,
    );
    assert.throws(
      () => parseConfigText(defaultConfig(), '[backend console]\nmirrors = http://deb.debian.org/debian\n', 'a.conf'),
      /"console" is not a valid backend name/,
    );
  });

  it('the lint script covers the console', () => {
    const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.match(pkg.scripts['lint']!, /eslint [^&]*\bconsole\b/);
    assert.match(pkg.scripts['lint']!, /prettier --check [^&]*console\/\*\*/);
  });
});

describe("issue 16: the package's node_modules keep what the console's libraries load", () => {
  it('prune-runtime keeps a "types" directory the code requires (mime, under @fastify/static) and drops the others', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-prune-'));
    try {
      const put = async (rel: string, text: string) => {
        await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
        await writeFile(path.join(dir, rel), text);
      };
      const pkg = (name: string) => JSON.stringify({ name, version: '1.0.0', main: 'index.js' });
      await put('package.json', JSON.stringify({ dependencies: { 'better-sqlite3': '*', mime: '*', other: '*' } }));
      await put('node_modules/better-sqlite3/package.json', pkg('better-sqlite3'));
      await put('node_modules/better-sqlite3/index.js', 'module.exports = 1;\n');
      await put('node_modules/better-sqlite3/build/Release/better_sqlite3.node', '');
      await put('node_modules/mime/package.json', pkg('mime'));
      await put('node_modules/mime/index.js', "module.exports = require('./types/standard');\n");
      await put('node_modules/mime/types/standard.js', "module.exports = { 'text/css': ['css'] };\n");
      await put('node_modules/mime/types/index.d.ts', 'export {};\n');
      await put('node_modules/other/package.json', pkg('other'));
      // a JSDoc import and a test's require do not make a directory code
      await put('node_modules/other/index.js', '/** @type {import("./types").X} */\nmodule.exports = 1;\n');
      await put('node_modules/other/types/x.js', 'module.exports = 2;\n');
      await put('node_modules/other/test/t.js', "require('../docs/x');\n");
      await put('node_modules/other/docs/x.js', 'module.exports = 3;\n');
      const r = spawnSync(process.execPath, [path.join(projectRoot, 'packaging', 'prune-runtime.mjs'), dir], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const has = (rel: string) => existsSync(path.join(dir, 'node_modules', rel));
      assert.ok(has('mime/types/standard.js'), 'mime keeps what it requires');
      assert.ok(!has('mime/types/index.d.ts'), 'type declarations still go');
      assert.ok(!has('other/types') && !has('other/test') && !has('other/docs'));
      const loaded = spawnSync(
        process.execPath,
        ['-e', 'console.log(JSON.stringify(require(process.argv[1])))', path.join(dir, 'node_modules', 'mime')],
        { encoding: 'utf8' },
      );
      assert.equal(loaded.stdout.trim(), JSON.stringify({ 'text/css': ['css'] }), loaded.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('issue 16: the console in chromium', () => {
  let dir: string;
  let server: TestServer;
  let browser: TestBrowser;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i16-browser-'));
    server = await startServer(testConfig(dir, {}));
    browser = await launchBrowser(dir);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the login form with labelled fields; every request stays on the origin; no error', async () => {
    const { page, log } = await browser.newPage();
    await page.goto(`${server.url}/console/`);
    const user = page.getByLabel('User');
    const password = page.getByLabel('Password');
    await user.waitFor();
    assert.equal(await user.getAttribute('autocomplete'), 'username');
    assert.equal(await password.getAttribute('type'), 'password');
    assert.equal(await page.getByRole('button', { name: 'Log in' }).count(), 1);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Log in to aptgate');
    // the header's sections wait for a session
    assert.equal(await page.locator('#nav').isHidden(), true);
    await page.waitForLoadState('networkidle');
    const origin = new URL(server.url).origin;
    assert.ok(log.requests.length >= 5, `the page's files were requested: ${log.requests.join(' ')}`);
    assert.deepEqual(
      log.requests.filter((u) => new URL(u).origin !== origin),
      [],
      'requests to another origin',
    );
    assert.ok(log.requests.includes(`${origin}/api/v1/session`), 'the console asks who is logged in');
    assert.deepEqual(unexpectedErrors(log, origin), []);
    // readable on a 1366×768 laptop: nothing wider than the window
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  });

  it('is usable with the keyboard: Tab reaches the fields and the button, and the focus is visible', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${server.url}/console/`);
    await page.getByLabel('User').waitFor();
    // from the first stop of the page (the skip link), as a keyboard user arriving
    await page.locator('.skip').focus();
    const reached: string[] = [];
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      reached.push(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          return el.id || `${el.tagName.toLowerCase()}:${el.textContent?.trim() ?? ''}`;
        }),
      );
      if (reached.at(-1) === 'button:Log in') break;
    }
    const at = (x: string) => reached.indexOf(x);
    assert.ok(at('login-user') >= 0 && at('login-user') < at('login-password'), reached.join(' → '));
    assert.ok(at('login-password') < at('button:Log in'), reached.join(' → '));
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused button shows its focus');
    // the skip link lands on the content
    await page.locator('.skip').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  });

  it('the CSP is enforced: an injected inline script does not run, and another page cannot frame the console', async () => {
    const { page } = await browser.newPage();
    await page.goto(`${server.url}/console/`);
    await page.getByLabel('User').waitFor();
    const injected = await page.evaluate(
      () =>
        new Promise<{ ran: boolean; violated: string }>((resolve) => {
          let violated = '';
          document.addEventListener('securitypolicyviolation', (e) => {
            violated = e.violatedDirective;
          });
          const s = document.createElement('script');
          s.textContent = 'window.__injected = true;';
          document.body.append(s);
          const b = document.createElement('button');
          b.setAttribute('onclick', 'window.__injected = true');
          document.body.append(b);
          b.click();
          setTimeout(() => resolve({ ran: (window as { __injected?: boolean }).__injected === true, violated }), 100);
        }),
    );
    assert.equal(injected.ran, false);
    assert.match(injected.violated, /^script-src/);

    const framer = await browser.newPage();
    await framer.page.setContent(`<iframe id="f" src="${server.url}/console/"></iframe>`);
    await framer.page.waitForLoadState('networkidle');
    const frame = framer.page.frames().find((f) => f !== framer.page.mainFrame());
    assert.ok(frame, 'the frame exists');
    assert.equal(await frame.$('#main'), null, 'the console did not load inside the frame');
  });

  it('a refused login shows the answer, keeps the form and forgets the password', async () => {
    const { page, log } = await browser.newPage();
    const posted: Array<{ body: string | null; csrf: string | undefined }> = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') posted.push({ body: r.postData(), csrf: r.headers()['x-aptgate-csrf'] });
    });
    await submitLogin(page, server.url, 'nobody', 'not-a-password');
    const status = page.locator('#login-status');
    await page.waitForFunction(() => {
      const t = document.getElementById('login-status')?.textContent ?? '';
      return t !== '' && t !== 'Logging in…';
    });
    assert.ok((await status.textContent())!.length > 0);
    assert.deepEqual(posted, [
      { body: JSON.stringify({ user: 'nobody', password: 'not-a-password' }), csrf: undefined },
    ]);
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not kept in the page');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-password');
    assert.equal(await page.locator('#nav').isHidden(), true);
    assert.deepEqual(unexpectedErrors(log, new URL(server.url).origin), []);
  });

  it('every module of the console loads in the browser (no syntax error, every import resolves)', async () => {
    const { page, log } = await browser.newPage();
    await page.goto(`${server.url}/console/`);
    await page.getByLabel('User').waitFor();
    const modules = consoleFiles('.js');
    const failed = await page.evaluate(async (names) => {
      const out: string[] = [];
      for (const n of names) {
        try {
          const m = (await import(`/console/${n}`)) as Record<string, unknown>;
          if (
            n.startsWith('js/pages/') &&
            !n.includes('-') &&
            n !== 'js/pages/login.js' &&
            typeof m['render'] !== 'function'
          )
            out.push(`${n}: no render()`);
        } catch (e) {
          out.push(`${n}: ${String(e)}`);
        }
      }
      return out;
    }, modules);
    assert.deepEqual(failed, []);
    assert.deepEqual(unexpectedErrors(log, new URL(server.url).origin), []);
  });

  // The pages against the real API and a real fleet: issue-16-console-access (log in and out,
  // session expiry, users, API tokens, audit), -admin (enrolment tokens, schedules, windows),
  // -fleet (overview counts = the CLI's, the kept-back reason, print, keyboard, hostile names,
  // jobs) and -gate (promote after the test machine passed, the audit link, a viewer refused).
});
