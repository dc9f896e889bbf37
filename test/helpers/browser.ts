// A real browser for the console's tests: Debian's chromium (scripts/debian-packages.txt, group
// test) driven headless by playwright-core, which downloads no browser of its own. Everything
// the browser and playwright write (profile, artifacts, crash reports, fontconfig cache) goes
// under the test's own directory, removed by close(); each test gets a fresh context (no cookie
// or storage of another). Every page records its requests, console messages and script errors.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface PageLog {
  /** every URL the page asked for (documents, modules, styles, fetches, icons) */
  requests: string[];
  /** console messages of type error, with where they came from */
  consoleErrors: Array<{ text: string; url: string }>;
  /** uncaught exceptions and rejections in the page */
  pageErrors: string[];
}

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (no cookies) and a page in it, recording into `log`. */
  newPage(o?: {
    viewport?: { width: number; height: number };
  }): Promise<{ context: BrowserContext; page: Page; log: PageLog }>;
  /** Closes every context and the browser, then removes the browser's directory. */
  close(): Promise<void>;
}

/** Launches chromium with its files under `dir` (created; removed again by close()). */
export async function launchBrowser(dir: string): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: install the Debian package chromium (node scripts/debian-packages.mjs test)`,
    );
  const home = path.join(dir, 'browser');
  await mkdir(home, { recursive: true });
  // playwright puts its profile and artifacts directories in os.tmpdir() when it launches
  const tmpdir = process.env['TMPDIR'];
  process.env['TMPDIR'] = home;
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // chromium refuses to run as root inside its sandbox
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      env: { ...process.env, HOME: home, TMPDIR: home, XDG_CONFIG_HOME: home, XDG_CACHE_HOME: home },
    });
  } finally {
    if (tmpdir === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = tmpdir;
  }
  const contexts: BrowserContext[] = [];
  return {
    browser,
    newPage: async (o = {}) => {
      const context = await browser.newContext({ viewport: o.viewport ?? { width: 1366, height: 768 } });
      contexts.push(context);
      const page = await context.newPage();
      // a missing element fails the test in seconds, not playwright's 30
      page.setDefaultTimeout(10_000);
      const log: PageLog = { requests: [], consoleErrors: [], pageErrors: [] };
      page.on('request', (r) => log.requests.push(r.url()));
      page.on('console', (m) => {
        if (m.type() === 'error') log.consoleErrors.push({ text: m.text(), url: m.location().url });
      });
      page.on('pageerror', (e) => log.pageErrors.push(String(e)));
      return { context, page, log };
    },
    close: async () => {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/**
 * Opens the console at `base` (at `hash`, a page of it) and submits its login form as a person would (labels, the
 * button). Waits for nothing after the click: a test waits for what it expects (the sections'
 * links after a login, the form's message after a refusal).
 */
export async function submitLogin(page: Page, base: string, user: string, password: string, hash = ''): Promise<void> {
  await page.goto(`${base}/console/${hash}`);
  await page.getByLabel('User').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/**
 * The page's console errors and script errors, less the browser's "Failed to load resource"
 * reports of API answers the test expects to be refusals (`refused`: API paths such as
 * '/session', the probe of a logged-out visit; a test of a 403 names its route).
 */
export function unexpectedErrors(log: PageLog, origin: string, refused: string[] = ['/session']): string[] {
  const expected = (url: string) => refused.some((p) => url.split('?')[0] === `${origin}/api/v1${p}`);
  return log.consoleErrors
    .filter((e) => !(expected(e.url) && /^Failed to load resource: /.test(e.text)))
    .map((e) => `${e.text} (${e.url})`)
    .concat(log.pageErrors);
}

/**
 * Logs in through the form and waits for the console's sections (the header's links); `hash`
 * ('#/audit') is the page asked for (a bookmark), shown after the login instead of the overview.
 */
export async function logIn(page: Page, base: string, user: string, password: string, hash = ''): Promise<void> {
  await submitLogin(page, base, user, password, hash);
  await page.locator('#nav a').first().waitFor();
}

/** Waits until the element's text matches (the page renders after its API answers). */
export async function waitForText(page: Page, selector: string, re: RegExp, timeout = 10_000): Promise<string> {
  await page.waitForFunction(
    ([sel, src, flags]) => new RegExp(src!, flags).test(document.querySelector(sel!)?.textContent ?? ''),
    [selector, re.source, re.flags] as const,
    { timeout },
  );
  return (await page.locator(selector).first().textContent()) ?? '';
}

/** The focused element, as a test names it: its id, else tag and text. */
export async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el) return '';
    return el.id || `${el.tagName.toLowerCase()}:${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim()}`;
  });
}

/** Presses Tab until `want` (a focused() name, or a test of it) has the focus; at most `max` times. */
export async function tabTo(page: Page, want: string | ((f: string) => boolean), max = 60): Promise<string[]> {
  const ok = typeof want === 'string' ? (f: string) => f === want : want;
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(f);
    if (ok(f)) return seen;
  }
  throw new Error(`Tab never reached ${String(want)}: ${seen.join(' → ')}`);
}
