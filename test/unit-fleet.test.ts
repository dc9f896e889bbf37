// Unit checks of the fleet's small parsers: which backend a client's source goes through,
// cron expressions, maintenance windows, apt sources files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backendOfUri } from '../src/fleet/source-backend.js';
import { defaultConfig } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import { parseWindow, windowOpen, formatWindow } from '../src/fleet/classes.js';
import { nextRun, parseCron } from '../src/fleet/cron.js';
import { parseSourcesFile } from '../src/index/sources.js';
import { BackendMap } from '../src/proxy/target.js';

const local = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi);

describe('fleet parsers', () => {
  it("maps sources to backends: mirrors and aliases directly, remap mode only on this server's own host", () => {
    const map = backendOfUri(new BackendMap(defaultConfig()));
    const of = (uri: string, host: string | undefined) => {
      const r = map(uri, host);
      return r && (r.stage ? `${r.stage}/${r.backend}` : r.backend);
    };
    assert.equal(of('http://deb.debian.org/debian', undefined), 'debian');
    assert.equal(of('https://deb.debian.org/debian/', undefined), 'debian');
    assert.equal(of('http://security.debian.org/debian-security', undefined), 'debian-security');
    assert.equal(of('http://aptgate.lan:3142/debian', 'aptgate.lan:3142'), 'debian');
    assert.equal(of('http://aptgate.lan:3142/debian-security', 'APTGATE.lan:3142'), 'debian-security');
    assert.equal(
      of('http://mirror.example.org/debian-security', 'aptgate.lan:3142'),
      undefined,
      'another host is not us',
    );
    assert.equal(of('http://aptgate.lan:3142/nosuch', 'aptgate.lan:3142'), undefined);
    assert.equal(
      of('http://aptgate.lan:3142/stage/test/debian', 'aptgate.lan:3142'),
      'test/debian',
      'a stage of the release gate',
    );
    assert.equal(of('http://aptgate.lan:3142/stage/test/nosuch', 'aptgate.lan:3142'), undefined);
    assert.equal(of('file:///srv/repo', 'aptgate.lan:3142'), undefined);
  });

  it('reads cron expressions as crontab(5) does', () => {
    assert.deepEqual(nextRun(parseCron('0 2 * * *'), local(2026, 12, 3, 1, 59)), local(2026, 12, 3, 2, 0));
    assert.deepEqual(nextRun(parseCron('0 2 * * *'), local(2026, 12, 3, 2, 0)), local(2026, 12, 4, 2, 0));
    assert.deepEqual(nextRun(parseCron('*/15 * * * *'), local(2026, 12, 3, 10, 7)), local(2026, 12, 3, 10, 15));
    assert.deepEqual(
      nextRun(parseCron('30 4 * * mon-fri'), local(2026, 12, 5, 0, 0)),
      local(2026, 12, 7, 4, 30),
      'Saturday → Monday',
    );
    assert.deepEqual(nextRun(parseCron('0 0 1 jan *'), local(2026, 12, 3, 0, 0)), local(2027, 1, 1, 0, 0));
    // both day fields restricted: either matches (the 13th, or a Friday)
    assert.deepEqual(nextRun(parseCron('0 0 13 * 5'), local(2026, 12, 3, 0, 0)), local(2026, 12, 4, 0, 0));
    for (const bad of ['0 2 * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '*/0 * * * *', 'a b c d e', '0 0 31 2 *']) {
      assert.throws(
        () => nextRun(parseCron(bad), new Date()),
        (e) => isAptgateError(e, 'USAGE'),
        bad,
      );
    }
  });

  it('opens maintenance windows on their days, also across midnight', () => {
    const w = parseWindow('mon-fri 22:00-04:00');
    assert.equal(formatWindow(w), 'mon,tue,wed,thu,fri 22:00-04:00');
    assert.ok(windowOpen(w, local(2026, 12, 4, 23, 0)), 'Friday 23:00');
    assert.ok(windowOpen(w, local(2026, 12, 5, 3, 59)), 'Saturday 03:59 belongs to Friday night');
    assert.ok(!windowOpen(w, local(2026, 12, 6, 3, 0)), 'Sunday 03:00: Saturday night is not in');
    assert.ok(!windowOpen(w, local(2026, 12, 4, 21, 59)));
    const d = parseWindow('daily 01:00-05:00');
    assert.ok(windowOpen(d, local(2026, 12, 6, 1, 0)) && !windowOpen(d, local(2026, 12, 6, 5, 0)));
    assert.ok(windowOpen(parseWindow('sat,sun 00:00-24:00'), local(2026, 12, 6, 12, 0)));
    for (const bad of ['mon-fri', 'xyz 01:00-02:00', 'daily 25:00-26:00', 'daily 01:00-01:00']) {
      assert.throws(
        () => parseWindow(bad),
        (e) => isAptgateError(e, 'USAGE'),
        bad,
      );
    }
  });

  it('reads deb822 and one-line sources, skipping disabled entries and comments', () => {
    const deb822 =
      '# comment\nTypes: deb deb-src\nURIs: http://a/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\n\nEnabled: no\nTypes: deb\nURIs: http://b/\nSuites: x\nComponents: main\n';
    assert.deepEqual(parseSourcesFile('/etc/apt/sources.list.d/debian.sources', deb822), [
      {
        types: ['deb', 'deb-src'],
        uris: ['http://a/debian'],
        suites: ['bookworm', 'bookworm-updates'],
        components: ['main', 'contrib'],
      },
    ]);
    assert.deepEqual(
      parseSourcesFile(
        '/etc/apt/sources.list',
        'deb [arch=amd64 signed-by=/k.gpg] http://a/debian bookworm main # x\n#deb http://c/ y main\ndeb-src http://a/debian bookworm main\n',
      ),
      [
        { types: ['deb'], uris: ['http://a/debian'], suites: ['bookworm'], components: ['main'] },
        { types: ['deb-src'], uris: ['http://a/debian'], suites: ['bookworm'], components: ['main'] },
      ],
    );
  });
});
