// Issue 2: HTTP as apt expects it (Range, 416, If-Range, If-Modified-Since → 304 with
// validators only, HEAD, pipelining in order), bad input refused with nothing leaking,
// CONNECT, and the operator endpoints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { Writable } from 'node:stream';
import path from 'node:path';
import { rawExchange, request, splitResponses } from './helpers/http.js';
import { spawnServer, startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { big, debOf, demo1, makeWorld, odd, type World } from './helpers/world.js';
import { helloDeb } from './helpers/paths.js';
import { parseRelease, clearsignedText } from '../src/index/release.js';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

let world: World;
let server: TestServer;
let echo: net.Server;
let echoPort: number;

before(async () => {
  world = await makeWorld();
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  server = await startServer(
    testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
      c.proxy.passthrough = [`127.0.0.1:${echoPort}`];
    }),
  );
  // the index first, as apt does: only files a signed index names are cached (issue 13)
  await request(server.port, '/fixture/dists/stable/InRelease');
  await request(server.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz');
  await server.proxy.indexer.idle();
});
after(async () => {
  await server.close();
  await new Promise((r) => echo.close(r));
  await world.close();
});

test('Range on a cached object: 206 with Content-Range, suffix ranges, 416 with bytes */N, If-Range by date', async () => {
  const deb = debOf(world.gen1, 'hello');
  const whole = await request(server.port, `/fixture/${deb.filename}`);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers['content-type'], 'application/vnd.debian.binary-package');
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  const lm = whole.headers['last-modified']!;
  const part = await request(server.port, `/fixture/${deb.filename}`, {
    headers: { Range: 'bytes=10000-', 'If-Range': lm },
  });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 10000-${deb.size - 1}/${deb.size}`);
  assert.ok(part.body.equals(whole.body.subarray(10000)));
  const suffix = await request(server.port, `/fixture/${deb.filename}`, { headers: { Range: 'bytes=-100' } });
  assert.equal(suffix.status, 206);
  assert.ok(suffix.body.equals(whole.body.subarray(deb.size - 100)));
  const beyond = await request(server.port, `/fixture/${deb.filename}`, { headers: { Range: `bytes=${deb.size}-` } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], `bytes */${deb.size}`);
  // a partial file from another date: the whole body, as apt expects
  const stale = await request(server.port, `/fixture/${deb.filename}`, {
    headers: { Range: 'bytes=10000-', 'If-Range': 'Sun, 01 Jan 2017 00:00:00 GMT' },
  });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.length, deb.size);
});

test('Range on an object still downloading', async () => {
  const deb = debOf(world.gen1, 'aptgate-big');
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let reached!: () => void;
  const inFlight = new Promise<void>((r) => {
    reached = r;
  });
  world.upstream.fault(deb.filename, { kind: 'gate', until: gate, reached }, 1);
  // index known, so the total size is known before the body arrives
  await request(server.port, '/fixture/dists/stable/InRelease');
  await request(server.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz');
  await server.proxy.indexer.idle();
  const first = request(server.port, `/fixture/${deb.filename}`);
  await inFlight;
  const part = await request(server.port, `/fixture/${deb.filename}`, { headers: { Range: 'bytes=100-1099' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 100-1099/${deb.size}`);
  assert.equal(part.headers['x-aptgate-result'], 'coalesced');
  assert.equal(part.body.length, 1000);
  assert.ok(server.proxy.fills.get(`fixture/${deb.filename}`), 'answered while the fill was in flight');
  release();
  const whole = await first;
  assert.ok(part.body.equals(whole.body.subarray(100, 1100)));
  assert.equal(sha256(whole.body), deb.sha256);
});

test('If-Modified-Since: 304 with validators only, for InRelease and pool files; HEAD has headers and no body', async () => {
  for (const p of ['/fixture/dists/stable/InRelease', `/fixture/${debOf(world.gen1, 'aptgate-demo').filename}`]) {
    const r = await request(server.port, p);
    assert.equal(r.status, 200);
    const nm = await request(server.port, p, { headers: { 'If-Modified-Since': r.headers['last-modified']! } });
    assert.equal(nm.status, 304);
    assert.equal(nm.headers['content-type'], undefined);
    assert.equal(nm.headers['content-length'], undefined);
    assert.equal(nm.headers['last-modified'], r.headers['last-modified']);
    const older = await request(server.port, p, { headers: { 'If-Modified-Since': 'Sun, 01 Jan 2017 00:00:00 GMT' } });
    assert.equal(older.status, 200);
    const head = await request(server.port, p, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(r.body.length));
    assert.equal(head.body.length, 0);
  }
  const inr = await request(server.port, '/fixture/dists/stable/InRelease');
  assert.equal(inr.headers['content-type'], 'text/plain; charset=utf-8');
  assert.ok(inr.body.equals(world.gen1.inRelease));
});

test('apt-style pipelining: responses come back in request order', async () => {
  const demo = debOf(world.gen1, 'aptgate-demo');
  const odd = debOf(world.gen1, 'aptgate-odd+name');
  // the first one is a slow miss, the others hits: answers must still keep the order
  world.upstream.fault(odd.filename, { kind: 'delay', ms: 300 }, 1);
  await request(server.port, `/fixture/${demo.filename}`);
  await request(server.port, '/fixture/dists/stable/InRelease');
  const enc = odd.filename.replace(/\+/g, '%2b');
  const req = (p: string) =>
    `GET /fixture/${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Debian APT-HTTP/1.3 (2.6.1)\r\n\r\n`;
  const raw = await rawExchange(
    server.port,
    req(enc) + req(demo.filename) + req('dists/stable/InRelease') + req(enc),
    (got) => splitResponses(got).length === 4 && splitResponses(got)[3]!.body.length === odd.size,
  );
  const rs = splitResponses(raw);
  assert.deepEqual(
    rs.map((r) => r.status),
    [200, 200, 200, 200],
  );
  assert.equal(sha256(Buffer.from(rs[0]!.body, 'latin1')), odd.sha256);
  assert.equal(sha256(Buffer.from(rs[1]!.body, 'latin1')), demo.sha256);
  assert.ok(Buffer.from(rs[2]!.body, 'latin1').equals(world.gen1.inRelease));
  assert.equal(sha256(Buffer.from(rs[3]!.body, 'latin1')), odd.sha256);
  // %2b and + are the same object: one upstream fetch for the odd name
  assert.equal(world.upstream.hits(odd.filename), 1);
});

test("canonical index names are served as the content the client's own InRelease names", async () => {
  const rel = 'main/binary-amd64/Packages.xz';
  const x = { localAddress: '127.0.0.2' };
  const y = { localAddress: '127.0.0.3' };
  const s = await startServer(
    testConfig(path.join(world.dir, 'srv-affinity'), { fixture: world.backend }, (c) => {
      c.proxy.releaseTtlMs = 0;
    }),
  );
  try {
    const inX = await request(s.port, '/fixture/dists/stable/InRelease', x);
    const published = await world.repo.publish('stable', [{ name: 'aptgate-demo', version: '3.0-1' }]);
    const inY = await request(s.port, '/fixture/dists/stable/InRelease', y);
    assert.ok(inY.body.equals(published.inRelease));
    const wantX = parseRelease(clearsignedText(inX.body)).files.get(rel)!.sha256;
    const wantY = parseRelease(clearsignedText(inY.body)).files.get(rel)!.sha256;
    assert.notEqual(wantX, wantY);
    assert.equal(sha256((await request(s.port, `/fixture/dists/stable/${rel}`, x)).body), wantX);
    assert.equal(sha256((await request(s.port, `/fixture/dists/stable/${rel}`, y)).body), wantY);
    assert.equal(
      sha256((await request(s.port, `/fixture/dists/stable/${rel}`, { localAddress: '127.0.0.4' })).body),
      wantY,
    );
    // a name the Release does not list is not served at all
    const unlisted = await request(s.port, '/fixture/dists/stable/main/binary-amd64/Packages.bz2');
    assert.equal(unlisted.status, 404);
    assert.equal(unlisted.headers['x-aptgate-error'], 'NOT_IN_RELEASE');
  } finally {
    await s.close();
    // the later tests' fresh servers fetch gen1's files, cached only when the index names them
    await world.repo.publish('stable', [demo1, big, odd], { extraDebs: [helloDeb] });
  }
});

test('bad input: 400 for traversal, 403 outside the backends, 405 for other methods; nothing leaks', async () => {
  const secret = path.join(world.dir, 'secret.txt');
  await writeFile(secret, 'TOP-SECRET');
  world.upstream.resetCounts();
  const listing = async () => (await readdir(world.dir, { recursive: true })).sort();
  const before = await listing();
  const traversal = [
    '/fixture/../secret.txt',
    '/fixture/pool/../../../secret.txt',
    '/fixture/%2e%2e/%2e%2e/secret.txt',
    '/fixture/pool%2f..%2f..%2fsecret.txt',
    '/fixture/pool/..%5csecret.txt',
    '/fixture//etc/passwd',
    `/fixture/${encodeURIComponent(secret)}`,
    '/fixture/pool/%00',
    '/%2e%2e/%2e%2e/etc/passwd',
    'http://127.0.0.1/fixture/../../etc/passwd',
    `${world.upstream.base}/../../etc/passwd`,
    `${world.upstream.base}/pool/%2e%2e/x`,
  ];
  for (const t of traversal) {
    const raw = await rawExchange(server.port, `GET ${t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const [r] = splitResponses(raw);
    assert.equal(r?.status, 400, `${t}: ${raw.slice(0, 200)}`);
    assert.equal(r.headers['x-aptgate-error'], 'BAD_PATH', t);
    assert.doesNotMatch(raw, /TOP-SECRET|root:x:0/);
  }
  const outside = await request(server.port, 'http://evil.example.com/debian/pool/x.deb');
  assert.equal(outside.status, 403);
  assert.equal(outside.headers['x-aptgate-error'], 'NOT_A_BACKEND');
  assert.match(outside.body.toString(), /--backend/);
  assert.equal((await request(server.port, '/nosuchbackend/dists/x/InRelease')).status, 403);
  assert.equal((await request(server.port, `http://127.0.0.1:${world.upstream.port}/elsewhere/x`)).status, 403);
  const post = await request(server.port, '/fixture/dists/stable/InRelease', { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers['x-aptgate-error'], 'METHOD_NOT_ALLOWED');
  // nothing went upstream, nothing was written outside the cache directory
  assert.equal(world.upstream.totalHits(), 0);
  const created = (await listing()).filter((f) => !before.includes(f) && !/^gnupg-|S\.gpg-agent/.test(f));
  assert.deepEqual(created, []);
});

test('CONNECT is refused unless the target is on the passthrough list, which is tunnelled', async () => {
  const refused = await rawExchange(
    server.port,
    'CONNECT deb.debian.org:443 HTTP/1.1\r\nHost: deb.debian.org:443\r\n\r\n',
  );
  assert.match(refused, /^HTTP\/1\.1 403 Forbidden/);
  assert.match(refused, /CONNECT_REFUSED/);
  const tunnel = await rawExchange(
    server.port,
    `CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\nping-through-tunnel`,
    (got) => got.includes('ping-through-tunnel'),
  );
  assert.match(tunnel, /^HTTP\/1\.1 200 Connection Established\r\n\r\nping-through-tunnel/);
});

test('operator endpoints: /-/health, /-/metrics (Prometheus text), the root page', async () => {
  const health = await request(server.port, '/-/health');
  assert.equal(health.status, 200);
  const h = JSON.parse(health.body.toString());
  assert.equal(h.status, 'ok');
  assert.equal(h.backends[0].name, 'fixture');
  const metrics = (await request(server.port, '/-/metrics')).body.toString();
  for (const name of [
    'aptgate_requests_total',
    'aptgate_bytes_from_cache_total',
    'aptgate_bytes_from_upstream_total',
    'aptgate_upstream_errors_total',
    'aptgate_fills_in_flight',
    'aptgate_cache_bytes',
  ]) {
    assert.match(metrics, new RegExp(`# TYPE ${name} (counter|gauge)`));
  }
  assert.match(metrics, /aptgate_requests_total\{result="hit"\} [1-9]/);
  assert.match(metrics, /aptgate_requests_total\{result="refused"\} [1-9]/);
  assert.match(metrics, /aptgate_bytes_from_upstream_total [1-9]/);
  const root = await request(server.port, '/');
  assert.match(root.body.toString(), /Acquire::http::Proxy/);
});

test('one access-log line per request: client, method, path, result, status, bytes, ms', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const s = await startServer(testConfig(path.join(world.dir, 'srv-log'), { fixture: world.backend }), {
    logger: { level: 'info', stream },
  });
  try {
    const deb = debOf(world.gen1, 'aptgate-demo');
    await request(s.port, '/fixture/dists/stable/InRelease');
    await request(s.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz');
    await s.proxy.indexer.idle();
    await request(s.port, `/fixture/${deb.filename}`);
    await s.proxy.fills.get(`fixture/${deb.filename}`)?.done;
    await request(s.port, `/fixture/${deb.filename}`);
    await request(s.port, '/fixture/../x');
    // the line is written when the response is over, which the client may see first
    const access = await waitFor(() => {
      const a = lines.filter((l) => l['msg'] === 'access' && !String(l['path']).includes('/dists/'));
      return a.length >= 3 ? a : undefined;
    }, 'three access lines');
    assert.equal(access.length, 3);
    const key = (l: Record<string, unknown>) =>
      JSON.stringify([l['method'], l['path'], l['result'], l['status'], l['client']]);
    assert.deepEqual(
      access.map(key).sort(),
      [
        ['GET', `/fixture/${deb.filename}`, 'miss', 200, '127.0.0.1'],
        ['GET', `/fixture/${deb.filename}`, 'hit', 200, '127.0.0.1'],
        ['GET', '/fixture/../x', 'refused', 400, '127.0.0.1'],
      ]
        .map((x) => JSON.stringify(x))
        .sort(),
    );
    const miss = access.find((l) => l['result'] === 'miss')!;
    assert.equal(miss['bytes'], deb.size);
    assert.equal(typeof miss['ms'], 'number');
  } finally {
    await s.close();
  }
});

test('paths outside dists/ and pool/ are passed through, never cached', async () => {
  await mkdir(world.repo.path('project/trace'), { recursive: true });
  await writeFile(world.repo.path('project/trace/master'), 'Date: now\n');
  world.upstream.resetCounts();
  for (let i = 0; i < 2; i++) {
    const r = await request(server.port, '/fixture/project/trace/master');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-aptgate-result'], 'pass');
    assert.equal(r.body.toString(), 'Date: now\n');
  }
  assert.equal(world.upstream.hits('project/trace/master'), 2);
  assert.equal((await request(server.port, '/fixture/project/trace/absent')).status, 404);
});

test('a client that stops reading and resumes gets the whole body; one that leaves does not disturb the server', async () => {
  const deb = debOf(world.gen1, 'aptgate-big');
  const warm = await request(server.port, `/fixture/${deb.filename}`);
  await server.proxy.fills.get(`fixture/${deb.filename}`)?.done;
  assert.equal(sha256(warm.body), deb.sha256);
  const http = await import('node:http');
  const { transferStats, sendfileAvailable } = await import('../src/proxy/sendfile.js');
  const waits = transferStats.slowClientWaits;
  const slow = await new Promise<Buffer>((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path: `/fixture/${deb.filename}`, agent: false },
      (res) => {
        assert.equal(res.headers['x-aptgate-result'], 'hit');
        const chunks: Buffer[] = [];
        let paused = false;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          if (!paused) {
            // stop reading long enough for the server's socket to fill up, then go on
            paused = true;
            res.pause();
            setTimeout(() => res.resume(), 300);
          }
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(slow.length, deb.size);
  assert.equal(sha256(slow), deb.sha256);
  assert.ok(sendfileAvailable, 'npm install builds the sendfile addon');
  assert.ok(transferStats.slowClientWaits > waits, 'the full socket was waited for');
  // a client that leaves in the middle
  await new Promise<void>((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.port, path: `/fixture/${deb.filename}`, agent: false },
      (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      },
    );
    req.on('error', () => undefined);
    req.end();
  });
  const after = await request(server.port, `/fixture/${deb.filename}`, { headers: { Range: 'bytes=1000000-' } });
  assert.equal(after.status, 206);
  assert.ok(after.body.equals(warm.body.subarray(1000000)));
});

test('without the sendfile addon (APTGATE_NO_SENDFILE=1) hits and ranges are served by the read/write loop', async () => {
  const dir = path.join(world.dir, 'srv-nosendfile');
  const child = await spawnServer(
    ['--state-dir', dir, '--backend', `fixture=${world.upstream.base}`, '--keyring', `fixture=${world.key.keyring}`],
    { APTGATE_NO_SENDFILE: '1' },
  );
  try {
    const deb = debOf(world.gen1, 'aptgate-big');
    await request(child.port, '/fixture/dists/stable/InRelease');
    await request(child.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz');
    const miss = await request(child.port, `/fixture/${deb.filename}`);
    assert.equal(sha256(miss.body), deb.sha256);
    const hit = await waitFor(async () => {
      const r = await request(child.port, `/fixture/${deb.filename}`);
      return r.headers['x-aptgate-result'] === 'hit' ? r : undefined;
    }, 'the object to be stored');
    assert.equal(sha256(hit.body), deb.sha256);
    const part = await request(child.port, `/fixture/${deb.filename}`, { headers: { Range: 'bytes=4000000-4099999' } });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(hit.body.subarray(4000000, 4100000)));
  } finally {
    assert.equal(await child.stop(), 0);
  }
});

test('clients that leave mid-transfer never leak bytes into another connection', async () => {
  const big = debOf(world.gen1, 'aptgate-big');
  const small = debOf(world.gen1, 'aptgate-demo');
  const bigBody = (await request(server.port, `/fixture/${big.filename}`)).body;
  await server.proxy.fills.get(`fixture/${big.filename}`)?.done;
  assert.equal(sha256(bigBody), big.sha256);
  const http = await import('node:http');
  const leave = () =>
    new Promise<void>((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.port, path: `/fixture/${big.filename}`, agent: false },
        (res) => {
          // stop reading, so the transfer waits on a full socket, then go away
          res.pause();
          setImmediate(() => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => undefined);
      req.end();
    });
  for (let i = 0; i < 40; i++) {
    await leave();
    // new connections reuse descriptor numbers of the ones just closed
    const [a, b] = await Promise.all([
      request(server.port, `/fixture/${small.filename}`),
      request(server.port, `/fixture/${big.filename}`, { headers: { Range: 'bytes=0-99999' } }),
    ]);
    assert.equal(a.error, undefined, `round ${i}: ${a.error?.message}`);
    assert.equal(sha256(a.body), small.sha256, `round ${i}`);
    assert.equal(b.error, undefined, `round ${i}: ${b.error?.message}`);
    assert.ok(b.body.equals(bigBody.subarray(0, 100000)), `round ${i}`);
  }
});
