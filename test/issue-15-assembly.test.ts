// Issue 15: the services are assembled in one place (src/assembly/). Guards over the sources:
// only the assembly constructs the fleet, the gate, the proxy and the outdated worker; no domain
// folder imports the assembly or the app; the administrator's commands load neither fastify nor
// undici. And the graph the CLI opens is the server's: its fleet has the release gate's side (a
// staged machine's sources and the server's key), which the CLI's fleet used to lack.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assemble } from '../src/assembly/services.js';
import { openFleet } from '../src/cli/fleet-context.js';
import { loadConfig, type Config } from '../src/config.js';
import { parseParagraphs } from '../src/index/deb822.js';
import { toPackageEntry } from '../src/index/packages.js';
import { openDb } from '../src/state/db.js';
import { projectRoot } from './helpers/paths.js';

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Module specifiers a file imports: static imports and re-exports, and (with `dynamic`) import(). */
function importsOf(text: string, dynamic: boolean): string[] {
  const out = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g)].map(
    (m) => m[1]!,
  );
  if (dynamic) out.push(...[...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
  return out;
}

const rel = (file: string) => path.relative(projectRoot, file).split(path.sep).join('/');

describe('issue 15: one assembly', () => {
  it('only src/assembly/ constructs Fleet, GateService, ProxyRuntime and OutdatedThread (src, test, bench)', () => {
    const found: string[] = [];
    for (const top of ['src', 'test', 'bench']) {
      for (const f of files(path.join(projectRoot, top), '.ts')) {
        for (const m of readFileSync(f, 'utf8').matchAll(
          /\bnew\s+(Fleet|GateService|ProxyRuntime|OutdatedThread)\s*\(/g,
        ))
          found.push(`${rel(f)}: ${m[1]}`);
      }
    }
    assert.ok(found.length >= 4, `the assembly's own constructions are found: ${found.join(', ')}`);
    assert.deepEqual(
      found.filter((x) => !x.startsWith('src/assembly/')),
      [],
    );
  });

  it('no module under src/<domain>/ imports the assembly, the app or the server entry', () => {
    const src = path.join(projectRoot, 'src');
    const top = new Set(['app.ts', 'main.ts'].map((f) => path.join(src, f)));
    const bad: string[] = [];
    for (const f of files(src, '.ts')) {
      const dir = path.dirname(f);
      // the edges: the top level (app, main) and the command line assemble; the assembly itself;
      // the operations (ops/) and the API (api/) run over the assembled services, below the edge
      if (dir === src || dir.startsWith(path.join(src, 'cli')) || dir.startsWith(path.join(src, 'assembly'))) continue;
      const aboveAssembly = ['ops', 'api'].some((d) => dir.startsWith(path.join(src, d)));
      for (const spec of importsOf(readFileSync(f, 'utf8'), true)) {
        if (!spec.startsWith('.')) continue;
        const target = path.resolve(dir, spec).replace(/\.js$/, '.ts');
        if (top.has(target) || (!aboveAssembly && target.startsWith(path.join(src, 'assembly') + path.sep)))
          bad.push(`${rel(f)} → ${spec}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it("the administrator's commands load neither fastify nor undici, nor the proxy runtime (static imports of the built program)", () => {
    const dist = path.join(projectRoot, 'dist', 'src');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(readFileSync(file, 'utf8'), false)) {
        if (spec.startsWith('.')) walk(path.resolve(path.dirname(file), spec));
        else if (!spec.startsWith('node:')) packages.add(spec.split('/')[0]!);
      }
    };
    walk(path.join(dist, 'cli', 'program.js'));
    assert.ok(seen.has(path.join(dist, 'assembly', 'services.js')), 'the commands open the assembled services');
    assert.deepEqual(
      [...packages].filter((p) => p === 'fastify' || p === 'undici'),
      [],
    );
    assert.deepEqual(
      [...seen]
        .map((f) => path.relative(dist, f))
        .filter((f) => f === path.join('proxy', 'runtime.js') || f === path.join('assembly', 'server.js')),
      [],
    );
  });
});

describe("issue 15: the CLI opens the server's graph", () => {
  let dir: string;
  let config: Config;
  const host = 'aptgate.example.org:3142';

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i15-'));
    config = loadConfig({
      env: {},
      overrides: { db: path.join(dir, 'aptgate.db'), cacheDir: path.join(dir, 'cache') },
    });
    openDb(config.db).close(); // what the server's first start does: the commands never create it
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("its fleet gives a staged machine the stage sources and the server's key, as the server's fleet does", async () => {
    // a machine following stage "test", which has a generation of bookworm-security
    const ctx = openFleet(config);
    let machine: { id: number; machineId: string };
    try {
      const snap = ctx.services.state.snapshots.record({
        backend: 'debian-security',
        suite: 'bookworm-security',
        kind: 'inrelease',
        sha256: 'a'.repeat(64),
        date: Date.now(),
        validUntil: null,
        origin: 'Debian',
        label: 'Debian-Security',
        suiteField: 'oldstable-security',
        codename: 'bookworm-security',
        version: '12',
        notAutomatic: false,
        butAutomaticUpgrades: false,
        fetchedAt: Date.now(),
        mirror: null,
        upstreamLastModified: null,
        upstreamEtag: null,
      });
      const entries = parseParagraphs(
        'Package: openssl\nVersion: 3.0.17-1~deb12u2\nArchitecture: amd64\nFilename: pool/updates/main/o/openssl/openssl_3.0.17-1~deb12u2_amd64.deb\n' +
          `Size: 1000\nSHA256: ${'b'.repeat(64)}\n`,
      ).map((p) => toPackageEntry(p)!);
      const file = ctx.packageIndex.beginFile('debian-security', 'k1');
      ctx.packageIndex.insertBatch(file, 'debian-security', entries);
      ctx.packageIndex.link(
        snap.id,
        'main',
        'amd64',
        ctx.packageIndex.finishFile(file, 'debian-security', 'c'.repeat(64), entries.length),
      );
      assert.deepEqual(
        (await ctx.gate.onSnapshotIndexed(snap.id)).map((g) => g.stage),
        config.gate.stages,
        'every stage takes the first snapshot',
      );
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
      machine = {
        id: ctx.fleet.enrol(ctx.fleet.enrolment.createToken({ autoApprove: true }).token, facts).machine,
        machineId: facts.machineId,
      };
      ctx.fleet.classes.create('qa');
      ctx.fleet.classes.bindStage('qa', 'test', false, config.gate.stages);
      ctx.fleet.classes.addMember('qa', machine.id);
    } finally {
      await ctx.services.stop();
      ctx.close();
    }

    // the server's graph (not started: no proxy, no timers) makes the signing key and answers
    const db = openDb(config.db);
    const server = assemble(config, { db, dbFile: config.db, mode: 'server' });
    let expected: { sources: string; entries: unknown; key: string };
    try {
      await server.gate.prepareKey();
      const s = await server.fleet.sourcesOf(machine.id, machine.machineId, host);
      expected = {
        sources: server.fleet.checkIn(machine.id, {
          machineId: machine.machineId,
          state: 'e'.repeat(64),
          packages: 'f'.repeat(64),
          host,
        }).sources,
        entries: s.entries,
        key: s.key,
      };
    } finally {
      await server.stop();
      db.close();
    }
    assert.deepEqual(expected.entries, [
      { uri: `http://${host}/stage/test/debian-security`, suites: ['bookworm-security'], components: ['main'] },
    ]);
    assert.match(expected.sources, /^[0-9a-f]{64}$/);
    assert.match(expected.key, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);

    // the CLI's fleet: the same answers (it opens the key the server made, never makes one)
    const cli = openFleet(config);
    try {
      const s = await cli.fleet.sourcesOf(machine.id, machine.machineId, host);
      const sources = cli.fleet.checkIn(machine.id, {
        machineId: machine.machineId,
        state: 'e'.repeat(64),
        packages: 'f'.repeat(64),
        host,
      }).sources;
      assert.deepEqual({ sources, entries: s.entries, key: s.key }, expected);
    } finally {
      await cli.services.stop();
      cli.close();
    }
  });
});
