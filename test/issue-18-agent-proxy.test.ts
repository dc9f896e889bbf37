// Issue 18: machines use their site. A real central server over the fixture upstream, a real site
// server under it (joined with the real `aptgate site join`, its backend the central's /fixture
// with the upstream's host as an alias, so proxy-mode sources map), a real agent enrolled with
// the central server. The agent's root reads the fixture through a host name nobody resolves
// (deb.aptgate.invalid): apt reaches it only through the site. A machine put in the site (by
// network, then by class) gets apt.conf.d/80aptgate-site-proxy naming the site at its next run-once,
// and a real apt-get update and download in its root go through the site; leaving the site
// removes the file; an edited file is put back; what a server sends is checked before anything
// reaches apt's configuration.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APT_PROXY_NAME, applyAptProxy, aptProxyFile, checkAptProxy, renderAptProxy } from '../src/agent/apt-proxy.js';
import type { RpcClient } from '../src/agent/client.js';
import { runCycle } from '../src/agent/cycle.js';
import { AgentState } from '../src/agent/identity.js';
import { aptProxyOfSite } from '../src/fleet/site-membership.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { renderSources } from './helpers/apt.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { createTestRoot } from './helpers/root.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));
/** a host no resolver knows (RFC 6761): apt reaches it only through a proxy */
const UNRESOLVABLE = 'deb.aptgate.invalid';

function metric(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))) n += Number(m[1]);
  return n;
}

interface RunOnce {
  status: string;
  aptProxy?: string;
}

describe('issue 18: machines use their site (the apt proxy the central server names)', () => {
  let world: World;
  let central: TestServer;
  let site: TestServer;
  let agent: TestAgent;
  let machine: number;

  async function cli(args: string[]) {
    const r = await exec(process.execPath, [CLI, ...args], { env, timeoutMs: 60_000 });
    const out = { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    assert.equal(out.code, 0, `aptgate ${args.join(' ')}: ${out.stderr}`);
    return out.stdout;
  }
  const sitesSet = (...args: string[]) => cli(['sites', 'set', 'north', ...args, '--db', central.config.db]);
  const runOnce = async () => JSON.parse(await agent.runOk(['run-once', '--json'])) as RunOnce;
  const proxyFile = () => path.join(agent.root.root, 'etc/apt/apt.conf.d', APT_PROXY_NAME);
  const siteRequests = async () =>
    metric(await (await fetch(`${site.url}/-/metrics`)).text(), 'aptgate_requests_total');
  const update = () => agent.root.apt(['update', '--error-on=any']);

  before(async () => {
    world = await makeWorld();
    const centralDir = path.join(world.dir, 'central');
    central = await startServer(
      testConfig(centralDir, { fixture: world.backend }, (c) => {
        c.stateDir = centralDir;
      }),
    );
    const fingerprint = await central.gate.prepareKey();
    const siteDir = path.join(world.dir, 'site');
    const token = central.services.sites.createToken({ name: 'north' }).token;
    await cli([
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
    site = await startServer(
      testConfig(siteDir, { fixture: { mirrors: [`${central.url}/fixture`], keyring: world.key.keyring } }, (c) => {
        c.stateDir = siteDir;
        c.site.parent = central.url;
        c.site.parentKey = path.join(siteDir, 'site', 'parent-key.gpg');
        // proxy mode: the machines' sources name the upstream's host; the site maps it to its parent
        c.backends.get('fixture')!.aliases = [`${UNRESOLVABLE}/debian`];
      }),
    );
    await waitFor(() => central.services.sites.store.byName('north')?.lastContact, "the site's first report");
    await sitesSet('--url', site.url);

    agent = await createAgent(path.join(world.dir, 'agent'), central.url, {
      hostname: 'branch1',
      sources: [{ uri: `http://${UNRESOLVABLE}/debian`, suites: ['stable'], signedBy: world.key.keyring }],
    });
    const enrol = central.fleet.enrolment.createToken({ autoApprove: true }).token;
    await agent.runOk(['enrol', '--token', enrol]);
    machine = central.fleet.machines.byHostname('branch1')[0]!.id;
  });

  after(async () => {
    await site?.close();
    await central?.close();
    await world?.close();
  });

  it('a machine in no site gets no proxy: its apt cannot reach the unresolvable host', async () => {
    const r = await runOnce();
    assert.equal(r.status, 'approved');
    assert.equal(r.aptProxy, 'unchanged');
    assert.equal(existsSync(proxyFile()), false);
    const u = await update();
    assert.notEqual(u.code, 0, 'no proxy: apt cannot resolve the host');
    assert.match(u.output, /resolve|Temporary failure|Could not/i);
  });

  it("in the site's network: run-once writes the site as apt's proxy, and apt goes through the site", async () => {
    await sitesSet('--networks', '127.0.0.1/32');
    const r = await runOnce();
    assert.equal(r.aptProxy, 'written');
    const text = await readFile(proxyFile(), 'utf8');
    const origin = `${site.url}/`;
    assert.match(text, new RegExp(`^Acquire::http::Proxy "${origin.replace(/[.]/g, '\\.')}";$`, 'm'));
    // the central server (the agent's server) and the site itself are reached directly: both 127.0.0.1 here
    assert.match(text, /^Acquire::http::Proxy::127\.0\.0\.1 "DIRECT";$/m);
    assert.equal(text.split('\n').filter((l) => l.startsWith('Acquire::')).length, 2);

    const before = await siteRequests();
    const u = await update();
    assert.equal(u.code, 0, u.output);
    assert.ok((await siteRequests()) > before, 'the site answered apt');
    const dl = await agent.root.apt(['install', '--download-only', '-y', 'aptgate-demo']);
    assert.equal(dl.code, 0, dl.output);
    const deb = debOf(world.gen1, 'aptgate-demo');
    // the site's fill is renamed into its cache once verified, just after the client has its bytes
    await waitFor(
      () => existsSync(path.join(site.config.cacheDir, 'fixture', deb.filename)),
      'the .deb in the site cache',
    );
    assert.ok(existsSync(path.join(agent.root.root, 'var/cache/apt/archives', path.basename(deb.filename))));

    // a source at the site itself (as stage sources at a site are) is reached directly: through
    // the proxy it would fail, since an aptgate maps only its backends' hosts, not its own URL
    const atSite = path.join(agent.root.root, 'etc/apt/sources.list.d/at-site.sources');
    await writeFile(atSite, renderSources([{ uri: `${site.url}/fixture`, signedBy: world.key.keyring }]));
    const direct = await update();
    assert.equal(direct.code, 0, direct.output);
    assert.equal((await runOnce()).aptProxy, 'unchanged', 'the next run leaves the file as it is');
    // edited without its DIRECT line: apt asks the site for the site's own URL, which it refuses
    await writeFile(proxyFile(), text.replace(/^.*"DIRECT";\n/m, ''));
    const proxied = await update();
    assert.notEqual(proxied.code, 0, 'without DIRECT the site is asked for its own URL');
    assert.match(proxied.output, /403/);
    // the next run puts the file back
    assert.equal((await runOnce()).aptProxy, 'written');
    assert.equal((await update()).code, 0);
    await rm(atSite);
    assert.equal(await readFile(proxyFile(), 'utf8'), text);
  });

  it('out of the network: the next run removes the file; by class: written again; site removed: gone', async () => {
    await sitesSet('--networks', '');
    assert.equal((await runOnce()).aptProxy, 'removed');
    assert.equal(existsSync(proxyFile()), false);
    assert.notEqual((await update()).code, 0, 'without the site, the host is unreachable again');

    central.services.fleet.classes.create('branch');
    central.services.fleet.classes.addMember('branch', machine);
    await sitesSet('--class', 'branch');
    assert.equal((await runOnce()).aptProxy, 'written');
    assert.match(await readFile(proxyFile(), 'utf8'), new RegExp(`"${site.url.replace(/[.]/g, '\\.')}/"`));
    const u = await update();
    assert.equal(u.code, 0, u.output);

    // an https URL: apt's http proxy cannot be told it; the machine gets none
    await sitesSet('--url', site.url.replace('http:', 'https:'));
    assert.equal((await runOnce()).aptProxy, 'removed');
    await sitesSet('--url', site.url);
    assert.equal((await runOnce()).aptProxy, 'written');

    await cli(['sites', 'remove', 'north', '--db', central.config.db]);
    assert.equal((await runOnce()).aptProxy, 'removed');
    assert.equal(existsSync(proxyFile()), false);
  });

  it("the central server's side: a site URL becomes a proxy only when it is http at its root", () => {
    assert.equal(aptProxyOfSite('http://north.example:3142'), 'http://north.example:3142/');
    assert.equal(aptProxyOfSite('http://[fd00::1]:3142'), 'http://[fd00::1]:3142/');
    assert.equal(aptProxyOfSite('http://north.example'), 'http://north.example/');
    assert.equal(aptProxyOfSite('https://north.example:3142'), '');
    assert.equal(aptProxyOfSite('http://north.example/aptgate'), '');
    assert.equal(aptProxyOfSite(''), '');
    assert.equal(aptProxyOfSite(undefined), '');
  });
});

describe("issue 18: the agent checks the server's apt proxy before apt's configuration sees it", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i18-proxy-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const hostile = [
    'http://x/";\nAcquire::http::Proxy "http://evil/',
    'http://x"/',
    'http://x/\nDPkg::Pre-Invoke { "touch /tmp/pwned"; };',
    'http://x/;',
    'http://x/ ',
    'http://a b/',
    'http://x/\u0000',
    'http://x/\u001b[2J',
    'http://x:3142/path',
    'http://x/?q=1',
    'http://user:pw@x/',
    'https://x/',
    'socks5h://x/',
    'ftp://x/',
    'http://x:0/',
    'http://x:65536/',
    'http://x:99999/',
    'http://-x/',
    'http://x..y/',
    'http://[::1"]/',
    'http:///',
    '//x/',
    'x',
    `http://${'a'.repeat(300)}/`,
    'http://x/{',
    'http://x}/',
  ];

  it('every hostile value is refused; good ones come out canonical', () => {
    for (const v of hostile) assert.throws(() => checkAptProxy(v), Error, JSON.stringify(v));
    for (const v of [42, null, {}, ['http://x/']]) assert.throws(() => checkAptProxy(v));
    assert.equal(checkAptProxy('http://North.Example:3142'), 'http://north.example:3142/');
    assert.equal(checkAptProxy('http://10.1.0.5:3142/'), 'http://10.1.0.5:3142/');
    assert.equal(checkAptProxy('http://[fd00::1]:3142/'), 'http://[fd00::1]:3142/');
  });

  it('the rendered file: one proxy line, DIRECT for the named hosts an apt key can hold', () => {
    assert.deepEqual(
      renderAptProxy('http://north.example:3142/', 'https://central.example:3142')
        .split('\n')
        .filter((l) => !l.startsWith('//')),
      [
        'Acquire::http::Proxy "http://north.example:3142/";',
        'Acquire::http::Proxy::central.example "DIRECT";',
        'Acquire::http::Proxy::north.example "DIRECT";',
        '',
      ],
    );
    // an IPv6 literal cannot be a key of apt's configuration ("::" separates its levels): no DIRECT line for it
    const v6 = renderAptProxy('http://[fd00::1]:3142/', 'http://[fd00::2]:3142');
    assert.deepEqual(
      v6.split('\n').filter((l) => l.startsWith('Acquire::')),
      ['Acquire::http::Proxy "http://[fd00::1]:3142/";'],
    );
  });

  it('a hostile value writes nothing and leaves the file; absent leaves it; empty removes it', async () => {
    const root = await createTestRoot(path.join(dir, 'unit'));
    const file = aptProxyFile(root.target);
    assert.equal(await applyAptProxy(root.target, 'http://north.example:3142/', 'http://central.example'), 'written');
    const good = await readFile(file, 'utf8');
    for (const v of hostile)
      await assert.rejects(applyAptProxy(root.target, v, 'http://central.example'), Error, JSON.stringify(v));
    assert.equal(await readFile(file, 'utf8'), good);
    assert.equal(await applyAptProxy(root.target, undefined, 'http://central.example'), undefined);
    assert.equal(await readFile(file, 'utf8'), good);
    assert.equal(await applyAptProxy(root.target, '', 'http://central.example'), 'removed');
    assert.equal(existsSync(file), false);
    assert.equal(await applyAptProxy(root.target, '', 'http://central.example'), 'unchanged');
    // apt itself reads the file as one proxy (apt-config shows what it parsed)
    await applyAptProxy(root.target, 'http://north.example:3142', 'http://central.example');
    const dump = await root.apt(['dump', 'Acquire::http::Proxy'], 'apt-config');
    assert.equal(dump.code, 0, dump.output);
    assert.match(dump.output, /^Acquire::http::Proxy "http:\/\/north\.example:3142\/";$/m);
    assert.match(dump.output, /^Acquire::http::Proxy::central\.example "DIRECT";$/m);
  });

  it('in a run: a hostile check-in answer is refused, the run goes on, and the file stays as it was', async () => {
    const root = await createTestRoot(path.join(dir, 'cycle'));
    const state = new AgentState(path.join(dir, 'cycle-state'));
    state.ensureDir();
    const file = aptProxyFile(root.target);
    await applyAptProxy(root.target, 'http://north.example:3142/', 'http://central.example');
    const good = await readFile(file, 'utf8');
    const logs: string[] = [];
    let answer: unknown = 'http://x/";\nDPkg::Pre-Invoke { "touch /tmp/pwned"; };';
    const client = {
      call: (method: string) =>
        Promise.resolve(
          method === 'agent.checkIn'
            ? {
                status: 'approved',
                stateKnown: true,
                packagesKnown: true,
                packagesBase: '',
                jobsWaiting: false,
                pullNow: false,
                sources: '',
                aptProxy: answer,
              }
            : {},
        ),
    } as unknown as RpcClient;
    const run = () =>
      runCycle({
        client,
        identity: { machine: 1, secret: 's'.repeat(64), server: 'http://central.example' } as never,
        machineId: 'a'.repeat(32),
        state,
        target: root.target,
        rebootCommand: [],
        log: (m) => logs.push(m),
        aptProxy: { server: 'http://central.example' },
      });
    const r = await run();
    assert.equal(r.aptProxy, 'refused');
    assert.equal(r.status, 'approved');
    assert.equal(await readFile(file, 'utf8'), good);
    assert.ok(
      logs.some((l) => /apt proxy not applied/.test(l) && !l.includes('\n')),
      logs.join('|'),
    );
    // an older server says nothing: the file stays
    answer = undefined;
    assert.equal((await run()).aptProxy, undefined);
    assert.equal(await readFile(file, 'utf8'), good);
  });
});
