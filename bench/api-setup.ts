// What bench:api prepares before the server starts, in the server's database through the
// assembled services (as the command line on the server host would): the enrolment tokens, an
// account with an API token (the API's credential: `aptgate api-tokens create`), classes by
// site, an audit log with history; and the server's configuration (both backends on the fixture
// upstream, signed by the test key).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../src/access/audit.js';
import { localPrincipal } from '../src/access/principal.js';
import { assemble } from '../src/assembly/services.js';
import { loadConfig } from '../src/config.js';
import { openDb } from '../src/state/db.js';
import { prng } from '../test/helpers/statusgen.js';

export const SITES = ['ber', 'muc', 'ham', 'fra', 'lon', 'par', 'ams', 'vie'];
const ACTIONS = ['machines.approve', 'jobs.create', 'stages.promote', 'classes.add', 'tokens.create', 'users.add'];

export interface Prepared {
  /** auto-approving enrolment token */
  enrol: string;
  /** enrolment token whose machines wait for approval */
  enrolPending: string;
  /** Bearer token of a viewer (reads everything) */
  apiToken: string;
  classes: string[];
  auditEntries: number;
}

export async function prepareDb(dbFile: string, cacheDir: string, auditEntries: number): Promise<Prepared> {
  const config = loadConfig({ env: {}, overrides: { db: dbFile, cacheDir } });
  const db = openDb(dbFile);
  const services = assemble(config, { db, dbFile, mode: 'cli' });
  try {
    const enrolment = services.fleet.enrolment;
    const enrol = enrolment.createToken({ autoApprove: true, note: 'bench:api' }).token;
    const enrolPending = enrolment.createToken({ autoApprove: false, note: 'bench:api, approval' }).token;
    await services.access.addUser('bench', 'viewer', randomBytes(18).toString('base64url'));
    const apiToken = services.access.createApiToken(localPrincipal('bench'), {
      user: 'bench',
      role: 'viewer',
      name: 'bench:api',
      expiresAt: Date.now() + 86_400_000,
    }).token;
    const classes: string[] = [];
    for (const site of SITES) {
      const name = `site-${site}`;
      services.fleet.classes.create(name, { description: `machines at ${site}` });
      services.fleet.classes.addRule(name, 'hostname', `ws-${site}-*`);
      classes.push(name);
    }
    // a year of administration, oldest first: the newest entries are the ones a page shows
    const r = prng(11);
    let at = Date.now() - 365 * 86_400_000;
    const step = (365 * 86_400_000) / Math.max(1, auditEntries);
    const audit = new AuditLog(db, () => at);
    db.transaction(() => {
      for (let i = 0; i < auditEntries; i++) {
        at += step;
        const user = ['alice', 'oscar', 'olga'][Math.floor(r() * 3)]!;
        audit.record({
          principal: { kind: 'user', name: user, role: 'admin', address: `10.0.${i % 7}.${1 + (i % 200)}` },
          action: ACTIONS[Math.floor(r() * ACTIONS.length)]!,
          args: { ref: `ws-${SITES[i % SITES.length]}-${String(i % 20_000).padStart(6, '0')}.bench.example.org` },
          result: r() < 0.05 ? 'FORBIDDEN' : 'ok',
        });
      }
    })();
    return { enrol, enrolPending, apiToken, classes, auditEntries };
  } finally {
    await services.stop();
    db.close();
  }
}

/** The configuration file: the default backends' mirrors on the fixture upstream. */
export function writeConfig(dir: string, upstream: string, keyring: string): string {
  const file = join(dir, 'aptgate.conf');
  writeFileSync(
    file,
    [
      '[server]',
      'log_level = warn',
      '',
      // nothing but the bench asks upstream: no refresh of its own during the measurements
      '[proxy]',
      'refresh_interval = 0',
      '',
      // every simulated machine enrols from 127.0.0.1 with one token
      '[fleet]',
      'enrol_limit_address = 0',
      'enrol_limit_token = 0',
      '',
      '[backend debian]',
      `mirrors = ${upstream}/debian`,
      `keyring = ${keyring}`,
      '',
      '[backend debian-security]',
      `mirrors = ${upstream}/debian-security`,
      `keyring = ${keyring}`,
      '',
    ].join('\n'),
  );
  return file;
}
