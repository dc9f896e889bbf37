// Issue 15: guards that keep the structure. Read from the sources' import lines (test/helpers/
// imports.ts): no folder of src/ reaches back to itself through others; nothing imports cli/; the agent imports only
// what bundles for Node 18 (its own folder, the wire contract, index/, sys/, the terminal helpers
// and a few leaf files); proxy/ and rpc/ never import each other; index/ does no I/O; the
// console's server side imports only errors and is mounted by the edge alone. Each rule
// is also shown to catch the import it forbids, added to a copy of the real graph.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { cycles, importGraph, type ImportEdge, type ImportGraph } from './helpers/imports.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const graph = importGraph(SRC);

// accounts and audit sit low: the operations, the API and the command line are built on them
const ACCESS_MAY_IMPORT = new Set(['access/', 'state/', 'sys/', 'errors']);
// security advisories (issue 17): the fleet's queries join them with the fleet; the gate and the
// rest of the fleet never read them
const ADVISORIES_MAY_IMPORT = new Set(['advisories/', 'index/', 'sys/', 'state/', 'proxy/', 'config', 'errors', 'log']);
const AGENT_MAY_IMPORT = new Set(['agent/', 'protocol/', 'index/', 'sys/', 'term/', 'errors', 'version', 'suggest']);
// the web console's server side (src/console/) and who mounts it; the libraries only it uses
const CONSOLE_MOUNTED_BY = new Set(['app', 'main']);
const CONSOLE_LIBRARIES = new Set(['@fastify/static', '@fastify/helmet']);
// the operations are reached through the API and the command line only; the API is mounted by the edge
const OPS_USED_BY = new Set(['api/', 'cli/']);
const API_MOUNTED_BY = new Set(['app']);
// the API's libraries, each in one file of api/
const API_LIBRARIES = new Map([
  ['@fastify/cookie', 'api/auth.ts'],
  ['@fastify/swagger', 'api/openapi.ts'],
]);
// node: modules a pure module may use: hashing, text decoding, stream types, nothing that reaches out
const PURE_BUILTINS = new Set(['node:crypto', 'node:string_decoder', 'node:stream', 'node:buffer', 'node:util']);

function violations(g: ImportGraph): string[] {
  const out: string[] = [];
  for (const c of cycles(g.edges, (m) => m.endsWith('/'))) out.push(`folder cycle: ${c.join(' ')}`);
  for (const e of g.edges) {
    if (e.from === 'agent/' && !AGENT_MAY_IMPORT.has(e.to)) out.push(`agent imports ${e.to} (${e.file})`);
    if (e.from === 'advisories/' && !ADVISORIES_MAY_IMPORT.has(e.to))
      out.push(`advisories imports ${e.to} (${e.file})`);
    if (e.from === 'access/' && !ACCESS_MAY_IMPORT.has(e.to)) out.push(`access imports ${e.to} (${e.file})`);
    if ((e.from === 'proxy/' && e.to === 'rpc/') || (e.from === 'rpc/' && e.to === 'proxy/'))
      out.push(`${e.from} imports ${e.to} (${e.file})`);
    if (e.from === 'index/' && e.to !== 'errors') out.push(`index imports ${e.to} (${e.file})`);
    // the command line is the top: nothing is built on it (what both programs share is in term/)
    if (e.to === 'cli/') out.push(`${e.from} imports cli/ (${e.file})`);
    // the console's server side serves files: it needs nothing of the domain, and only the edge mounts it
    if (e.from === 'console/' && e.to !== 'errors') out.push(`console/ imports ${e.to} (${e.file})`);
    if (e.to === 'console/' && !CONSOLE_MOUNTED_BY.has(e.from)) out.push(`${e.from} imports console/ (${e.file})`);
    if (e.to === 'ops/' && !OPS_USED_BY.has(e.from)) out.push(`${e.from} imports ops/ (${e.file})`);
    if (e.to === 'api/' && !API_MOUNTED_BY.has(e.from)) out.push(`${e.from} imports api/ (${e.file})`);
    // the advisories join the fleet in fleet/queries/ only: the fleet and the gate work without them
    if (e.to === 'advisories/' && (e.from === 'gate/' || (e.from === 'fleet/' && !e.file.startsWith('fleet/queries/'))))
      out.push(`${e.from} imports advisories/ (${e.file})`);
  }
  for (const [file, specs] of g.externals) {
    if (file.startsWith('index/')) {
      for (const s of specs) if (!PURE_BUILTINS.has(s)) out.push(`index does I/O or uses a library: ${s} (${file})`);
    }
    for (const s of specs)
      if (API_LIBRARIES.has(s) && API_LIBRARIES.get(s) !== file)
        out.push(`${s} is used in ${file}, not only in ${API_LIBRARIES.get(s)} (one module per library)`);
    for (const s of specs)
      if (CONSOLE_LIBRARIES.has(s) && !file.startsWith('console/'))
        out.push(`${s} is the console's library, used in ${file} (one module per library)`);
    if (file.startsWith('agent/')) {
      for (const s of specs)
        if (!s.startsWith('node:') && s !== 'commander')
          out.push(`agent uses ${s} directly (its libraries come through protocol/: one module per library) (${file})`);
    }
  }
  return out;
}

test('the import lines are read (a sanity check of the reader)', () => {
  const has = (from: string, to: string) => graph.edges.some((e) => e.from === from && e.to === to);
  assert.ok(has('agent/', 'protocol/'));
  assert.ok(has('app', 'rpc/'));
  assert.ok(has('fleet/', 'state/'));
  assert.ok(graph.externals.get('state/db.ts')?.includes('better-sqlite3'));
  assert.ok(
    graph.edges.some((e) => e.typeOnly),
    'type-only imports count too',
  );
});

test('no folder cycle; the agent bundles for Node 18; proxy and rpc apart; index is pure; the console, the operations and the API apart', () => {
  assert.deepEqual(violations(graph), []);
});

test('each rule catches the import it forbids', () => {
  const plus = (e: Omit<ImportEdge, 'typeOnly'>): ImportGraph => ({
    edges: [...graph.edges, { ...e, typeOnly: false }],
    externals: graph.externals,
  });
  const withExternal = (file: string, spec: string): ImportGraph => ({
    edges: graph.edges,
    externals: new Map([...graph.externals, [file, [spec]]]),
  });
  const found = (g: ImportGraph, pattern: RegExp) =>
    assert.ok(
      violations(g).some((v) => pattern.test(v)),
      `expected ${pattern}: ${violations(g).join('; ')}`,
    );
  found(plus({ from: 'state/', to: 'fleet/', file: 'state/x.ts' }), /^folder cycle: .*fleet\/.*state\//);
  found(plus({ from: 'index/', to: 'cli/', file: 'index/x.ts' }), /^folder cycle|index imports cli\//);
  found(plus({ from: 'agent/', to: 'state/', file: 'agent/x.ts' }), /^agent imports state\//);
  found(plus({ from: 'access/', to: 'fleet/', file: 'access/x.ts' }), /^access imports fleet\//);
  found(plus({ from: 'access/', to: 'api/', file: 'access/x.ts' }), /^access imports api\//);
  found(plus({ from: 'proxy/', to: 'rpc/', file: 'proxy/x.ts' }), /^proxy\/ imports rpc\//);
  found(plus({ from: 'log-human', to: 'cli/', file: 'log-human.ts' }), /^log-human imports cli\//);
  found(withExternal('index/x.ts', 'node:fs'), /^index does I\/O.*node:fs/);
  found(withExternal('agent/x.ts', 'undici'), /^agent uses undici/);
  found(plus({ from: 'console/', to: 'fleet/', file: 'console/x.ts' }), /^console\/ imports fleet\//);
  found(plus({ from: 'proxy/', to: 'console/', file: 'proxy/x.ts' }), /^proxy\/ imports console\//);
  found(withExternal('proxy/x.ts', '@fastify/static'), /^@fastify\/static is the console's library/);
  found(plus({ from: 'fleet/', to: 'ops/', file: 'fleet/x.ts' }), /^folder cycle|^fleet\/ imports ops\//);
  found(plus({ from: 'rpc/', to: 'api/', file: 'rpc/x.ts' }), /^rpc\/ imports api\//);
  found(plus({ from: 'gate/', to: 'advisories/', file: 'gate/x.ts' }), /^gate\/ imports advisories\//);
  found(plus({ from: 'fleet/', to: 'advisories/', file: 'fleet/x.ts' }), /^fleet\/ imports advisories\//);
  assert.ok(!violations(plus({ from: 'fleet/', to: 'advisories/', file: 'fleet/queries/x.ts' })).length);
  found(
    plus({ from: 'advisories/', to: 'fleet/', file: 'advisories/x.ts' }),
    /^folder cycle|^advisories imports fleet\//,
  );
  found(withExternal('api/routes.ts', '@fastify/cookie'), /^@fastify\/cookie is used in api\/routes.ts/);
});
