import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseDuration, parseSize, DEBIAN_KEYRING } from '../src/config.js';
import { AptgateError } from '../src/errors.js';

const dirs: string[] = [];
/** A scratch directory removed when the file's tests end. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aptgate-config-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function keyOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AptgateError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.details?.key;
  }
  assert.fail('expected CONFIG_INVALID');
}

test('embedded defaults work with no configuration at all', () => {
  const c = loadConfig({ env: {}, checkout: '/src/aptgate' });
  assert.equal(c.port, 3142);
  // a checkout keeps all its state in its own (ignored) state/; an installation in /var/lib/aptgate
  assert.equal(c.stateDir, '/src/aptgate/state');
  assert.equal(c.cacheDir, '/src/aptgate/state/cache');
  assert.equal(c.db, '/src/aptgate/state/aptgate.db');
  const installed = loadConfig({ env: {}, checkout: undefined });
  assert.equal(installed.db, '/var/lib/aptgate/aptgate.db');
  assert.equal(installed.cacheDir, '/var/lib/aptgate/cache');
  // explicit paths win over the state directory; state_dir moves both defaults
  assert.equal(
    loadConfig({ env: {}, checkout: undefined, overrides: { stateDir: '/srv/ag' } }).cacheDir,
    '/srv/ag/cache',
  );
  assert.equal(
    loadConfig({ env: {}, checkout: undefined, overrides: { stateDir: '/srv/ag', db: '/db/x.db' } }).db,
    '/db/x.db',
  );
  assert.deepEqual(c.backends.get('debian')!.mirrors, ['http://deb.debian.org/debian']);
  assert.deepEqual(c.backends.get('debian-security')!.mirrors, ['http://deb.debian.org/debian-security']);
  assert.deepEqual(c.backends.get('debian')!.keyrings, [DEBIAN_KEYRING]);
});

test('file, then environment, then options; durations and sizes', () => {
  const dir = tempDir();
  const file = join(dir, 'aptgate.conf');
  writeFileSync(
    file,
    `# comment
[server]
port = 4000          # inline comment
cache_dir = /var/cache/x

[proxy]
release_ttl = 2m

[cache]
max_size = 50G

[backend ubuntu]
mirrors = http://archive.ubuntu.com/ubuntu, https://mirror.example.org/ubuntu/
keyring = /usr/share/keyrings/ubuntu-archive-keyring.gpg
`,
  );
  const c = loadConfig({
    file,
    env: { APTGATE_SERVER_PORT: '5000', APTGATE_BACKEND_DEBIAN_SECURITY_MIRRORS: 'http://m.example/debian-security' },
    overrides: { cacheDir: '/tmp/c', backends: ['debian=http://a.example/debian,http://b.example/debian'] },
  });
  assert.equal(c.port, 5000);
  assert.equal(c.cacheDir, '/tmp/c');
  assert.equal(c.proxy.releaseTtlMs, 120_000);
  assert.equal(c.cache.maxBytes, 50 * 1024 ** 3);
  assert.deepEqual(c.backends.get('ubuntu')!.mirrors, [
    'http://archive.ubuntu.com/ubuntu',
    'https://mirror.example.org/ubuntu',
  ]);
  assert.deepEqual(c.backends.get('debian')!.mirrors, ['http://a.example/debian', 'http://b.example/debian']);
  assert.deepEqual(c.backends.get('debian-security')!.mirrors, ['http://m.example/debian-security']);
  assert.equal(parseDuration('k', '6h'), 6 * 3_600_000);
  assert.equal(parseSize('k', '512M'), 512 * 1024 ** 2);
});

test('invalid settings fail at start with an error naming the key', () => {
  assert.equal(
    keyOf(() => loadConfig({ env: { APTGATE_PROXY_RELEASE_TTL: 'soon' } })),
    'proxy.release_ttl',
  );
  assert.equal(
    keyOf(() => loadConfig({ env: { APTGATE_SERVER_PORT: '70000' } })),
    'server.port',
  );
  assert.equal(
    keyOf(() => loadConfig({ env: {}, overrides: { backends: ['debian=ftp://x/debian'] } })),
    'backend.debian.mirrors',
  );
  assert.equal(
    keyOf(() => loadConfig({ env: {}, overrides: { backends: ['Bad Name=http://x/'] } })),
    'backend.Bad Name.mirrors',
  );
  assert.equal(
    keyOf(() => loadConfig({ env: {}, overrides: { backends: ['stage=http://x/'] } })),
    'backend.stage.mirrors',
  );
  assert.equal(
    keyOf(() => loadConfig({ env: { APTGATE_PROXY_NO_SUCH: '1' } })),
    'proxy.no_such',
  );
  // the agent's and the harnesses' variables are not server settings
  assert.doesNotThrow(() =>
    loadConfig({
      env: { APTGATE_TEST_AGENT_NODE: '/usr/bin/node', APTGATE_AGENT_CONFIG: '/etc/x.conf', APTGATE_BENCH_KEEP: '1' },
    }),
  );
  const dir = tempDir();
  const file = join(dir, 'bad.conf');
  writeFileSync(file, '[proxy]\nrelease_tll = 30s\n');
  assert.equal(
    keyOf(() => loadConfig({ file, env: {} })),
    'proxy.release_tll',
  );
});

test('the shipped config/aptgate.conf parses, and uncommented it states the built-in defaults', async () => {
  const { readFileSync } = await import('node:fs');
  const { defaultConfig, parseConfigText, nativeArchitecture } = await import('../src/config.js');
  const shipped = readFileSync(new URL('../../config/aptgate.conf', import.meta.url), 'utf8');
  const asIs = loadConfig({ file: fileURLToPathSafe(new URL('../../config/aptgate.conf', import.meta.url)), env: {} });
  assert.deepEqual(asIs, loadConfig({ env: {} }));
  // uncomment every "#key = value" line (not the example ubuntu section) and compare
  const uncommented = shipped
    .slice(0, shipped.indexOf('# An Ubuntu backend'))
    .split('\n')
    .map((l) => (/^#[a-z_]+ = /.test(l) ? l.slice(1) : l))
    .join('\n')
    .replace(`track_architectures = amd64`, `track_architectures = ${nativeArchitecture()}`);
  const c = defaultConfig();
  parseConfigText(c, uncommented, 'uncommented');
  assert.deepEqual(c, defaultConfig());
  // the state paths are settled by loadConfig: under the checkout's state/ here
  assert.equal(asIs.db, join(asIs.stateDir, 'aptgate.db'));
  assert.equal(asIs.cacheDir, join(asIs.stateDir, 'cache'));
});

function fileURLToPathSafe(u: URL): string {
  return decodeURIComponent(u.pathname);
}
