// Issue 13, the edges: what clients send never reaches the administrator's terminal as control
// characters (defect 7); server.allow admits only the configured client networks on every
// listener and server.metrics_listen moves /-/metrics to a listener of its own; a bare 0 is a
// duration (refresh_interval = 0 turns the refresh off).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { RpcClient } from '../src/agent/client.js';
import { AgentState } from '../src/agent/identity.js';
import { formatJob, formatJobs, formatMachine, formatMachines } from '../src/cli/fleet-format.js';
import { formatClassList, formatGateStatus } from '../src/cli/gate-format.js';
import { visible, visibleText } from '../src/term/visible.js';
import { applySetting, loadConfig } from '../src/config.js';
import { isAptgateError } from '../src/errors.js';
import { packagesText } from '../src/index/profile-record.js';
import { parseStatus } from '../src/index/status.js';
import { silentLogger } from '../src/log.js';
import { encodeCall } from '../src/protocol/codec.js';
import { signRequest } from '../src/protocol/signing.js';
import { ClientFilter } from '../src/proxy/admission.js';
import { createMetricsServer } from '../src/proxy/metrics-listener.js';
import { exec } from './helpers/exec.js';
import { rawExchange, request } from './helpers/http.js';
import { projectRoot } from './helpers/paths.js';
import { spawnServer, startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

/** The real CLI in its own process: stdout as bytes, exactly what a terminal would receive. */
async function aptgate(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }> {
  return exec(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeoutMs: 120_000 });
}

// Raw C0 (but newline and tab), DEL, C1 (as UTF-8: C2 80..9F), and the bidi/format characters
// a terminal would act on (as UTF-8), looked for in the bytes a terminal would get
function terminalHazards(out: Buffer): string[] {
  const found: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if ((b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f) found.push(`0x${b.toString(16)} at ${i}`);
    if (b === 0xc2 && out[i + 1]! >= 0x80 && out[i + 1]! <= 0x9f)
      found.push(`C1 U+00${out[i + 1]!.toString(16)} at ${i}`);
  }
  const text = out.toString('utf8');
  for (const m of text.matchAll(/[\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]/gu))
    found.push(`U+${m[0].codePointAt(0)!.toString(16)} at char ${m.index}`);
  return found;
}

// what a hostile agent puts in every free-text field: an OSC window title and a clear screen in
// their 8-bit forms (C1: OSC, ST, CSI), CR to overwrite, NEL, a right-to-left override, a line
// separator, and a newline followed by a line of its own making. XML carries no other C0 control
// (/RPC2 refuses ESC even as a character reference); the formatters are checked with ESC below.
const HOSTILE = 'ok\x9d0;pwned\x9c\x9b2J\r\x85\u202eevil\u2028\nFORGED: all machines approved';
// a transcript has lines of its own; the controls in each are what is hostile
const TRANSCRIPT = `$ apt-get upgrade\n${HOSTILE.replace('\nFORGED', ' FORGED')}\n\x9b1A\x9b2Kline overwritten\n`;
const HOSTILE_LINE = HOSTILE.replace('\nFORGED', ' FORGED'); // where a single line is needed

/** XML character references for what the agent's own encoder would strip (the parser takes them, as sax does). */
const refs = (s: string) =>
  s
    .replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u202e]/gu, (c) => `&#x${c.codePointAt(0)!.toString(16)};`);

/**
 * A signed call as a hostile agent makes it: the body written by hand, each @@name@@ marker of
 * `params` replaced by strings[name] as character references.
 */
async function hostileCall(
  url: string,
  state: AgentState,
  method: string,
  params: object,
  strings: Record<string, string>,
): Promise<void> {
  let body = encodeCall(method, [params]);
  for (const [name, text] of Object.entries(strings)) body = body.split(`@@${name}@@`).join(refs(text));
  const id = state.identity()!;
  const ts = Math.max(Date.now(), state.lastTimestamp() + 1);
  state.saveTimestamp(ts);
  const r = await fetch(`${url}/RPC2`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml', ...signRequest(id.secret, String(id.machine), ts, body) },
    body,
  });
  const text = await r.text();
  assert.equal(r.status, 200);
  assert.doesNotMatch(text, /<fault>/, `${method}: ${text}`);
}

describe("issue 13: client strings on the administrator's terminal (defect 7)", () => {
  let dir: string;
  let server: TestServer;
  let machine: number;
  let jobId: number;
  const db = () => server.config.db;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i13-edges-'));
    server = await startServer(testConfig(dir, {}));
    // a gate class: the machine's standing in gate status quotes its job result
    assert.equal((await aptgate(['classes', 'create', 'qa', '--stage', 'test', '--gate', '--db', db()])).code, 0);
    const token = server.fleet.enrolment.createToken({ autoApprove: true, class: 'qa' }).token;
    const state = new AgentState(path.join(dir, 'agent'));
    const machineId = 'e'.repeat(32);
    const enrolled = await new RpcClient({ server: server.url, timeoutS: 30 }).call<{
      machine: number;
      secret: string;
    }>('agent.enroll', [
      {
        token,
        facts: {
          hostname: 'web-1',
          machineId,
          architecture: 'amd64',
          foreignArchitectures: [],
          distribution: 'Debian',
          codename: 'bookworm',
          kernel: '6.1.0-28-amd64',
          agentVersion: '0.1.0',
        },
      },
    ]);
    machine = enrolled.machine;
    state.saveIdentity({ server: server.url, machine, secret: enrolled.secret, machineId });
    const signed = new RpcClient({ server: server.url, timeoutS: 30 }, { identity: state.identity()!, state });

    const status = 'Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.15-1~deb12u1\n\n';
    const p = packagesText(parseStatus(status));
    await hostileCall(
      server.url,
      state,
      'agent.report',
      {
        machineId,
        state: 'f'.repeat(64),
        packages: { hash: p.hash, full: gzipSync(p.text) },
        holds: [],
        preferences: [],
        sources: [
          {
            path: '/etc/apt/sources.list.d/@@line@@.sources',
            content: 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\n',
          },
        ],
        aptUpgradable: [
          { package: '@@line@@', architecture: 'amd64', installed: '1', candidate: '@@h@@', security: true },
        ],
        reboot: { required: true, packages: ['@@h@@', 'linux-image-6.1.0-29-amd64'] },
        dpkg: { audit: '@@h@@\nmore', interrupted: false },
      },
      { h: HOSTILE, line: HOSTILE_LINE },
    );
    [jobId] = server.fleet.jobs.create([machine], { kind: 'upgrade', origin: 'test' }) as [number];
    const fetched = await signed.call<{ jobs: Array<{ id: number }> }>('agent.fetchJob', [{ machineId }]);
    assert.deepEqual(
      fetched.jobs.map((j) => j.id),
      [jobId],
    );
    await signed.call('agent.jobStarted', [{ machineId, id: jobId }]);
    await hostileCall(
      server.url,
      state,
      'agent.jobFinished',
      {
        machineId,
        id: jobId,
        exitCode: 100,
        durationMs: 1234,
        failure: 'other',
        summary: '@@h@@',
        transcript: '@@t@@',
      },
      { h: HOSTILE, t: TRANSCRIPT },
    );
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('jobs list, jobs show, machines list/show, gate status: no raw control character reaches stdout, each is shown escaped', async () => {
    const commands = [
      ['jobs', 'list'],
      ['jobs', 'show', String(jobId)],
      ['machines', 'list'],
      ['machines', 'show', String(machine)],
      ['gate', 'status'],
      ['classes', 'list'],
    ];
    for (const args of commands) {
      const r = await aptgate([...args, '--db', db()]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr.toString()}`);
      assert.deepEqual(
        terminalHazards(r.stdout),
        [],
        `${args.join(' ')} printed:\n${JSON.stringify(r.stdout.toString())}`,
      );
      assert.doesNotMatch(
        r.stdout.toString(),
        /^\s*FORGED/m,
        `${args.join(' ')}: a client's newline made a line of its own`,
      );
    }
    const show = (await aptgate(['jobs', 'show', String(jobId), '--db', db()])).stdout.toString();
    // JSON's notation: the summary is one line, every control visible
    assert.ok(
      show.includes(
        'other: ok\\u009d0;pwned\\u009c\\u009b2J\\r\\u0085\\u202eevil\\u2028\\nFORGED: all machines approved',
      ),
      show,
    );
    // the transcript keeps its lines, with the cursor movements shown
    assert.match(show, /^transcript:\n\$ apt-get upgrade\nok\\u009d0;pwned/m);
    assert.match(show, /^\\u009b1A\\u009b2Kline overwritten$/m);
    const m = (await aptgate(['machines', 'show', String(machine), '--db', db()])).stdout.toString();
    assert.match(
      m,
      /^ {2}reboot {9}required \(ok\\u009d0;pwned\\u009c\\u009b2J\\r\\u0085\\u202eevil\\u2028\\nFORGED: all machines approved linux-image/m,
    );
    assert.match(m, /^ {2}dpkg .*; audit: ok\\u009d0;pwned/m);
    assert.match(m, /^ {2}sources {8}\/etc\/apt\/sources\.list\.d\/ok\\u009d/m);
  });

  it('--json keeps the exact strings (and writes C1 and bidi characters as \\u escapes)', async () => {
    const r = await aptgate(['jobs', 'show', String(jobId), '--json', '--db', db()]);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.deepEqual(terminalHazards(r.stdout), []);
    const j = JSON.parse(r.stdout.toString()) as { summary: string; transcript: string };
    assert.equal(j.summary, HOSTILE);
    assert.equal(j.transcript, TRANSCRIPT);
  });

  it("every string field of the formatters' data is shown on its own line(s): poisoning each adds no line and no control", async () => {
    // the data the commands print (their --json), every string poisoned; only a transcript may span lines
    const poison = (v: unknown, key = ''): unknown => {
      if (typeof v === 'string')
        return key === 'transcript' ? `\x1b[2J\r\x9b\u202e\u0085${v}` : `${v}\x1b[2J\r\x9b\u202e\u0085\nFORGED`;
      if (Array.isArray(v)) return v.map((x) => poison(x, key));
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, poison(x, k)]));
      return v;
    };
    const data = async (...args: string[]) =>
      JSON.parse((await aptgate([...args, '--json', '--db', db()])).stdout.toString()) as never;
    const cases: Array<[string, unknown, (d: never) => string]> = [
      ['machines list', await data('machines', 'list'), (d: { machines: never }) => formatMachines(d.machines)],
      ['machines show', await data('machines', 'show', String(machine)), formatMachine],
      ['jobs list', await data('jobs', 'list'), (d: { jobs: never }) => formatJobs(d.jobs)],
      ['jobs show', await data('jobs', 'show', String(jobId)), formatJob],
      ['gate status', await data('gate', 'status'), formatGateStatus],
      ['classes list', await data('classes', 'list'), (d: { classes: never }) => formatClassList(d.classes)],
    ];
    for (const [what, d, format] of cases) {
      const plain = format(d as never);
      const poisoned = format(poison(d) as never);
      assert.equal(
        poisoned.split('\n').length,
        plain.split('\n').length,
        `${what}: a field's newline made a line:\n${poisoned}`,
      );
      assert.deepEqual(terminalHazards(Buffer.from(poisoned)), [], `${what}:\n${JSON.stringify(poisoned)}`);
    }
  });

  it("visible(): JSON's notation; visibleText() keeps newlines and tabs", () => {
    assert.equal(
      visible('a\x1b[2Jb\r\n\t\b\f\x00\x7f\x9b\u202e\u2028\u{e0041}z'),
      'a\\u001b[2Jb\\r\\n\\t\\b\\f\\u0000\\u007f\\u009b\\u202e\\u2028\\udb40\\udc41z',
    );
    assert.equal(visible('web-1.example.org ü → ∞'), 'web-1.example.org ü → ∞');
    assert.equal(visibleText('line 1\n\tline 2\x1b[K\r\n'), 'line 1\n\tline 2\\u001b[K\\r\n');
    // the same as JSON writes it: what --json shows, parsed back, is the original
    const s = '\x1b]0;t\x07\u202e';
    assert.equal(JSON.parse(`"${visible(s)}"`), s);
  });

  it('an error message quoting client data is escaped on stderr too', async () => {
    const r = await aptgate(['machines', 'show', 'no-such\x1b[2J', '--db', db()]);
    assert.equal(r.code, 1);
    assert.deepEqual(terminalHazards(r.stderr), [], r.stderr.toString());
  });
});

describe('issue 13: server.allow and server.metrics_listen', () => {
  let world: World;
  let server: TestServer;
  const log: string[] = [];
  const deb = () => debOf(world.gen1, 'aptgate-demo');
  // the loopback network has more than one address: 127.0.0.2 is "another client"
  const inside = { localAddress: '127.0.0.2' };
  const outside = { localAddress: '127.0.0.1' };

  before(async () => {
    world = await makeWorld();
    const config = testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
      // an IPv4-mapped entry names the IPv4 client
      applySetting(c, 'server.allow', '10.0.0.0/8, 192.168.1.0/24 ::ffff:127.0.0.2, fd00::/8');
    });
    config.logLevel = 'info';
    const stream = new Writable({
      write(chunk: Buffer, _e, cb) {
        log.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    server = await startServer(config, { logger: { level: 'info', stream } });
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('a client inside the networks is served: indexes, a .deb, a stage file, /-/health, /-/metrics', async () => {
    assert.equal((await request(server.port, '/fixture/dists/stable/InRelease', inside)).status, 200);
    assert.equal(
      (await request(server.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz', inside)).status,
      200,
    );
    const got = await request(server.port, `/fixture/${deb().filename}`, inside);
    assert.equal(got.status, 200);
    assert.equal(got.body.length, deb().size);
    await server.proxy.indexer.idle();
    const stageFile = await waitFor(async () => {
      await server.gate.idle();
      const r = await request(server.port, '/stage/test/fixture/dists/stable/InRelease', inside);
      return r.status === 200 ? r : undefined;
    }, 'the test stage to publish the suite');
    assert.match(stageFile.body.toString(), /^Codename: /m);
    assert.equal((await request(server.port, '/-/health', inside)).status, 200);
    assert.equal((await request(server.port, '/-/metrics', inside)).status, 200);
  });

  it('a client outside gets 403 CLIENT_NOT_ALLOWED for everything (also cached files, stages, /RPC2, CONNECT), logged', async () => {
    // the .deb is cached now: a hit for an allowed client, still nothing for this one
    assert.equal((await request(server.port, `/fixture/${deb().filename}`, inside)).headers['x-aptgate-result'], 'hit');
    const paths = [
      `/fixture/${deb().filename}`,
      '/fixture/dists/stable/InRelease',
      '/stage/test/fixture/dists/stable/InRelease',
      '/-/health',
      '/-/metrics',
      '/',
      `http://127.0.0.1:${world.upstream.port}/debian/dists/stable/InRelease`,
    ];
    for (const p of paths) {
      for (const method of ['GET', 'HEAD']) {
        const r = await request(server.port, p, { ...outside, method });
        assert.equal(r.status, 403, `${method} ${p}`);
        assert.equal(r.headers['x-aptgate-error'], 'CLIENT_NOT_ALLOWED', `${method} ${p}`);
        if (method === 'GET')
          assert.match(
            r.body.toString(),
            /^403 CLIENT_NOT_ALLOWED: client 127\.0\.0\.1 is not in server\.allow \(10\.0\.0\.0\/8, 192\.168\.1\.0\/24, 127\.0\.0\.2\/32, fd00::\/8\)/,
          );
        else assert.equal(r.body.length, 0);
      }
    }
    // /RPC2: refused before its body is read (an agent outside the networks cannot enrol either)
    const rpc = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/RPC2',
          method: 'POST',
          localAddress: '127.0.0.1',
          headers: { 'content-type': 'text/xml' },
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('<?xml version="1.0"?><methodCall><methodName>system.listMethods</methodName><params/></methodCall>');
    });
    assert.equal(rpc, 403);
    const connect = await rawExchange(
      server.port,
      'CONNECT bugs.debian.org:443 HTTP/1.1\r\nHost: bugs.debian.org:443\r\n\r\n',
    );
    assert.match(
      connect,
      /^HTTP\/1\.1 403 Forbidden\r\n[^]*X-Aptgate-Error: CLIENT_NOT_ALLOWED\r\n[^]*not in server\.allow/,
    );
    // the same server still serves the client inside
    assert.equal((await request(server.port, '/-/health', inside)).status, 200);
    const refused = log
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'access' && l['status'] === 403 && l['reason'] === 'not in server.allow');
    assert.ok(
      refused.some((l) => l['client'] === '127.0.0.1' && l['path'] === '/stage/test/fixture/dists/stable/InRelease'),
      JSON.stringify(refused.slice(0, 3)),
    );
    assert.ok(refused.some((l) => l['method'] === 'CONNECT'));
    assert.match(
      (await request(server.port, '/-/metrics', inside)).body.toString(),
      /^aptgate_requests_total\{result="refused"\} [1-9]/m,
    );
  });

  it('ClientFilter: IPv4-mapped client addresses are judged as IPv4; an empty list admits everyone', () => {
    const f = new ClientFilter(['10.0.0.0/8', 'fd00::/8']);
    assert.equal(f.allows('10.1.2.3'), true);
    assert.equal(f.allows('::ffff:10.1.2.3'), true);
    assert.equal(f.allows('::FFFF:10.1.2.3'), true);
    assert.equal(f.allows('::ffff:11.1.2.3'), false);
    assert.equal(f.allows('fd12::1'), true);
    assert.equal(f.allows('fe80::1'), false);
    assert.equal(f.allows(undefined), false);
    assert.equal(new ClientFilter([]).allows('203.0.113.9'), true);
  });

  it('invalid networks stop the configuration with an error naming server.allow', async () => {
    for (const bad of [
      '10.0.0.1/8',
      '300.1.2.3/8',
      '10.0.0.0/33',
      'fd00::/129',
      'fd00::1/8',
      'example.org',
      '10.0.0.0/',
      '10/8',
    ]) {
      assert.throws(
        () => loadConfig({ env: { APTGATE_SERVER_ALLOW: `192.168.1.0/24 ${bad}` } }),
        (e: unknown) =>
          isAptgateError(e, 'CONFIG_INVALID') && /server\.allow/.test(e.message) && e.message.includes(bad),
        bad,
      );
    }
    for (const bad of ['9142', '127.0.0.1', '127.0.0.1:70000', '[example]:9142']) {
      assert.throws(
        () => loadConfig({ env: { APTGATE_SERVER_METRICS_LISTEN: bad } }),
        (e: unknown) => isAptgateError(e, 'CONFIG_INVALID') && /server\.metrics_listen/.test(e.message),
        bad,
      );
    }
    const c = loadConfig({
      env: {
        APTGATE_SERVER_ALLOW: '10.0.0.0/8,::ffff:192.168.0.0/112, 2001:db8::/32',
        APTGATE_SERVER_METRICS_LISTEN: '[::1]:9142',
      },
    });
    assert.deepEqual(c.allow, ['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32']);
    assert.deepEqual(c.metricsListen, { host: '::1', port: 9142 });
    // the real CLI refuses to start with one
    const r = await aptgate(
      [
        'serve',
        '--listen',
        '127.0.0.1',
        '--port',
        '0',
        '--db',
        path.join(world.dir, 'never.db'),
        '--cache-dir',
        path.join(world.dir, 'never'),
      ],
      { APTGATE_SERVER_ALLOW: '10.0.0.0/8, 10.1.0.0/8' },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr.toString(), /^aptgate: CONFIG_INVALID: server\.allow: "10\.1\.0\.0\/8" is not a network/);
  });

  it('the metrics listener applies server.allow too', async () => {
    const m = createMetricsServer(() => 'aptgate_test 1\n', new ClientFilter(['127.0.0.2/32']), silentLogger);
    await new Promise<void>((resolve) => m.listen(0, '127.0.0.1', resolve));
    try {
      const port = (m.address() as { port: number }).port;
      assert.equal((await request(port, '/-/metrics', outside)).status, 403);
      const ok = await request(port, '/-/metrics', inside);
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), 'aptgate_test 1\n');
      assert.equal((await request(port, '/-/health', inside)).status, 404);
      assert.equal((await request(port, '/-/metrics', { ...inside, method: 'POST' })).status, 405);
    } finally {
      m.closeAllConnections();
      await new Promise((r) => m.close(r));
    }
  });
});

describe('issue 13: metrics_listen and refresh_interval = 0 in a real server process', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i13-edges-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refresh_interval = 0 is accepted (off), from the file and the environment, and printed as 0', async () => {
    const file = path.join(dir, 'aptgate.conf');
    await writeFile(file, '[proxy]\nrefresh_interval = 0\n');
    assert.equal(loadConfig({ file, env: {} }).proxy.refreshIntervalMs, 0);
    assert.equal(loadConfig({ env: { APTGATE_PROXY_REFRESH_INTERVAL: '0' } }).proxy.refreshIntervalMs, 0);
    const r = await aptgate(['config', '-c', file]);
    assert.equal(r.code, 0, r.stderr.toString());
    assert.match(r.stdout.toString(), /^refresh_interval = 0$/m);
    // a timer that cannot be off still needs a period
    assert.throws(
      () => loadConfig({ env: { APTGATE_CACHE_CLEAN_INTERVAL: '0' } }),
      (e: unknown) => isAptgateError(e, 'CONFIG_INVALID'),
    );
  });

  it('serve with metrics_listen: /-/metrics only on its own listener, 404 on the main port', async () => {
    const file = path.join(dir, 'metrics.conf');
    await writeFile(
      file,
      '[server]\nmetrics_listen = 127.0.0.1:0\nallow = 127.0.0.0/8\n[proxy]\nrefresh_interval = 0\n',
    );
    const child = await spawnServer([
      '-c',
      file,
      '--db',
      path.join(dir, 'aptgate.db'),
      '--cache-dir',
      path.join(dir, 'cache'),
    ]);
    try {
      const port = Number(
        (
          await waitFor(
            () => /metrics listening at http:\/\/127\.0\.0\.1:(\d+)\/-\/metrics/.exec(child.output()),
            'the metrics listener',
          )
        )[1],
      );
      assert.notEqual(port, child.port);
      const main = await request(child.port, '/-/metrics');
      assert.equal(main.status, 404);
      assert.match(main.body.toString(), /server\.metrics_listen/);
      assert.equal((await request(child.port, '/-/health')).status, 200);
      const metrics = await request(port, '/-/metrics');
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(metrics.body.toString(), /^# TYPE aptgate_requests_total counter$/m);
      assert.equal((await request(port, '/-/health')).status, 404);
      assert.equal((await request(port, '/fixture/dists/stable/InRelease')).status, 404);
    } finally {
      assert.equal(await child.stop(), 0);
    }
  });
});
