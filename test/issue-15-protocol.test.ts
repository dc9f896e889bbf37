// Issue 15: the wire contract in its own folder. src/protocol/ (wire types, faults, signing,
// identity proof, the XML-RPC codec) sits below both sides of the wire: the agent and the fleet
// import it, it imports neither; rpc/ is the server's transport, which only the application
// wires up; and no two folders of src/ import each other. Read from the sources' import lines.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

interface Import {
  /** the importing file, relative to src/ */
  from: string;
  /** the imported module, relative to src/ */
  to: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Every relative import (static, dynamic, re-export) of every source file. */
const imports: Import[] = sources(SRC).flatMap((file) => {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].map((m) => ({
    from: path.relative(SRC, file),
    to: path.relative(SRC, path.resolve(path.dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
  }));
});

/** The folder of src/ a path is in; '' for the files directly in src/. */
const folder = (p: string) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '');
const importsOf = (dir: string) => imports.filter((i) => folder(i.from) === dir);

describe('issue 15: src/protocol/ below both sides of the wire', () => {
  it('the import lines are read (a sanity check of this test)', () => {
    assert.ok(
      imports.some((i) => i.from === 'agent/client.ts' && i.to === 'protocol/signing.ts'),
      'agent/client.ts imports protocol/signing.ts',
    );
    assert.ok(imports.some((i) => i.from === 'app.ts' && i.to === 'rpc/routes.ts'));
  });

  it('protocol/ imports only errors.ts, index/ and sys/', () => {
    const out = importsOf('protocol').filter(
      (i) => folder(i.to) !== 'protocol' && i.to !== 'errors.ts' && folder(i.to) !== 'index' && folder(i.to) !== 'sys',
    );
    assert.deepEqual(out, []);
  });

  it('the agent imports nothing of the server: not rpc/, fleet/, gate/, proxy/, state/, nor the application', () => {
    const server = new Set(['rpc', 'fleet', 'gate', 'proxy', 'state']);
    const out = importsOf('agent').filter(
      (i) => server.has(folder(i.to)) || ['app.ts', 'app-gate.ts', 'main.ts', 'config.ts'].includes(i.to),
    );
    assert.deepEqual(out, []);
  });

  it('the fleet imports nothing of rpc/, and rpc/ is wired up by the application only', () => {
    assert.deepEqual(
      importsOf('fleet').filter((i) => folder(i.to) === 'rpc'),
      [],
    );
    const users = imports.filter((i) => folder(i.to) === 'rpc' && folder(i.from) !== 'rpc').map((i) => i.from);
    assert.deepEqual([...new Set(users)], ['app.ts']);
  });

  it('no two folders of src/ import each other', () => {
    const edges = new Set(
      imports
        .filter((i) => folder(i.from) && folder(i.to) && folder(i.from) !== folder(i.to))
        .map((i) => `${folder(i.from)} ${folder(i.to)}`),
    );
    const twoWay = [...edges].filter((e) => edges.has(e.split(' ').reverse().join(' ')));
    assert.deepEqual(twoWay, []);
  });
});
