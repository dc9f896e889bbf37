/**
 * Proves the fixture upstream is real: a real HTTP server for a fixture repository whose faults,
 * counters and hooks behave as documented.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type DebSpec } from './helpers/debs.js';
import { disposeTestKey, loadTestKey, type TestKey } from './helpers/gpg.js';
import { helloDeb } from './helpers/paths.js';
import { FixtureRepo, type Published } from './helpers/repo.js';
import { FixtureUpstream, GATE_BYTES } from './helpers/upstream.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

const demo1: DebSpec = {
  name: 'aptgate-demo',
  version: '1.0-1',
  description: 'aptgate demo package\nUsed by the fixture tests.\n\nSecond paragraph.',
};
const demo2: DebSpec = { name: 'aptgate-demo', version: '2.0-1' };
const big: DebSpec = { name: 'aptgate-big', version: '1.0-1', arch: 'all', payloadBytes: 5 * MiB };

let dir: string;
let key: TestKey;
let repo: FixtureRepo;
let up: FixtureUpstream;
let gen1: Published;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-fixture-'));
  key = await loadTestKey(dir, 'archive');
  repo = await FixtureRepo.create(path.join(dir, 'repo'), key);
  gen1 = await repo.publish('stable', [demo1, big], { extraDebs: [helloDeb] });
  up = await FixtureUpstream.start(repo.root);
});

after(async () => {
  await up?.close();
  if (key) await disposeTestKey(key);
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
  error?: Error;
}

/** GET/HEAD with node:http and a raw (not normalised) path; never rejects, reports partial bodies */
function raw(
  pathAndQuery: string,
  opts: { method?: string; headers?: Record<string, string>; port?: number; onData?: (total: number) => void } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: opts.port ?? up.port,
        path: pathAndQuery,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        let err: Error | undefined;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          total += c.length;
          opts.onData?.(total);
        });
        res.on('error', (e) => (err = e));
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete: res.complete,
            error: err,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function repoFile(rel: string): Promise<Buffer> {
  return readFile(path.join(repo.root, rel));
}

// ---------------------------------------------------------------------------------------------

test('upstream: GET, HEAD, 404, path safety, percent-decoding, conditional requests, prefix, keep-alive', async () => {
  up.resetCounts();
  const inRel = await repoFile('dists/stable/InRelease');
  const st = await stat(repo.path('dists/stable/InRelease'));

  const g = await raw('/dists/stable/InRelease', { headers: { Connection: 'keep-alive' } });
  assert.equal(g.status, 200);
  assert.deepEqual(g.body, inRel);
  assert.equal(g.headers['content-length'], String(inRel.length));
  assert.equal(g.headers['content-type'], 'application/octet-stream');
  assert.equal(g.headers['last-modified'], st.mtime.toUTCString());
  assert.equal(g.headers.connection, 'keep-alive');
  const etag = g.headers.etag;
  assert.ok(etag);

  const h = await raw('/dists/stable/InRelease', { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], String(inRel.length));
  assert.equal(h.body.length, 0);

  assert.equal((await raw('/dists/stable/nope')).status, 404);
  assert.equal((await raw('/dists/stable')).status, 404, 'directories are not served');
  assert.equal((await raw('/dists/../../../../etc/passwd')).status, 404);
  assert.equal((await raw('/dists/%2e%2e/%2E%2E/%2e%2e/etc/passwd')).status, 404);
  assert.equal((await raw('/dists/stable/InRelease', { method: 'POST' })).status, 405);

  // If-Modified-Since
  const ims304 = await raw('/dists/stable/InRelease', { headers: { 'If-Modified-Since': st.mtime.toUTCString() } });
  assert.equal(ims304.status, 304);
  assert.equal(ims304.body.length, 0);
  assert.equal(ims304.headers['content-type'], undefined);
  const ims200 = await raw('/dists/stable/InRelease', {
    headers: { 'If-Modified-Since': new Date(st.mtimeMs - 1000).toUTCString() },
  });
  assert.equal(ims200.status, 200);
  assert.deepEqual(ims200.body, inRel);
  // If-None-Match
  assert.equal((await raw('/dists/stable/InRelease', { headers: { 'If-None-Match': etag } })).status, 304);
  assert.equal(
    (
      await raw('/dists/stable/InRelease', {
        headers: { 'If-None-Match': '"other"', 'If-Modified-Since': st.mtime.toUTCString() },
      })
    ).status,
    200,
  );

  // percent-decoding
  await mkdir(repo.path('misc'), { recursive: true });
  await writeFile(repo.path('misc/a+b c.txt'), 'plus\n');
  const pct = await raw('/misc/a%2bb%20c.txt');
  assert.equal(pct.status, 200);
  assert.equal(pct.body.toString(), 'plus\n');
  assert.equal(up.hits('misc/a+b c.txt'), 1);
  assert.equal(up.hits('/misc/a+b c.txt'), 1, 'leading slash is ignored');

  assert.equal(up.hits('dists/stable/InRelease'), 7);
  assert.equal(up.totalHits(), up.requests().length);
  assert.deepEqual(up.requests()[1], {
    method: 'HEAD',
    path: 'dists/stable/InRelease',
    headers: up.requests()[1]!.headers,
  });

  // prefix
  const pre = await FixtureUpstream.start(repo.root, { prefix: '/debian' });
  try {
    assert.equal(pre.base, `${pre.url}/debian`);
    assert.match(pre.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await raw('/debian/dists/stable/InRelease', { port: pre.port })).status, 200);
    assert.equal((await raw('/dists/stable/InRelease', { port: pre.port })).status, 404);
    assert.equal(pre.hits('dists/stable/InRelease'), 1);
  } finally {
    await pre.close();
  }
});

test('upstream faults: every kind is observable', async () => {
  up.resetCounts();
  up.clearFaults();
  const rel = 'dists/stable/InRelease';
  const body = await repoFile(rel);
  const bigRel = gen1.debs.find((d) => d.name === 'aptgate-big')!.filename;
  const bigBody = await repoFile(bigRel);

  // status
  up.fault(rel, { kind: 'status', status: 503 }, 1);
  assert.equal((await fetch(`${up.base}/${rel}`)).status, 503);
  assert.equal((await fetch(`${up.base}/${rel}`)).status, 200, 'consumed after `times`');

  // first match wins, in registration order; RegExp and predicate matchers
  up.fault(/InRelease$/, { kind: 'status', status: 500 }, 1);
  up.fault(rel, { kind: 'status', status: 404 }, 1);
  assert.equal((await fetch(`${up.base}/${rel}`)).status, 500);
  assert.equal((await fetch(`${up.base}/${rel}`)).status, 404);
  up.fault((p) => p.startsWith('pool/'), { kind: 'status', status: 502 });
  assert.equal((await fetch(`${up.base}/${bigRel}`)).status, 502);
  assert.equal((await fetch(`${up.base}/${bigRel}`)).status, 502, 'default times is Infinity');
  up.clearFaults();
  assert.equal((await fetch(`${up.base}/${bigRel}`, { method: 'HEAD' })).status, 200);

  // delay
  up.fault(rel, { kind: 'delay', ms: 150 }, 1);
  let t0 = performance.now();
  const delayed = await fetch(`${up.base}/${rel}`);
  assert.ok(performance.now() - t0 >= 145, `delay took ${performance.now() - t0} ms`);
  assert.deepEqual(Buffer.from(await delayed.arrayBuffer()), body);

  // reset after N bytes and right after the headers
  for (const afterBytes of [1000, 0]) {
    up.fault(bigRel, { kind: 'reset', afterBytes }, 1);
    const r = await raw(`/${bigRel}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(bigBody.length));
    assert.equal(r.complete, false);
    assert.equal(r.body.length, afterBytes);
    assert.deepEqual(r.body, bigBody.subarray(0, afterBytes));
    up.fault(bigRel, { kind: 'reset', afterBytes }, 1);
    await assert.rejects(fetch(`${up.base}/${bigRel}`).then((x) => x.arrayBuffer()));
  }

  // wrong bytes
  up.fault(rel, { kind: 'wrong-bytes' }, 1);
  const wb = await raw(`/${rel}`);
  assert.equal(wb.complete, true);
  assert.equal(wb.body.length, body.length);
  assert.notDeepEqual(wb.body, body);
  assert.deepEqual(wb.body.subarray(0, -1), body.subarray(0, -1));
  assert.equal(wb.body[wb.body.length - 1], body[body.length - 1]! ^ 0xff);

  // wrong length (both directions), consistent Content-Length
  for (const delta of [7, -7]) {
    up.fault(rel, { kind: 'wrong-length', delta }, 1);
    const wl = await raw(`/${rel}`);
    assert.equal(wl.complete, true);
    assert.equal(wl.body.length, body.length + delta);
    assert.equal(wl.headers['content-length'], String(body.length + delta));
    assert.deepEqual(
      wl.body.subarray(0, Math.min(body.length, wl.body.length)),
      body.subarray(0, Math.min(body.length, wl.body.length)),
    );
  }

  // slow
  const chunk = Math.ceil(body.length / 4);
  up.fault(rel, { kind: 'slow', chunkBytes: chunk, intervalMs: 40 }, 1);
  t0 = performance.now();
  let events = 0;
  const slow = await raw(`/${rel}`, { onData: () => events++ });
  assert.ok(performance.now() - t0 >= 115, `slow took ${performance.now() - t0} ms`);
  assert.deepEqual(slow.body, body);
  assert.ok(events >= 4, `${events} data events`);

  // gate: exactly 64 KiB arrive, nothing more until the gate opens
  let open!: () => void;
  const until = new Promise<void>((r) => (open = r));
  let reached!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  let got64!: () => void;
  const got64P = new Promise<void>((r) => (got64 = r));
  let received = 0;
  up.fault(bigRel, { kind: 'gate', until, reached }, 1);
  const gated = raw(`/${bigRel}`, {
    onData: (total) => {
      received = total;
      if (total >= GATE_BYTES) got64();
    },
  });
  await reachedP;
  await got64P;
  assert.equal(received, GATE_BYTES);
  // a second request for the same file is not blocked by the gate (times = 1)
  const parallel = await raw(`/${bigRel}`);
  assert.equal(sha256(parallel.body), sha256(bigBody));
  assert.equal(received, GATE_BYTES, 'still held at the gate');
  open();
  const g = await gated;
  assert.equal(g.complete, true);
  assert.equal(sha256(g.body), sha256(bigBody));

  // gate on a small file holds back the last byte
  let open2!: () => void;
  const until2 = new Promise<void>((r) => (open2 = r));
  let got2!: () => void;
  const got2P = new Promise<void>((r) => (got2 = r));
  up.fault(rel, { kind: 'gate', until: until2 }, 1);
  const small = raw(`/${rel}`, { onData: (n) => n >= body.length - 1 && got2() });
  await got2P;
  open2();
  assert.deepEqual((await small).body, body);

  // close() cuts an in-flight (gated) response
  up.clearFaults();
});

test('upstream hits() and onRequest hooks (publish a new generation in the middle of a request)', async () => {
  up.resetCounts();
  assert.equal(up.totalHits(), 0);
  const genA = await repo.publish('hooked', [demo1]);
  let genB: Published | undefined;
  let calls = 0;
  up.onRequest(
    'dists/hooked/InRelease',
    async (p) => {
      calls++;
      assert.equal(p, 'dists/hooked/InRelease');
      genB = await repo.publish('hooked', [demo1, demo2]);
    },
    1,
  );
  const first = Buffer.from(await (await fetch(`${up.base}/dists/hooked/InRelease`)).arrayBuffer());
  assert.ok(genB);
  assert.deepEqual(first, genB.inRelease);
  assert.notDeepEqual(first, genA.inRelease);
  const second = Buffer.from(await (await fetch(`${up.base}/dists/hooked/InRelease`)).arrayBuffer());
  assert.deepEqual(second, genB.inRelease);
  assert.equal(calls, 1, 'hook consumed after `times`');
  assert.equal(up.hits('dists/hooked/InRelease'), 2);
  assert.equal(up.hits('dists/hooked/Release'), 0);
  assert.equal(up.totalHits(), 2);

  // hooks run before faults and a throwing hook answers 500
  up.onRequest(
    /Release\.gpg$/,
    () => {
      throw new Error('boom');
    },
    1,
  );
  assert.equal((await fetch(`${up.base}/dists/hooked/Release.gpg`)).status, 500);
  assert.equal(up.hookErrors.length, 1);
  assert.equal((await fetch(`${up.base}/dists/hooked/Release.gpg`)).status, 200);

  // a hook that holds the request until the test lets it go
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const enteredP = new Promise<void>((r) => (entered = r));
  up.onRequest(
    'dists/hooked/Release',
    async () => {
      entered();
      await held;
    },
    1,
  );
  const pending = fetch(`${up.base}/dists/hooked/Release`);
  await enteredP;
  assert.equal(up.hits('dists/hooked/Release'), 1);
  release();
  assert.equal((await pending).status, 200);

  up.resetCounts();
  assert.equal(up.totalHits(), 0);
  assert.deepEqual(up.requests(), []);
  assert.equal(up.hits('dists/hooked/InRelease'), 0);
});

test('upstream close() destroys open sockets, including in-flight responses', async () => {
  const u = await FixtureUpstream.start(repo.root);
  const bigRel = gen1.debs.find((d) => d.name === 'aptgate-big')!.filename;
  let reached!: () => void;
  const reachedP = new Promise<void>((r) => (reached = r));
  u.fault(bigRel, { kind: 'gate', until: new Promise<void>(() => undefined), reached });
  const inflight = raw(`/${bigRel}`, { port: u.port });
  await reachedP;
  await u.close();
  const r = await inflight;
  assert.equal(r.complete, false);
  await assert.rejects(raw('/dists/stable/InRelease', { port: u.port }));
});
