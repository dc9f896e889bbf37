// Issue 13, second attack pass on the newer fixes (proxy storage, /RPC2, reports): each
// bypass found is reproduced here over real HTTP on 127.0.0.1.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeResponse } from '../src/protocol/codec.js';
import { ANONYMOUS_LIMITS } from '../src/protocol/limits.js';
import { faultCodes } from '../src/protocol/faults.js';
import { request } from './helpers/http.js';
import { HostileUpstream } from './helpers/hostile.js';
import { startServer, testConfig, type BackendSpec, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';
import type { Config } from '../src/config.js';

let world: World;
let hostile: HostileUpstream;
let backend: BackendSpec;
let n = 0;

before(async () => {
  world = await makeWorld();
  hostile = await HostileUpstream.start(world.repo.root);
  backend = { mirrors: [hostile.base], keyring: world.key.keyring };
});
afterEach(() => {
  hostile.clear();
  hostile.resetCounts();
});
after(async () => {
  await hostile.close();
  await world.close();
});

function server(tweak?: (c: Config) => void): Promise<TestServer> {
  return startServer(testConfig(path.join(world.dir, `srv-${++n}`), { fixture: backend }, tweak));
}

const cached = (s: TestServer, rel: string) => path.join(s.config.cacheDir, 'fixture', rel);

test('a by-hash path nested below a cached by-hash object neither deletes that object nor turns its name into a directory', async () => {
  const s = await server();
  try {
    const packages = world.gen1.files.get('main/binary-amd64/Packages.xz')!;
    const plain = world.gen1.files.get('main/binary-amd64/Packages.gz')!;
    const dir = 'dists/stable/main/binary-amd64/by-hash/SHA256';
    assert.equal((await request(s.port, '/fixture/dists/stable/InRelease')).status, 200);
    assert.equal((await request(s.port, '/fixture/dists/stable/main/binary-amd64/Packages.xz')).status, 200);
    await s.proxy.fills.drain();
    await s.proxy.indexer.idle();
    const victim = cached(s, `${dir}/${packages.sha256}`);
    assert.ok(statSync(victim).isFile());

    // the hash of another index of the suite: the mirror 404s the nested path, aptgate falls
    // back to that index's canonical name, and the verified bytes would be stored below the victim
    const nested = await request(s.port, `/fixture/${dir}/${packages.sha256}/by-hash/SHA256/${plain.sha256}`);
    await s.proxy.fills.drain();
    assert.ok(existsSync(victim) && statSync(victim).isFile(), 'the cached by-hash object is still a file');
    assert.notEqual(nested.headers['x-aptgate-result'], 'miss');

    // and a name not yet cached cannot be made a directory that the real object cannot replace
    const other = world.gen1.files.get('main/binary-amd64/Packages')!;
    await request(s.port, `/fixture/${dir}/${other.sha256}/by-hash/SHA256/${plain.sha256}`);
    await s.proxy.fills.drain();
    assert.equal(existsSync(cached(s, `${dir}/${other.sha256}`)), false);
    const hit = await request(s.port, `/fixture/${dir}/${packages.sha256}`);
    assert.equal(hit.status, 200);
    assert.equal(hit.headers['x-aptgate-result'], 'hit');
  } finally {
    await s.close();
  }
});

test('/RPC2 without a signature: unknown elements left open, then close tags that match none, stop at the nesting limit (sax searched its whole open-tag stack for every close tag)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i13-rt2-'));
  const s = await startServer(testConfig(path.join(dir, 'srv'), {}));
  try {
    const head = '<?xml version="1.0"?><methodCall><methodName>agent.hello</methodName><params><param><value><string>';
    const tail = '</string></value></param></params></methodCall>';
    const open = '<a>'.repeat(7000);
    const body =
      head +
      open +
      '</b>'.repeat(Math.floor((ANONYMOUS_LIMITS.bodyBytes - 600 - head.length - tail.length - open.length) / 4)) +
      tail;
    assert.ok(body.length < ANONYMOUS_LIMITS.bodyBytes);
    const r = await fetch(`${s.url}/RPC2`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
    assert.equal(r.status, 200);
    const fault = await decodeResponse(await r.text()).then(
      () => undefined,
      (e: Error & { faultCode?: number }) => e,
    );
    assert.ok(fault);
    assert.equal(fault.faultCode, faultCodes.INVALID_REQUEST);
    const m = /nested deeper than \d+ levels: decoding stopped at character (\d+) of (\d+)$/.exec(fault.message);
    assert.ok(m, fault.message);
    // stopped among the open tags, long before the close tags are read
    assert.ok(Number(m[1]) < head.length + open.length, fault.message);
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('/RPC2: bodies under signature headers of a machine nobody holds (signed body limit) cannot together hold more than a bounded amount of memory', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i13-rt2-'));
  // the deadline only ends the test's connections on a server that does not refuse them
  const s = await startServer(
    testConfig(path.join(dir, 'srv'), {}, (c) => {
      c.rpcBodyTimeoutMs = 5000;
    }),
  );
  const bogus = (n: number) =>
    [
      'x-aptgate-machine: 999999',
      `x-aptgate-timestamp: ${Date.now()}`,
      `x-aptgate-nonce: ${String(n).padStart(16, '0')}`,
      `x-aptgate-signature: ${'0'.repeat(64)}`,
    ].join('\r\n');
  const sockets: net.Socket[] = [];
  try {
    const announced = 8 * 1024 * 1024 - 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const sock = net.connect(s.port, '127.0.0.1');
        sockets.push(sock);
        sock.on('error', () => {});
        await once(sock, 'connect');
        let answer = '';
        sock.setEncoding('utf8');
        sock.on('data', (c: string) => {
          answer += c;
        });
        const closed = once(sock, 'close');
        sock.write(
          `POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: ${announced}\r\n${bogus(i)}\r\n\r\n`,
        );
        // 7 MiB of the announced 8: the body never completes
        for (let k = 0; k < 7 && !sock.destroyed; k++)
          if (!sock.write(chunk)) await Promise.race([once(sock, 'drain'), closed]);
        await closed;
        return answer;
      }),
    );
    const refused = answers.filter((a) => a.includes('too many large signed bodies'));
    assert.ok(
      refused.length >= 3,
      answers.map((a) => a.slice(a.indexOf('<?xml'), a.indexOf('<?xml') + 300)).join('\n'),
    );
    // the budget is given back: an ordinary body with such headers is judged by its signature
    const r = await fetch(`${s.url}/RPC2`, {
      method: 'POST',
      headers: {
        'content-type': 'text/xml',
        'x-aptgate-machine': '999999',
        'x-aptgate-timestamp': String(Date.now()),
        'x-aptgate-nonce': 'ab'.repeat(8),
        'x-aptgate-signature': '0'.repeat(64),
      },
      body: ' '.repeat(200_000),
    });
    const fault = await decodeResponse(await r.text()).then(
      () => undefined,
      (e: Error & { faultCode?: number }) => e,
    );
    assert.ok(fault && /signature not valid/.test(fault.message), fault?.message);
  } finally {
    for (const sock of sockets) sock.destroy();
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});
