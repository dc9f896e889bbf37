// The README's screenshots of the web console (`npm run screenshots`, never part of `npm test`:
// it writes into the repository): a small real fleet (helpers/console-fleet.ts) after a release
// went through the gate, with a newer one waiting at the test stage, shown in chromium at
// 1366×768 (a laptop screen), one PNG per main page under docs/screenshots/.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import assert from 'node:assert/strict';
import { login, PASSWORD, type ApiAnswer } from './api.js';
import { launchBrowser, logIn } from './browser.js';
import { makeConsoleFleet, V1, V2 } from './console-fleet.js';

export interface Shot {
  file: string;
  /** the console's hash route */
  hash: string;
  /** what is on the page once its data is shown */
  ready: (page: Page) => Promise<unknown>;
}

async function must(a: Promise<ApiAnswer>): Promise<unknown> {
  const r = await a;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

export async function takeScreenshots(outDir: string, log: (line: string) => void = () => {}): Promise<string[]> {
  // the proxy's traffic is sampled every 5 minutes; here each step's real traffic is sampled
  // as if hours lay between them (the clock moves back for the sample alone), so the charts
  // of the last 24 hours have something to draw
  let skew = 0;
  const fleet = await makeConsoleFleet({ prodMachines: 3, now: () => Date.now() + skew });
  const sampleHoursAgo = (h: number) => {
    skew = -h * 3_600_000;
    fleet.server.services.traffic.sample();
    skew = 0;
  };
  try {
    sampleHoursAgo(20);
    log('fleet: v2 upstream, the test machine upgrades, oscar promotes');
    await fleet.publishV2();
    sampleHoursAgo(14);
    // what people did goes through the API, so the audit log has it
    const url = fleet.server.url;
    const [alice, oscar, vera] = await Promise.all(['alice', 'oscar', 'vera'].map((u) => login(url, u, PASSWORD)));
    await must(alice.call('POST', '/api-tokens', { role: 'viewer', expires: '90d', name: 'nightly report' }));
    for (const kind of ['update', 'upgrade']) await must(oscar.call('POST', '/jobs', { kind, to: ['qa-1'] }));
    await fleet.qa.runOk(['run-once']);
    await fleet.checkIn();
    sampleHoursAgo(9);
    // a viewer's try is refused (and recorded); the operator's goes through
    assert.equal((await vera.call('POST', '/stages/test/promote', {})).status, 403);
    await must(oscar.call('POST', '/stages/test/promote', {}));
    await fleet.checkIn();
    sampleHoursAgo(5);
    // the next release: at the test stage, its gate closed until the test machine upgrades
    await fleet.publish([
      ...V1,
      ...V2,
      { name: 'demo', version: '3.0-1', arch: 'all' },
      { name: 'other', version: '2.1-1', arch: 'all' },
    ]);
    await fleet.checkIn();
    sampleHoursAgo(1);
    await fleet.checkIn();
    sampleHoursAgo(0);
    const prod1 = fleet.prod[0]!.state.identity()!.machine;
    const shots: Shot[] = [
      { file: 'overview.png', hash: '#/overview', ready: (p) => p.locator('.cards a').first().waitFor() },
      { file: 'machines.png', hash: '#/machines', ready: (p) => p.getByRole('link', { name: 'prod-1' }).waitFor() },
      {
        file: 'machine.png',
        hash: `#/machines/${prod1}`,
        ready: (p) =>
          p
            .getByRole('cell', { name: /kept back/ })
            .first()
            .waitFor(),
      },
      { file: 'packages.png', hash: '#/packages/libapp', ready: (p) => p.locator('#main table').first().waitFor() },
      { file: 'gate.png', hash: '#/gate', ready: (p) => p.getByRole('region', { name: /^test → / }).waitFor() },
      { file: 'audit.png', hash: '#/audit', ready: (p) => p.locator('#main table tbody tr').first().waitFor() },
    ];
    await mkdir(outDir, { recursive: true });
    const browser = await launchBrowser(fleet.dir);
    const written: string[] = [];
    try {
      const { page } = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      await logIn(page, fleet.server.url, 'alice', PASSWORD, '#/audit');
      for (const s of shots) {
        await page.goto(`${fleet.server.url}/console/${s.hash}`);
        await s.ready(page);
        await page.waitForLoadState('networkidle');
        // no focus ring or caret in the picture
        await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
        const file = path.join(outDir, s.file);
        await page.screenshot({ path: file, fullPage: false });
        written.push(file);
        log(`${s.file}: ${s.hash}`);
      }
    } finally {
      await browser.close();
    }
    return written;
  } finally {
    await fleet.close();
  }
}
