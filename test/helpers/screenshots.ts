// The README's screenshots of the web console (`npm run screenshots`, never part of `npm test`:
// it writes into the repository): a small real fleet (helpers/console-fleet.ts) after a release
// went through the gate, with a newer one waiting at the test stage, shown in chromium at
// 1366×768 (a laptop screen), one PNG per main page under docs/screenshots/.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { PASSWORD } from './api.js';
import { launchBrowser, logIn } from './browser.js';
import { makeConsoleFleet, V1, V2 } from './console-fleet.js';

export interface Shot {
  file: string;
  /** the console's hash route */
  hash: string;
  /** what is on the page once its data is shown */
  ready: (page: Page) => Promise<unknown>;
}

export async function takeScreenshots(outDir: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const fleet = await makeConsoleFleet({ prodMachines: 3 });
  try {
    log('fleet: v2 upstream, the test machine upgrades, oscar promotes');
    await fleet.publishV2();
    await fleet.upgradeOnQa();
    await fleet.server.gate.promote('test', { actor: 'oscar' });
    await fleet.checkIn();
    // the next release: at the test stage, its gate closed until the test machine upgrades
    await fleet.world.repo.publish('stable', [
      ...V1,
      ...V2,
      { name: 'demo', version: '3.0-1', arch: 'all' },
      { name: 'other', version: '2.1-1', arch: 'all' },
    ]);
    await fleet.checkIn();
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
