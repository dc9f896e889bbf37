// Issue 18, part B: the site registry. A real central server and a real site server on
// 127.0.0.1: `aptgate site join` (the real CLI) checks the central key's fingerprint (a wrong one
// writes nothing), registers and keeps the identity 0600; the site reports at start and
// `aptgate sites list|show` print its statistics, the same here and through the API; forged,
// replayed and hostile site.report calls are refused and change nothing; a real agent enrols and
// runs through the site's /RPC2 relay; a machine in a site's class or network gets its stage
// sources at the site's URL (longest network first, class before network).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readSiteIdentity, SiteClient, type SiteIdentity } from '../src/assembly/site-client.js';
import { siteOfMachine } from '../src/fleet/site-membership.js';
import { encodeCall, decodeResponse } from '../src/protocol/codec.js';
import { faultCodes } from '../src/protocol/faults.js';
import { signSiteRequest } from '../src/protocol/signing.js';
import { localPrincipal } from '../src/access/principal.js';
import { createAgent } from './helpers/agent.js';
import { indexSecuritySuite } from './helpers/fleet-api.js';
import { bearer } from './helpers/api.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));

let dir: string;
let central: TestServer;
let site: TestServer | undefined;
let siteDir: string;
let fingerprint: string;
let apiToken: string;

async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const r = await exec(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 60_000 });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A command on the central host and through its API: the same output. */
async function same(args: string[]): Promise<string> {
  const local = await cli([...args, '--db', central.config.db]);
  const remote = await cli([...args, '--server', central.url], { APTGATE_TOKEN: apiToken });
  assert.equal(local.code, 0, `${args.join(' ')}: ${local.stderr}`);
  assert.equal(remote.code, 0, `${args.join(' ')} --server: ${remote.stderr}`);
  assert.equal(remote.stdout, local.stdout, args.join(' '));
  return local.stdout;
}

/** One raw POST /RPC2 to the central server (headers as given). */
async function post(body: string, headers: Record<string, string>): Promise<{ fault?: number; value?: unknown }> {
  const res = await fetch(`${central.url}/RPC2`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml', ...headers },
    body,
  });
  assert.equal(res.status, 200);
  return decodeResponse(await res.text()).then(
    (value) => ({ value }),
    (e: { faultCode?: number }) => ({ fault: e.faultCode ?? -1 }),
  );
}

const stats = (name: string) => {
  const s = central.services.sites.store.byName(name)!;
  return JSON.stringify([
    s.bytesLocal,
    s.bytesParent,
    s.hits,
    s.misses,
    s.health,
    s.healthReason,
    s.preload,
    s.runStarted,
  ]);
};

const goodReport = (o: Record<string, unknown> = {}) => ({
  started: '1700000000000',
  bytes_local: '5000000000',
  bytes_parent: '1000',
  hits: '7',
  misses: '3',
  health: 'ok',
  reason: '',
  preload: { files_done: '2', files_total: '4', bytes_done: '100', bytes_total: '300' },
  ...o,
});

describe('issue 18: the site registry', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i18-registry-'));
    const centralDir = path.join(dir, 'central');
    central = await startServer(
      testConfig(centralDir, {}, (c) => {
        c.stateDir = centralDir;
      }),
    );
    fingerprint = await central.gate.prepareKey();
    await central.services.access.addUser('vera', 'viewer', 'correct horse battery staple');
    const t = central.services.access.createApiToken(localPrincipal(), {
      role: 'viewer',
      expiresAt: Date.now() + 86_400_000,
      user: 'vera',
    });
    apiToken = t.token;
    siteDir = path.join(dir, 'site');
  });
  after(async () => {
    await site?.close();
    await central?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('site join refuses a key whose fingerprint is not the one given, and writes nothing', async () => {
    const token = central.services.sites.createToken({ name: 'north' }).token;
    const wrong = 'A'.repeat(40);
    const r = await cli([
      'site',
      'join',
      '--parent',
      central.url,
      '--token',
      token,
      '--fingerprint',
      wrong,
      '--state-dir',
      siteDir,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not AAAA/);
    assert.equal(existsSync(siteDir), false, 'nothing written');
    // the token was not used: the right fingerprint joins with it
    const ok = await cli([
      'site',
      'join',
      '--parent',
      central.url,
      '--token',
      token,
      '--fingerprint',
      fingerprint.toLowerCase(),
      '--state-dir',
      siteDir,
      '--url',
      'http://north.example:3142',
      '--json',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const j = JSON.parse(ok.stdout) as { name: string; parentKey: string; identity: string };
    assert.equal(j.name, 'north');
    assert.deepEqual(await readFile(j.parentKey), (await central.gate.exportKey(true)).data);
    assert.equal((await stat(j.identity)).mode & 0o777, 0o600);
    // joined once: again is refused (the token is used anyway)
    const again = await cli([
      'site',
      'join',
      '--parent',
      central.url,
      '--token',
      token,
      '--fingerprint',
      fingerprint,
      '--state-dir',
      siteDir,
    ]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /joined already/);
  });

  it('the site reports at start; sites list and show print it, here and through the API alike', async () => {
    site = await startServer(
      testConfig(siteDir, {}, (c) => {
        c.stateDir = siteDir;
        c.site.parent = central.url;
        c.site.parentKey = path.join(siteDir, 'site', 'parent-key.gpg');
      }),
    );
    await waitFor(() => central.services.sites.store.byName('north')?.lastContact, 'the first report');
    const list = await same(['sites', 'list']);
    assert.match(list, /^NAME\s+URL\s+LAST CONTACT/);
    assert.match(list, /north\s+http:\/\/north\.example:3142\s.*\sok\s/);
    const show = JSON.parse(await same(['sites', 'show', 'north', '--json'])) as Record<string, unknown>;
    assert.equal(show['health'], 'ok');
    assert.equal(show['lastAddress'], '127.0.0.1');
    assert.equal(show['machines'], 0);
    assert.match(await same(['sites', 'show', 'north']), /served locally/);
    const missing = await cli(['sites', 'show', 'nowhere', '--db', central.config.db]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no site named nowhere/);
  });

  it('a report adds up across the site restarts; bad, forged and replayed reports change nothing', async () => {
    const id = readSiteIdentity(site!.config) as SiteIdentity;
    const client = new SiteClient(central.url, id);
    const before = central.services.sites.store.byName('north')!;
    await client.call('site.report', [goodReport()]);
    await client.call('site.report', [goodReport({ hits: '9' })]);
    // a new run of the site: its counters start again and are added
    await client.call('site.report', [
      goodReport({ started: '1700000001000', hits: '1', health: 'degraded', reason: 'parent unreachable' }),
    ]);
    const s = central.services.sites.store.byName('north')!;
    assert.equal(s.hits, before.hits + 9 + 1);
    assert.equal(s.bytesLocal, before.bytesLocal + 2 * 5_000_000_000);
    assert.equal(s.health, 'degraded');
    assert.deepEqual(s.preload, { filesDone: 2, filesTotal: 4, bytesDone: 100, bytesTotal: 300 });
    const shown = JSON.parse(await same(['sites', 'show', 'north', '--json'])) as Record<string, unknown>;
    assert.equal(shown['healthReason'], 'parent unreachable');

    const was = stats('north');
    const hostile: Array<[Record<string, unknown>, string]> = [
      [goodReport({ hits: '-1' }), 'negative'],
      [goodReport({ hits: 1.5 }), 'fraction'],
      [goodReport({ bytes_local: '99999999999999999999' }), 'too large'],
      [goodReport({ health: 'fine' }), 'health'],
      [goodReport({ reason: 'x'.repeat(501) }), 'long reason'],
      [goodReport({ reason: 'two\nlines' }), 'control'],
      [
        goodReport({ preload: { files_done: '5', files_total: '4', bytes_done: '0', bytes_total: '0' } }),
        'done > total',
      ],
      [goodReport({ preload: [] }), 'preload not a struct'],
      [{ health: 'ok' }, 'members missing'],
    ];
    for (const [report, what] of hostile) {
      await assert.rejects(
        client.call('site.report', [report]),
        (e: { faultCode?: number }) => e.faultCode === faultCodes.INVALID_PARAMS,
        what,
      );
    }
    assert.equal(stats('north'), was, 'hostile reports changed nothing');

    const body = encodeCall('site.report', [goodReport({ hits: '1000' })]);
    // unsigned: refused before the parameters are read
    assert.equal((await post(body, {})).fault, faultCodes.AUTH_FAILED);
    // signed with another secret, or for another site
    assert.equal(
      (await post(body, signSiteRequest('x'.repeat(43), String(id.site), Date.now(), body))).fault,
      faultCodes.AUTH_FAILED,
    );
    assert.equal(
      (await post(body, signSiteRequest(id.secret, String(id.site + 1), Date.now(), body))).fault,
      faultCodes.AUTH_FAILED,
    );
    // the signature covers the body
    const other = encodeCall('site.report', [goodReport({ hits: '2000' })]);
    assert.equal(
      (await post(other, signSiteRequest(id.secret, String(id.site), Date.now(), body))).fault,
      faultCodes.AUTH_FAILED,
    );
    // a site's signature is no machine's: the machine header with a site's signature
    const asMachine = signSiteRequest(id.secret, String(id.site), Date.now(), body);
    const machineHeaders = { ...asMachine, 'x-aptgate-machine': String(id.site) };
    delete (machineHeaders as Record<string, string>)['x-aptgate-site'];
    assert.equal((await post(body, machineHeaders)).fault, faultCodes.AUTH_FAILED);
    // replayed: the same request a second time; and a timestamp outside the window
    const signed = signSiteRequest(id.secret, String(id.site), Date.now() + 1000, body);
    assert.deepEqual({ ...((await post(body, signed)).value as object) }, { accepted: true });
    const after1 = stats('north');
    assert.equal((await post(body, signed)).fault, faultCodes.REPLAY_REFUSED);
    assert.equal(
      (await post(body, signSiteRequest(id.secret, String(id.site), Date.now() + 3_600_000, body))).fault,
      faultCodes.REPLAY_REFUSED,
    );
    assert.equal(stats('north'), after1, 'a replay changed nothing');
    // a site's and a machine's headers at once
    const both = { ...signSiteRequest(id.secret, String(id.site), Date.now() + 2000, body), 'x-aptgate-machine': '1' };
    assert.equal((await post(body, both)).fault, faultCodes.AUTH_FAILED);
    assert.equal(stats('north'), after1, 'refused calls changed nothing');
    // hostile registrations: refused, no site made
    const fresh = central.services.sites.createToken({}).token;
    const register = (p: Record<string, unknown>) => new SiteClient(central.url).call('site.register', [p]);
    for (const [p, what] of [
      [{ token: fresh, name: 'Bad Name', url: '' }, 'name'],
      [{ token: fresh, name: 'x'.repeat(64), url: '' }, 'long name'],
      [{ token: fresh, name: 'west', url: 'file:///etc/passwd' }, 'url scheme'],
      [{ token: fresh, name: 'west', url: 'http://u:p@west.example/' }, 'credentials'],
      [{ token: fresh, name: 'west', url: 'http://' + 'w'.repeat(300) + '.example/' }, 'long url'],
      [{ token: fresh, name: 'north', url: '' }, 'name taken'],
      [{ token: fresh, name: 7, url: '' }, 'name not a string'],
    ] as const) {
      await assert.rejects(register(p), (e: { faultCode?: number }) => e.faultCode === faultCodes.INVALID_PARAMS, what);
    }
    assert.deepEqual(
      central.services.sites.store.all().map((x) => x.name),
      ['north'],
    );
    // a site token registers once only; an unknown one never
    await assert.rejects(
      new SiteClient(central.url).call('site.register', [{ token: 'ast_' + 'a'.repeat(32), name: 'east', url: '' }]),
      (e: { faultCode?: number }) => e.faultCode === faultCodes.TOKEN_INVALID,
    );
    assert.equal(central.services.sites.store.byName('east'), undefined);
  });

  it('the API: viewers read the sites, only administrators change them', async () => {
    const api = (method: string, p: string, token: string, body?: unknown) =>
      bearer(central.url, token).call(method, p, body);
    const list = await api('GET', '/sites', apiToken);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body['sites'].map((s: { name: string }) => s.name),
      ['north'],
    );
    assert.equal((await api('GET', '/sites/north', apiToken)).body['name'], 'north');
    assert.equal((await api('GET', '/sites/nowhere', apiToken)).status, 404);
    for (const [m, p, b] of [
      ['PUT', '/sites/north', { url: 'http://evil.example' }],
      ['DELETE', '/sites/north', undefined],
      ['POST', '/sites/tokens', {}],
    ] as const) {
      const r = await api(m, p, apiToken, b);
      assert.equal(r.status, 403, `${m} ${p}`);
      assert.equal(r.body['error'].code, 'FORBIDDEN');
    }
    await central.services.access.addUser('ada', 'admin', 'correct horse battery staple');
    const admin = central.services.access.createApiToken(localPrincipal(), {
      role: 'admin',
      expiresAt: Date.now() + 86_400_000,
      user: 'ada',
    }).token;
    const made = await api('POST', '/sites/tokens', admin, { name: 'east', expires: '1d' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    assert.match(made.body['token'], /^ast_/);
    assert.equal(made.body['fingerprint'], fingerprint);
    assert.match(made.body['joinCommand'], new RegExp(`--fingerprint ${fingerprint} --name east`));
    const bad = await api('PUT', '/sites/north', admin, { networks: ['not-a-network'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body['error'].code, 'USAGE');
    const audit = central.services.audit.query({}).filter((e) => e.action.startsWith('sites.'));
    assert.ok(
      audit.some((e) => e.action === 'sites.set' && e.result !== 'ok'),
      'a refused change is audited',
    );
    assert.ok(audit.some((e) => e.action === 'sites.token' && e.result === 'ok'));
  });

  it('a real agent enrols and runs once through the site relay', async () => {
    const agent = await createAgent(path.join(dir, 'agent'), site!.url, { hostname: 'relayed1' });
    await agent.configure({ server: site!.url });
    const token = central.fleet.enrolment.createToken({ autoApprove: true }).token;
    await agent.runOk(['enrol', '--token', token]);
    const run = JSON.parse(await agent.runOk(['run-once', '--json'])) as { status: string };
    assert.equal(run.status, 'approved');
    const [m] = central.fleet.machines.byHostname('relayed1');
    assert.ok(m, 'the central server knows the machine');
    assert.ok(central.fleet.machines.report(m.id), 'its report reached the central server');
    // an unsigned body larger than the /RPC2 route takes never leaves the site
    const big = await fetch(`${site!.url}/RPC2`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: 'x'.repeat(100 * 1024),
    });
    assert.equal(big.status, 400);
    // the site keeps no fleet of its own
    assert.deepEqual(site!.fleet.machines.byHostname('relayed1'), []);
  });

  it("a machine of a site's class or network gets its stage sources at the site's URL", async () => {
    const svc = central.services;
    await svc.gate.onSnapshotIndexed(indexSecuritySuite(svc));
    const facts = {
      hostname: 'qa1',
      machineId: 'd'.repeat(32),
      architecture: 'amd64',
      foreignArchitectures: [],
      distribution: 'Debian',
      codename: 'bookworm',
      kernel: '6.1.0',
      agentVersion: '0.1.0',
    };
    const machine = svc.fleet.enrol(svc.fleet.enrolment.createToken({ autoApprove: true }).token, facts).machine;
    svc.fleet.classes.create('qa');
    svc.fleet.classes.bindStage('qa', 'test', false, central.config.gate.stages);
    svc.fleet.classes.addMember('qa', machine);
    const host = 'central.example:3142';
    const sources = async () => {
      const s = await svc.fleet.sourcesOf(machine, facts.machineId, host);
      const hash = svc.fleet.checkIn(machine, {
        machineId: facts.machineId,
        state: 'e'.repeat(64),
        packages: 'f'.repeat(64),
        host,
      }).sources;
      assert.equal(hash, s.hash);
      return { uris: s.entries.map((e) => e.uri), hash };
    };
    const plain = await sources();
    assert.deepEqual(plain.uris, ['http://central.example:3142/stage/test/debian-security']);

    // by class (the real CLI, on the central host)
    const set = await cli([
      'sites',
      'set',
      'north',
      '--class',
      'qa',
      '--url',
      'http://north.example:3142/',
      '--db',
      central.config.db,
    ]);
    assert.equal(set.code, 0, set.stderr);
    const byClass = await sources();
    assert.deepEqual(byClass.uris, ['http://north.example:3142/stage/test/debian-security']);
    assert.notEqual(byClass.hash, plain.hash, 'a new hash: the agent fetches its sources again');
    assert.equal(JSON.parse(await same(['sites', 'show', 'north', '--json']))['machines'], 1);

    // by network: the longest prefix wins; a class of a site comes before any network
    const south = svc.sites.createToken({}).token;
    svc.sites.register(south, 'south', 'http://south.example:3142', '');
    central.db.prepare('UPDATE machine SET last_address = ? WHERE id = ?').run('10.9.1.7', machine);
    assert.equal(
      (await cli(['sites', 'set', 'south', '--networks', '10.9.1.0/24', '--db', central.config.db])).code,
      0,
    );
    assert.deepEqual((await sources()).uris, ['http://north.example:3142/stage/test/debian-security'], 'class first');
    assert.equal(
      (await cli(['sites', 'set', 'north', '--no-classes', '--networks', '10.9.0.0/16', '--db', central.config.db]))
        .code,
      0,
    );
    assert.deepEqual(
      (await sources()).uris,
      ['http://south.example:3142/stage/test/debian-security'],
      'longest network',
    );
    // hostile settings: refused, nothing changed
    for (const bad of [
      ['--networks', '10.9.0.1/16'],
      ['--networks', '300.1.0.0/16'],
      ['--class', 'nosuchclass'],
      ['--url', 'ftp://x'],
    ]) {
      const r = await cli(['sites', 'set', 'south', ...bad, '--db', central.config.db]);
      assert.notEqual(r.code, 0, bad.join(' '));
    }
    assert.deepEqual(svc.sites.store.byName('south')!.networks, ['10.9.1.0/24']);
    // removed: the machine reads through the central server again
    assert.equal((await cli(['sites', 'remove', 'south', '--db', central.config.db])).code, 0);
    assert.deepEqual((await sources()).uris, ['http://north.example:3142/stage/test/debian-security']);
    const audit = svc.audit.query({}).map((e) => e.action);
    assert.ok(audit.includes('sites.set') && audit.includes('sites.remove'), 'changes are audited');
  });

  it('the membership rule, alone', () => {
    const sites = [
      { name: 'a', classes: ['lab'], networks: ['10.0.0.0/8'] },
      { name: 'b', classes: [], networks: ['10.1.0.0/16', 'fd00:1::/48'] },
    ];
    assert.equal(siteOfMachine(sites, { classes: [], address: '10.1.2.3' })?.name, 'b');
    assert.equal(siteOfMachine(sites, { classes: [], address: '::ffff:10.2.2.3' })?.name, 'a');
    assert.equal(siteOfMachine(sites, { classes: ['lab'], address: '10.1.2.3' })?.name, 'a');
    assert.equal(siteOfMachine(sites, { classes: [], address: 'fd00:1:0:5::9' })?.name, 'b');
    assert.equal(siteOfMachine(sites, { classes: [], address: '192.0.2.1' }), undefined);
    assert.equal(siteOfMachine(sites, { classes: [], address: null }), undefined);
  });
});
