// Issue 13, with real apt-get judging the bytes: a .deb a hostile mirror answered with wrong
// bytes before aptgate knew its index never becomes a cache hit, so apt is not blocked by
// "Hash Sum mismatch" for good; also after a server stopped in the middle of an index ingest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { aptEnv, downloadedDebs, runApt, runAptOk, type AptEnv } from './helpers/apt.js';
import { request } from './helpers/http.js';
import { flipLast, HostileUpstream } from './helpers/hostile.js';
import { startServer, testConfig, type BackendSpec, type TestServer } from './helpers/server.js';
import { debOf, makeWorld, type World } from './helpers/world.js';
import { openDb } from '../src/state/db.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let world: World;
let hostile: HostileUpstream;
let backend: BackendSpec;
before(async () => {
  world = await makeWorld();
  hostile = await HostileUpstream.start(world.repo.root);
  backend = { mirrors: [hostile.base], keyring: world.key.keyring };
});
after(async () => {
  await hostile.close();
  await world.close();
});

/** Remap mode (sources name aptgate), or proxy mode (sources name the mirror; lists survive a new server port). */
function client(name: string, server: TestServer, mode: 'remap' | 'proxy' = 'remap'): Promise<AptEnv> {
  return aptEnv(path.join(world.dir, name), {
    sources: [
      {
        uri: mode === 'remap' ? `${server.url}/fixture` : hostile.base,
        suites: ['stable'],
        signedBy: world.key.keyring,
      },
    ],
    proxy: mode === 'remap' ? 'DIRECT' : `${server.url}/`,
    config: { 'Acquire::Retries': '0' },
  });
}

/** The mirror answers the file once with its last byte flipped. */
function wrongBytesOnce(rel: string): void {
  hostile.on(
    rel,
    async ({ res, file }) => {
      const bad = flipLast(await file());
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': bad.length });
      res.end(bad);
    },
    1,
  );
}

async function downloaded(apt: AptEnv, file: string): Promise<string> {
  return sha256(await readFile(path.join(apt.archivesDir, path.basename(file))));
}

test('wrong bytes for a .deb fetched before the index was known: apt-get install gets the right file once apt has the index', async () => {
  const server = await startServer(testConfig(path.join(world.dir, 'srv-fresh'), { fixture: backend }));
  try {
    const deb = debOf(world.gen1, 'aptgate-demo');
    wrongBytesOnce(deb.filename);
    const early = await request(server.port, `/fixture/${deb.filename}`);
    assert.notEqual(sha256(early.body), deb.sha256, 'the mirror did send wrong bytes');

    const apt = await client('apt-fresh', server);
    await runAptOk(['update', '--error-on=any'], { apt });
    const r = await runApt(['install', '--download-only', 'aptgate-demo'], { apt });
    assert.doesNotMatch(r.stdout + r.stderr, /Hash Sum mismatch|unexpected size/i, r.stdout + r.stderr);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await downloadedDebs(apt), [path.basename(deb.filename)]);
    assert.equal(await downloaded(apt, deb.filename), deb.sha256);
    // the early answer was streamed through uncached, and said so
    assert.equal(early.headers['x-aptgate-result'], 'pass-unverified');
  } finally {
    hostile.clear();
    await server.close();
  }
});

test('a server stopped during the Packages ingest: a client with current lists is never stuck on a cached wrong .deb', async () => {
  const config = testConfig(path.join(world.dir, 'srv-pending'), { fixture: backend });
  const deb = debOf(world.gen1, 'aptgate-demo');
  const apt = await (async () => {
    const first = await startServer(config);
    try {
      const a = await client('apt-pending', first, 'proxy');
      await runAptOk(['update', '--error-on=any'], { apt: a });
      await first.proxy.indexer.idle();
      return a;
    } finally {
      await first.close();
    }
  })();
  // the state a kill in the middle of the ingest leaves: the content row still `pending:`
  const packages = world.gen1.files.get('main/binary-amd64/Packages.xz')!;
  const db = openDb(config.db);
  try {
    const row = db.prepare<[], { id: number }>('SELECT id FROM index_file WHERE complete = 1').get()!;
    db.prepare('DELETE FROM snapshot_index WHERE index_file_id = ?').run(row.id);
    db.prepare('DELETE FROM index_alias WHERE index_file_id = ?').run(row.id);
    db.prepare('UPDATE index_file SET complete = 0, content_sha256 = ? WHERE id = ?').run(
      `pending:${packages.sha256}`,
      row.id,
    );
  } finally {
    db.close();
  }

  const second = await startServer(config);
  try {
    // apt's lists are current: update fetches no Packages, the server must know them anyway
    hostile.resetCounts();
    const proxy = `${second.url}/`;
    await runAptOk(['update', '--error-on=any'], { apt, proxy });
    assert.equal(
      hostile.hits('dists/stable/main/binary-amd64/Packages.xz') +
        hostile.hits(`dists/stable/main/binary-amd64/by-hash/SHA256/${packages.sha256}`),
      0,
      'apt fetched no Packages',
    );
    wrongBytesOnce(deb.filename);
    const once = await runApt(['install', '--download-only', 'aptgate-demo'], { apt, proxy });
    // whatever the first attempt saw, the wrong bytes were not kept: the next attempt succeeds
    const again = await runApt(['install', '--download-only', 'aptgate-demo'], { apt, proxy });
    assert.equal(again.code, 0, `first: ${once.stdout}${once.stderr}\nsecond: ${again.stdout}${again.stderr}`);
    assert.equal(await downloaded(apt, deb.filename), deb.sha256);
    assert.equal(hostile.hits(deb.filename), 2, 'the wrong answer was refetched, not served from cache');
  } finally {
    hostile.clear();
    await second.close();
  }
});
