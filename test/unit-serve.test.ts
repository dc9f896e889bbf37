import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from '../src/proxy/serve.js';
import { classify } from '../src/proxy/paths.js';

test('single byte ranges, suffix ranges, unsatisfiable ranges', () => {
  assert.deepEqual(parseRange('bytes=10-', 100), { start: 10, end: 99 });
  assert.deepEqual(parseRange('bytes=10-19', 100), { start: 10, end: 19 });
  assert.deepEqual(parseRange('bytes=90-200', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-5', 100), { start: 95, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=20-10', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(parseRange('items=1-2', 100), undefined);
});

test('paths are classified by how they stay fresh', () => {
  assert.deepEqual(classify('dists/bookworm/InRelease'), { kind: 'root', suite: 'bookworm', file: 'InRelease' });
  assert.deepEqual(classify('dists/bookworm/Release.gpg'), { kind: 'root', suite: 'bookworm', file: 'Release.gpg' });
  assert.deepEqual(classify('dists/bookworm/main/binary-amd64/Packages.xz'), {
    kind: 'index',
    suite: 'bookworm',
    rel: 'main/binary-amd64/Packages.xz',
  });
  const h = 'A'.repeat(64);
  assert.deepEqual(classify(`dists/bookworm/main/binary-amd64/by-hash/SHA256/${h}`), {
    kind: 'byhash',
    suite: 'bookworm',
    rel: `main/binary-amd64/by-hash/SHA256/${h}`,
    algo: 'sha256',
    hex: h.toLowerCase(),
  });
  assert.equal(classify('dists/bookworm/main/binary-amd64/by-hash/SHA256/abc').kind, 'other');
  assert.equal(
    classify('dists/bookworm-updates/main/binary-amd64/Packages.diff/T-2026-11-20-0211.10-F-2026-11-19-2011.02.gz')
      .kind,
    'immutable',
  );
  assert.equal(classify('pool/main/h/hello/hello_2.10-3_amd64.deb').kind, 'immutable');
  assert.equal(classify('project/trace/master').kind, 'other');
});
