// Issue 14: aptgate_cache_bytes read 0 for five minutes after a start while `cache stats` showed
// 66 MiB. Now the start-up walk measures it ("cache measured" in the log, /-/health
// cache.measured) and the server's own fills and removals keep it current; a change made while a
// walk runs is counted once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from './helpers/http.js';
import { exec } from './helpers/exec.js';
import { projectRoot } from './helpers/paths.js';
import { spawnServer, startServer, testConfig } from './helpers/server.js';
import { debOf, makeWorld } from './helpers/world.js';
import { CacheStore } from '../src/proxy/store.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');

const metric = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

/** What a fresh walk of the directory finds (the definition the gauges follow). */
async function walked(root: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const f of new CacheStore(root).walk()) {
    files++;
    bytes += f.size;
  }
  return { files, bytes };
}

test(
  'a server started on a cache with 66 MiB in it reports them on the first scrape once it has measured',
  { timeout: 120_000 },
  async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-metrics-'));
    try {
      const cache = path.join(dir, 'cache');
      const pool = path.join(cache, 'debian', 'pool', 'main', 'l', 'linux');
      await mkdir(pool, { recursive: true });
      // a sparse file: 66 MiB by its size, nothing on the disk
      await writeFile(path.join(pool, 'linux-image_6.1.0_amd64.deb'), '');
      await truncate(path.join(pool, 'linux-image_6.1.0_amd64.deb'), 66 * 1024 * 1024);
      await mkdir(path.join(cache, 'debian', 'dists', 'bookworm'), { recursive: true });
      await writeFile(path.join(cache, 'debian', 'dists', 'bookworm', 'InRelease'), randomBytes(12_345));
      for (let i = 0; i < 50; i++) {
        const d = path.join(cache, 'debian', 'pool', 'main', `p${i % 7}`, `pkg${i}`);
        await mkdir(d, { recursive: true });
        await writeFile(path.join(d, `pkg${i}_1.0_all.deb`), randomBytes(100 + i));
      }
      // not objects: partial fills, snapshot roots, a symlink
      await mkdir(path.join(cache, '.snapshots', 'debian', 'bookworm'), { recursive: true });
      await writeFile(path.join(cache, '.snapshots', 'debian', 'bookworm', 'a'.repeat(64)), randomBytes(5000));
      await mkdir(path.join(cache, '.tmp'), { recursive: true });
      await writeFile(path.join(cache, '.tmp', 'fill-1'), randomBytes(7000));
      await symlink('/etc/hostname', path.join(pool, 'link.deb'));
      const expected = {
        files: 52,
        bytes: 66 * 1024 * 1024 + 12_345 + Array.from({ length: 50 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0),
      };
      assert.deepEqual(await walked(cache), expected);

      // the built-in backends, with a keyring of the test's own (nothing is fetched)
      const keyring = path.join(dir, 'keyring.gpg');
      await writeFile(keyring, '');
      const child = await spawnServer([
        '--cache-dir',
        cache,
        '--db',
        path.join(dir, 'aptgate.db'),
        '--keyring',
        `debian=${keyring}`,
        '--keyring',
        `debian-security=${keyring}`,
      ]);
      try {
        // ready: the start-up walk logged its result
        await new Promise<void>((resolve) => {
          const seen = () => child.output().includes('"msg":"cache measured"');
          if (seen()) return resolve();
          const on = () => {
            if (!seen()) return;
            child.child.stdout!.off('data', on);
            resolve();
          };
          child.child.stdout!.on('data', on);
        });
        const logged = child
          .output()
          .split('\n')
          .filter((l) => l.includes('"msg":"cache measured"'))
          .map((l) => JSON.parse(l) as { files: number; bytes: number });
        assert.deepEqual(
          logged.map((l) => ({ files: l.files, bytes: l.bytes })),
          [expected],
        );
        const text = (await request(child.port, '/-/metrics')).body.toString();
        assert.equal(metric(text, 'aptgate_cache_bytes'), expected.bytes);
        assert.equal(metric(text, 'aptgate_cache_files'), expected.files);
        const health = JSON.parse((await request(child.port, '/-/health')).body.toString()) as { cache: unknown };
        assert.deepEqual(health.cache, { measured: true, ...expected });
        // the same figure as `aptgate cache stats`, while the server runs
        const stats = await exec(process.execPath, [
          CLI,
          'cache',
          'stats',
          '--json',
          '--cache-dir',
          cache,
          '--db',
          path.join(dir, 'aptgate.db'),
        ]);
        assert.equal(stats.code, 0, stats.stderr.toString());
        assert.equal((JSON.parse(stats.stdout.toString()) as { bytes: number }).bytes, expected.bytes);
      } finally {
        assert.equal(await child.stop(), 0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test('fills and removals keep aptgate_cache_bytes current between walks', { timeout: 120_000 }, async () => {
  const world = await makeWorld();
  try {
    const server = await startServer(testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }));
    try {
      await server.proxy.cacheMeasured;
      const scrape = async () => {
        const text = (await request(server.port, '/-/metrics')).body.toString();
        return { files: metric(text, 'aptgate_cache_files'), bytes: metric(text, 'aptgate_cache_bytes') };
      };
      assert.deepEqual(await scrape(), { files: 0, bytes: 0 });
      await request(server.port, '/fixture/dists/stable/InRelease');
      await request(server.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz');
      await server.proxy.indexer.idle();
      const deb = debOf(world.gen1, 'aptgate-big');
      assert.equal((await request(server.port, `/fixture/${deb.filename}`)).status, 200);
      await server.proxy.fills.drain();
      const filled = await walked(server.config.cacheDir);
      assert.ok(filled.bytes > deb.size, JSON.stringify(filled));
      assert.deepEqual(await scrape(), filled);
      // the server's clean-up under a budget of 1 byte removes everything it may
      server.config.cache.maxBytes = 1;
      server.config.cache.cleanGraceMs = 0;
      await server.proxy.clean();
      const cleaned = await walked(server.config.cacheDir);
      assert.ok(cleaned.bytes < filled.bytes - deb.size, JSON.stringify(cleaned));
      assert.deepEqual(await scrape(), cleaned);
    } finally {
      await server.close();
    }
  } finally {
    await world.close();
  }
});

/** A small deterministic generator: the same operations each run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test(
  'changes made while the walk runs (new files, new directories, replacements, removals) are counted once',
  { timeout: 120_000 },
  async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-walk-'));
    try {
      for (const seed of [1, 2, 3]) {
        const root = path.join(dir, `cache${seed}`);
        const store = new CacheStore(root);
        await store.init();
        const random = rng(seed);
        const keys: string[] = [];
        for (let d = 0; d < 120; d++) {
          const sub = path.join(root, 'b', 'pool', `d${d % 12}`, `p${d}`);
          await mkdir(sub, { recursive: true });
          const sizes = Array.from({ length: 10 }, () => 1 + Math.floor(random() * 3000));
          await Promise.all(sizes.map((size, f) => writeFile(path.join(sub, `f${f}`), Buffer.alloc(size))));
          keys.push(...sizes.map((_, f) => `b/pool/d${d % 12}/p${d}/f${f}`));
        }
        const put = async (key: string, size: number) => {
          const t = await store.openTemp();
          await t.fh.write(Buffer.alloc(size));
          await t.fh.close();
          await store.commit(t.path, key, new Date());
        };
        // the walk and 8 writers at once, each writer going through its share of 200 changes
        const walk = store.size.measure();
        let n = 0;
        const writers = Array.from({ length: 8 }, async () => {
          while (n < 200) {
            const i = n++;
            const r = random();
            const existing = keys[Math.floor(random() * keys.length)]!;
            if (r < 0.3) await put(existing, 1 + Math.floor(random() * 5000));
            else if (r < 0.55) await store.remove(existing);
            else if (r < 0.8)
              await put(`${existing.slice(0, existing.lastIndexOf('/'))}/new${i}`, 1 + Math.floor(random() * 5000));
            else await put(`b/pool/d${i % 12}/fresh${i}/x/y${i}`, 1 + Math.floor(random() * 5000));
          }
        });
        await Promise.all([walk, ...writers]);
        // and changes after the walk, counted by themselves
        await put('b/after/one', 4321);
        await store.remove(keys[0]!);
        assert.ok(store.size.known);
        assert.deepEqual({ files: store.size.files, bytes: store.size.bytes }, await walked(root), `seed ${seed}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
