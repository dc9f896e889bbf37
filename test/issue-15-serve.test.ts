// Issue 15, item 4: the domain decides, the edge serves. Every proxy request — backend paths,
// stage repositories, other methods — is recorded once with one result vocabulary: the access
// line, aptgate_requests_total and the client's counts agree. Before, the stage routes counted
// every status below 400 as a `hit` in the metrics (a stage pool file fetched from upstream was
// a hit there, `stage-miss` in the log). Real fixture repository, real upstream, aptgate over
// HTTP on 127.0.0.1.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ClientStore } from '../src/state/clients.js';
import { request, type RequestOptions } from './helpers/http.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('issue 15: one result for each request, in the access line, the metrics and the client counts', () => {
  let world: World;
  let server: TestServer;
  const lines: Array<Record<string, unknown>> = [];
  const deb = () => debOf(world.gen1, 'aptgate-demo');

  before(async () => {
    world = await makeWorld();
    const config = testConfig(path.join(world.dir, 'srv'), { fixture: world.backend });
    config.logLevel = 'info';
    const stream = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    server = await startServer(config, { logger: { level: 'info', stream } });
    // as apt does: the indexes first; the test stage then publishes the suite
    assert.equal((await request(server.port, '/fixture/dists/stable/InRelease')).status, 200);
    assert.equal((await request(server.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
    await server.proxy.indexer.idle();
    await waitFor(async () => {
      await server.gate.idle();
      return (await request(server.port, '/stage/test/fixture/dists/stable/InRelease')).status === 200;
    }, 'the test stage to publish the suite');
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  /** aptgate_requests_total by result, as /-/metrics shows it */
  async function requests(): Promise<Record<string, number>> {
    const text = (await request(server.port, '/-/metrics')).body.toString();
    return Object.fromEntries(
      [...text.matchAll(/^aptgate_requests_total\{result="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]),
    );
  }

  /** One request, its access line (written once the response is over) and what it added to aptgate_requests_total. */
  async function observe(target: string, opts: RequestOptions = {}) {
    const before = await requests();
    const from = lines.length;
    const r = await request(server.port, target, opts);
    const line = await waitFor(
      () => lines.slice(from).find((l) => l['msg'] === 'access' && l['path'] === target),
      `the access line of ${target}`,
    );
    const after = await requests();
    const added = Object.fromEntries(
      Object.entries(after)
        .map(([k, v]) => [k, v - (before[k] ?? 0)])
        .filter(([, d]) => d !== 0),
    );
    return { r, line, added };
  }

  function counts(address: string) {
    server.proxy.clients.flush();
    const row = new ClientStore(server.db).list().find((c) => c.address === address);
    return row ? { requests: row.requests, hits: row.hits, misses: row.misses } : undefined;
  }

  it('a stage pool file not yet in the cache is a miss everywhere (it was a hit in the metrics), then a hit, then not_modified', async () => {
    const url = `/stage/test/fixture/${deb().filename}`;
    const client = { localAddress: '127.0.0.5' };
    const miss = await observe(url, client);
    assert.equal(miss.r.status, 200);
    assert.equal(sha256(miss.r.body), deb().sha256);
    assert.equal(miss.r.headers['x-aptgate-result'], 'miss');
    assert.deepEqual(miss.added, { miss: 1 }, 'fetched from upstream: a miss in aptgate_requests_total, not a hit');
    assert.equal(miss.line['result'], 'miss');
    await server.proxy.fills.drain();

    const hit = await observe(url, client);
    assert.equal(hit.r.headers['x-aptgate-result'], 'hit');
    assert.equal(hit.line['result'], 'hit');
    assert.deepEqual(hit.added, { hit: 1 });

    const current = await observe(url, {
      ...client,
      method: 'HEAD',
      headers: { 'if-modified-since': new Date(Date.now() + 3600_000).toUTCString() },
    });
    assert.equal(current.r.status, 304);
    assert.equal(current.line['result'], 'not_modified');
    assert.deepEqual(current.added, { not_modified: 1 });
    assert.deepEqual(counts('127.0.0.5'), { requests: 3, hits: 2, misses: 1 });
  });

  it("a stage's published index is a hit (this server's own file, no upstream request), a 304 not_modified; what it does not publish is not_found", async () => {
    const url = '/stage/test/fixture/dists/stable/InRelease';
    const client = { localAddress: '127.0.0.6' };
    world.upstream.resetCounts();
    const hit = await observe(url, client);
    assert.equal(hit.r.status, 200);
    assert.match(hit.r.body.toString(), /^Codename: /m);
    assert.equal(hit.line['result'], 'hit');
    assert.deepEqual(hit.added, { hit: 1 });
    assert.equal(world.upstream.totalHits(), 0);

    const current = await observe(url, {
      ...client,
      headers: { 'if-modified-since': new Date(Date.now() + 3600_000).toUTCString() },
    });
    assert.equal(current.r.status, 304);
    assert.equal(current.line['result'], 'not_modified');
    assert.deepEqual(current.added, { not_modified: 1 }, 'a 304 is not_modified in the metrics too');

    for (const missing of [
      '/stage/test/fixture/dists/nosuch/InRelease',
      '/stage/test/fixture/pool/main/n/nope/nope_1.0_all.deb',
      '/stage/nosuch/fixture/dists/stable/InRelease',
    ]) {
      const nf = await observe(missing, client);
      assert.equal(nf.r.status, 404, missing);
      assert.equal(nf.line['result'], 'not_found', missing);
      assert.deepEqual(nf.added, { not_found: 1 }, missing);
    }
    const bad = await observe('/stage/test/nosuch/dists/stable/InRelease', client);
    assert.equal(bad.r.status, 403);
    assert.equal(bad.line['result'], 'refused');
    assert.deepEqual(bad.added, { refused: 1 });
    assert.deepEqual(counts('127.0.0.6'), { requests: 6, hits: 2, misses: 0 });
  });

  it('other methods (405), backend paths and their errors: the same result in the line and the metrics', async () => {
    const client = { localAddress: '127.0.0.7' };
    const post = await observe('/stage/test/fixture/dists/stable/InRelease', { ...client, method: 'POST' });
    assert.equal(post.r.status, 405);
    assert.equal(post.r.headers['x-aptgate-error'], 'METHOD_NOT_ALLOWED');
    assert.equal(post.line['result'], 'refused');
    assert.deepEqual(post.added, { refused: 1 });

    const root = await observe('/fixture/dists/stable/InRelease', client);
    assert.equal(root.r.status, 200);
    assert.deepEqual(root.added, { [String(root.line['result'])]: 1 });
    assert.ok(['hit', 'revalidated'].includes(String(root.line['result'])), String(root.line['result']));

    const gone = await observe('/fixture/pool/main/n/nope/nope_1.0_all.deb', client);
    assert.equal(gone.r.status, 404);
    assert.equal(gone.line['result'], 'not_found');
    assert.deepEqual(gone.added, { not_found: 1 });

    const outside = await observe('/nosuch/dists/stable/InRelease', client);
    assert.equal(outside.r.status, 403);
    assert.equal(outside.line['result'], 'refused');
    assert.deepEqual(outside.added, { refused: 1 });
    assert.deepEqual(counts('127.0.0.7'), { requests: 4, hits: 1, misses: 0 });
  });
});
