// Issue 14: a backend whose mirror cannot be reached. The server warns at start, naming the
// backend, the mirror and the cause; /-/health shows each backend's mirrors and says degraded
// while a backend has no usable mirror; apt's "Err:" line carries a reason phrase naming the
// cause instead of a bare "502 Bad Gateway", built only from configured hosts and short codes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { AptgateError } from '../src/errors.js';
import { reasonPhrase, statusLineText } from '../src/proxy/reason.js';
import { aptEnv, runApt } from './helpers/apt.js';
import { HostileUpstream, redirect, text } from './helpers/hostile.js';
import { spawnServer, startServer, testConfig, waitFor, type ChildServer, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';

interface MirrorState {
  mirror: string;
  state: string;
  since?: string;
  lastError?: string;
  cause?: string;
  retryAt?: string;
  lastOk?: string;
}
interface Health {
  status: string;
  backends: Array<{ name: string; mirrors: string[]; status: string; mirrorStates: MirrorState[] }>;
  mirrors: Array<{ mirror: string; healthy: boolean; downUntil: number | null }>;
}

/** A port nothing listens on (bound, then released): connecting is refused. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** GET with the reason phrase of the status line. */
function get(
  port: number,
  target: string,
): Promise<{ status: number; reason: string; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode!, reason: res.statusMessage!, body, headers: res.headers }),
        );
      })
      .on('error', reject);
  });
}

async function health(port: number): Promise<{ status: number; body: Health }> {
  const r = await get(port, '/-/health');
  return { status: r.status, body: JSON.parse(r.body) as Health };
}

let world: World;
before(async () => {
  world = await makeWorld();
});
after(async () => {
  await world.close();
});

describe('an unreachable backend, on a real server started from the command line', () => {
  let child: ChildServer;
  let dead: number;
  before(async () => {
    dead = await closedPort();
    const key = world.key.keyring;
    // every backend, the built-in ones too, points at 127.0.0.1: the outcome depends on nothing outside
    child = await spawnServer([
      '--state-dir',
      path.join(world.dir, 'spawned'),
      '--backend',
      `dead=http://127.0.0.1:${dead}/debian`,
      '--keyring',
      `dead=${key}`,
      '--backend',
      `fixture=${world.upstream.base}`,
      '--keyring',
      `fixture=${key}`,
      '--backend',
      `debian=${world.upstream.base}`,
      '--keyring',
      `debian=${key}`,
      '--backend',
      `debian-security=${world.upstream.base}`,
      '--keyring',
      `debian-security=${key}`,
    ]);
  });
  after(async () => {
    await child?.stop();
  });

  /** The JSON log lines the server wrote so far (whole lines only). */
  const logLines = () =>
    child
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{') && l.endsWith('}'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('warns at start, naming the backend, the mirror, the cause and the setting, while already listening', async () => {
    const warning = await waitFor(
      () => logLines().find((l) => l['level'] === 40 && l['backend'] === 'dead' && l['mirror'] !== undefined),
      'the start-up warning',
    );
    assert.equal(warning['mirror'], `http://127.0.0.1:${dead}/debian`);
    assert.equal(warning['cause'], 'ECONNREFUSED');
    assert.equal(
      warning['msg'],
      `backend dead: mirror http://127.0.0.1:${dead}/debian is unreachable (connect ECONNREFUSED 127.0.0.1:${dead}); check backend.dead.mirrors and this host's DNS, network and proxy settings`,
    );
    const none = await waitFor(
      () => logLines().find((l) => l['level'] === 40 && l['backend'] === 'dead' && l['mirror'] === undefined),
      'the backend warning',
    );
    assert.equal(
      none['msg'],
      'backend dead has no usable mirror: apt gets 502 for whatever is not cached (see /-/health)',
    );
  });

  it('/-/health: per backend its mirrors with their state, degraded overall; the fields it had stay', async () => {
    const h = await waitFor(async () => {
      const r = await health(child.port);
      return r.body.backends.every((b) => b.mirrorStates.every((m) => m.state !== 'unknown')) ? r : undefined;
    }, 'every mirror checked');
    // 200: a load balancer keeps sending clients; the cache still serves what it holds
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'degraded');
    const deadB = h.body.backends.find((b) => b.name === 'dead')!;
    assert.deepEqual(deadB.mirrors, [`http://127.0.0.1:${dead}/debian`]);
    assert.equal(deadB.status, 'degraded');
    const m = deadB.mirrorStates[0]!;
    assert.deepEqual(
      [m.mirror, m.state, m.cause, m.lastError],
      [`http://127.0.0.1:${dead}/debian`, 'failing', 'ECONNREFUSED', `connect ECONNREFUSED 127.0.0.1:${dead}`],
    );
    assert.ok(Date.parse(m.since!) <= Date.now() && Date.parse(m.retryAt!) > Date.parse(m.since!));
    const fixture = h.body.backends.find((b) => b.name === 'fixture')!;
    assert.equal(fixture.status, 'ok');
    assert.deepEqual(
      fixture.mirrorStates.map((s) => s.state),
      ['ok'],
    );
    assert.equal(h.body.mirrors.find((x) => x.mirror === `http://127.0.0.1:${dead}/debian`)!.healthy, false);
    // every mirror was checked: only the dead one was reported
    assert.deepEqual(
      logLines()
        .filter((l) => l['level'] === 40)
        .map((l) => l['backend']),
      ['dead', 'dead'],
    );
  });

  it('apt-get update shows the cause in its Err: line', async () => {
    const apt = await aptEnv(path.join(world.dir, 'apt-dead'), {
      sources: [{ uri: `${child.url}/dead`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
      config: { 'Acquire::Retries': '0' },
    });
    const r = await runApt(['update'], { apt });
    const all = r.stdout + r.stderr;
    assert.match(
      all,
      new RegExp(
        `Err:1 ${child.url}/dead stable InRelease\\s+502 +Upstream unreachable: 127\\.0\\.0\\.1:${dead}: ECONNREFUSED`,
      ),
      all,
    );
    assert.doesNotMatch(all, /Bad Gateway/);
  });
});

describe('mirror state and reason phrases through the proxy', () => {
  let server: TestServer;
  let hostile: HostileUpstream;
  let silent: net.Server;
  let dead: number;
  let hostilePort: number;
  let silentPort: number;
  before(async () => {
    dead = await closedPort();
    hostile = await HostileUpstream.start(world.repo.root);
    hostilePort = hostile.port;
    // accepts connections and never answers
    silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as net.AddressInfo).port;
    const keyring = world.key.keyring;
    server = await startServer(
      testConfig(
        path.join(world.dir, 'srv-states'),
        {
          two: { mirrors: [`http://127.0.0.1:${dead}/debian`, world.upstream.base], keyring },
          hostile: { mirrors: [hostile.base], keyring },
          silent: { mirrors: [`http://127.0.0.1:${silentPort}/debian`], keyring },
        },
        (c) => {
          c.proxy.idleTimeoutMs = 1000;
        },
      ),
    );
  });
  after(async () => {
    await server?.close();
    await hostile?.close();
    silent?.close();
  });

  it('before any request every mirror is unknown and the server ok', async () => {
    const h = await health(server.port);
    assert.equal(h.body.status, 'ok');
    assert.ok(h.body.backends.every((b) => b.status === 'ok' && b.mirrorStates.every((m) => m.state === 'unknown')));
  });

  it('one mirror down of two: the request falls over, the backend stays ok, the dead mirror shows as failing', async () => {
    const r = await get(server.port, '/two/dists/stable/InRelease');
    assert.equal(r.status, 200);
    const h = await health(server.port);
    const two = h.body.backends.find((b) => b.name === 'two')!;
    assert.equal(two.status, 'ok');
    assert.deepEqual(
      two.mirrorStates.map((m) => [m.state, m.cause]),
      [
        ['failing', 'ECONNREFUSED'],
        ['ok', undefined],
      ],
    );
    assert.equal(h.body.status, 'ok');
  });

  it('a mirror answering 503: "502 Upstream failed: host: HTTP 503", the backend degraded; an answer later clears it', async () => {
    hostile.on('dists/stable/InRelease', ({ res }) => text(res, 503, 'down for maintenance\r\nX-Evil: 1\n'), 1);
    const r = await get(server.port, '/hostile/dists/stable/InRelease');
    assert.deepEqual([r.status, r.reason], [502, `Upstream failed: 127.0.0.1:${hostilePort}: HTTP 503`]);
    assert.equal(r.headers['x-aptgate-error'], 'UPSTREAM_FAILED');
    let h = await health(server.port);
    assert.equal(h.body.status, 'degraded');
    assert.deepEqual(
      h.body.backends.find((b) => b.name === 'hostile')!.mirrorStates.map((m) => [m.state, m.cause]),
      [['failing', 'HTTP 503']],
    );
    // the mirror answers again: the next request is served and the state is ok
    assert.equal((await get(server.port, '/hostile/dists/stable/InRelease')).status, 200);
    h = await health(server.port);
    assert.deepEqual(
      h.body.backends.find((b) => b.name === 'hostile')!.mirrorStates.map((m) => m.state),
      ['ok'],
    );
  });

  it('a refused redirect: the reason names the mirror, never where the mirror pointed', async () => {
    hostile.on('pool/x/attack.deb', ({ res }) => redirect(res, 302, 'http://attacker.example:8080/evil'), 1);
    const r = await get(server.port, '/hostile/pool/x/attack.deb');
    assert.deepEqual([r.status, r.reason], [502, `Upstream failed: 127.0.0.1:${hostilePort}: redirect refused`]);
  });

  it('a mirror that accepts and never answers: "504 Upstream timeout: host: timeout"', async () => {
    const r = await get(server.port, '/silent/dists/stable/InRelease');
    assert.deepEqual([r.status, r.reason], [504, `Upstream timeout: 127.0.0.1:${silentPort}: timeout`]);
    const h = await health(server.port);
    assert.equal(h.body.status, 'degraded');
    assert.deepEqual(
      h.body.backends.find((b) => b.name === 'silent')!.mirrorStates.map((m) => [m.state, m.cause]),
      [['failing', 'timeout']],
    );
  });
});

it('a mirror unreachable at the check and up later: the re-check finds it, the backend is ok again', async () => {
  const port = await closedPort();
  const server = await startServer(
    testConfig(
      path.join(world.dir, 'srv-recheck'),
      { later: { mirrors: [`http://127.0.0.1:${port}/debian`], keyring: world.key.keyring } },
      (c) => {
        c.proxy.mirrorRetryMs = 0;
      },
    ),
  );
  const mirror = http.createServer((req, res) => {
    res.writeHead(req.url === '/debian/dists/' ? 200 : 404);
    res.end();
  });
  try {
    await server.proxy.checkMirrors();
    let h = await health(server.port);
    assert.deepEqual(
      [h.body.status, h.body.backends[0]!.mirrorStates[0]!.state, h.body.backends[0]!.mirrorStates[0]!.cause],
      ['degraded', 'failing', 'ECONNREFUSED'],
    );
    // nothing changed: the re-check finds it failing still, since the first failure
    const since = h.body.backends[0]!.mirrorStates[0]!.since;
    await server.proxy.recheckMirrors();
    h = await health(server.port);
    assert.deepEqual([h.body.status, h.body.backends[0]!.mirrorStates[0]!.since], ['degraded', since]);
    await new Promise<void>((r) => mirror.listen(port, '127.0.0.1', r));
    await server.proxy.recheckMirrors();
    h = await health(server.port);
    assert.equal(h.body.status, 'ok');
    assert.equal(h.body.backends[0]!.mirrorStates[0]!.state, 'ok');
  } finally {
    await server.close();
    mirror.close();
  }
});

it('reason phrases are printable ASCII of bounded length, whatever an error carries', () => {
  const hostileText = `Upstream failed: evil\r\nSet-Cookie: x=1\u0000\u202e${'x'.repeat(500)}`;
  const phrase = reasonPhrase(new AptgateError('UPSTREAM_FAILED', 'm', { reason: hostileText }), 502)!;
  assert.match(phrase, /^[\x20-\x7e]{1,200}$/);
  assert.ok(phrase.startsWith('Upstream failed: evil?Set-Cookie: x=1?'));
  assert.equal(statusLineText('a\tb'), 'a?b');
  // a gateway error without a reason of its own gets its code's phrase and the mirror's host, never the message
  assert.equal(
    reasonPhrase(
      new AptgateError('INTEGRITY', 'upstream said: <script>', { mirror: 'http://m.example:8080/debian' }),
      502,
    ),
    'Upstream file does not match the signed index: m.example:8080',
  );
  // other statuses keep the standard phrase
  assert.equal(reasonPhrase(new AptgateError('NOT_FOUND', 'x'), 404), undefined);
});
