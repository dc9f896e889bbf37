import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig, applySetting } from '../src/config.js';
import { BackendMap, resolveTarget, decodePath } from '../src/proxy/target.js';
import { isAptgateError } from '../src/errors.js';

function backends() {
  const c = defaultConfig();
  applySetting(c, 'backend.ubuntu.mirrors', 'https://archive.ubuntu.com/ubuntu http://mirror.example.org:8080/ubuntu');
  return new BackendMap(c);
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isAptgateError(err) ? err.code : 'NOT_APTGATE';
  }
}

test('proxy mode: absolute-form URLs map to the backend whose mirror they fall under', () => {
  const b = backends();
  const t = resolveTarget('http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-3_amd64.deb', b);
  assert.equal(t.backend.name, 'debian');
  assert.equal(t.mode, 'proxy');
  assert.equal(t.path, 'pool/main/h/hello/hello_2.10-3_amd64.deb');
  // the longest mirror prefix wins on a segment boundary
  assert.equal(
    resolveTarget('http://deb.debian.org/debian-security/dists/bookworm-security/InRelease', b).backend.name,
    'debian-security',
  );
  // aliases and https mirrors requested over http, explicit default port, host case
  assert.equal(
    resolveTarget('http://security.debian.org/debian-security/dists/x/InRelease', b).backend.name,
    'debian-security',
  );
  assert.equal(resolveTarget('http://ARCHIVE.ubuntu.com:80/ubuntu/dists/noble/InRelease', b).backend.name, 'ubuntu');
  assert.equal(resolveTarget('http://mirror.example.org:8080/ubuntu/pool/a.deb', b).backend.name, 'ubuntu');
});

test('remap mode and host-prefixed paths name the backend in the first segment', () => {
  const b = backends();
  const t = resolveTarget('/debian/dists/bookworm/InRelease', b);
  assert.deepEqual([t.backend.name, t.path, t.mode], ['debian', 'dists/bookworm/InRelease', 'remap']);
  const h = resolveTarget('/deb.debian.org/debian/dists/bookworm/InRelease', b);
  assert.deepEqual([h.backend.name, h.path], ['debian', 'dists/bookworm/InRelease']);
});

test('%2b and + are one cache key, whichever mode asked', () => {
  const b = backends();
  const a = resolveTarget('http://deb.debian.org/debian/pool/main/c/cowsay/cowsay_3.03%2bdfsg2-8_all.deb', b);
  const c = resolveTarget('/debian/pool/main/c/cowsay/cowsay_3.03+dfsg2-8_all.deb', b);
  const d = resolveTarget('http://ftp.debian.org/debian/pool/main/c/cowsay/cowsay_3.03%2Bdfsg2-8_all.deb', b);
  assert.equal(a.key, 'debian/pool/main/c/cowsay/cowsay_3.03+dfsg2-8_all.deb');
  assert.equal(c.key, a.key);
  assert.equal(d.key, a.key);
  // epochs and tildes survive decoding
  assert.equal(decodePath('pool/f/fortune-mod_1%3a1.99~rc1_amd64.deb'), 'pool/f/fortune-mod_1:1.99~rc1_amd64.deb');
});

test('hosts and first segments outside the backends are refused with NOT_A_BACKEND', () => {
  const b = backends();
  assert.equal(
    code(() => resolveTarget('http://evil.example.com/debian/pool/x.deb', b)),
    'NOT_A_BACKEND',
  );
  assert.equal(
    code(() => resolveTarget('http://deb.debian.org/other/x', b)),
    'NOT_A_BACKEND',
  );
  assert.equal(
    code(() => resolveTarget('/nosuchbackend/dists/x/InRelease', b)),
    'NOT_A_BACKEND',
  );
  assert.equal(
    code(() => resolveTarget('/evil.example.com/debian/x', b)),
    'NOT_A_BACKEND',
  );
  // prefix must end on a segment boundary: /debianx is not /debian
  assert.equal(
    code(() => resolveTarget('http://deb.debian.org/debianx/pool/a.deb', b)),
    'NOT_A_BACKEND',
  );
});

test('path traversal in any form is a BAD_PATH', () => {
  const b = backends();
  const bad = [
    '/debian/../etc/passwd',
    '/debian/pool/../../etc/passwd',
    '/debian/%2e%2e/%2e%2e/etc/passwd',
    '/debian/pool/%2E%2E/x',
    '/debian/pool%2f..%2f..%2fetc/passwd',
    '/debian/pool/..%5c..%5cetc',
    '/debian//etc/passwd',
    '/debian/pool/./x.deb',
    '/debian/pool/x%00.deb',
    '/debian/pool/%zz.deb',
    '/debian/pool/a\\..\\b',
    'http://deb.debian.org/debian/../../etc/passwd',
    'http://deb.debian.org/../etc/passwd',
    'http://deb.debian.org/debian/%2e%2e/x',
    '/../debian/x',
    '/%2e%2e/etc/passwd',
    'etc/passwd',
  ];
  for (const u of bad)
    assert.equal(
      code(() => resolveTarget(u, b)),
      'BAD_PATH',
      u,
    );
});
