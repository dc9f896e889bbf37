// Issue 4 (first part): the XML-RPC endpoint at /RPC2 — introspection, the protocol handshake,
// and faults for everything a client can get wrong, with the service still serving afterwards;
// Python's xmlrpc.client as an independent client.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { faultCodes, PROTOCOL_VERSION } from '../src/protocol/faults.js';
import { exec } from './helpers/exec.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

async function post(
  server: TestServer,
  body: string | Buffer,
  type = 'text/xml',
): Promise<{ status: number; text: string }> {
  const r = await fetch(`${server.url}/RPC2`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: r.status, text: await r.text() };
}

const call = (method: string, params = '') =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`;
const p = (v: string) => `<param><value>${v}</value></param>`;

function faultCode(text: string): number | undefined {
  const m = /<name>faultCode<\/name>\s*<value>\s*<int>(-?\d+)<\/int>/.exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('issue 4: XML-RPC at /RPC2', () => {
  let dir: string;
  let server: TestServer;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-rpc-'));
    server = await startServer(testConfig(dir, {}));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('introspection and the handshake answer as the convention says', async () => {
    const list = await post(server, call('system.listMethods'));
    assert.equal(list.status, 200);
    for (const m of [
      'system.listMethods',
      'system.methodHelp',
      'system.methodSignature',
      'system.multicall',
      'agent.hello',
    ])
      assert.match(list.text, new RegExp(`<string>${m.replace('.', '\\.')}</string>`));
    const sig = await post(server, call('system.methodSignature', p('<string>agent.hello</string>')));
    assert.match(
      sig.text,
      /<array><data><value><array><data><value><string>struct<\/string><\/value><value><string>struct<\/string><\/value><\/data><\/array><\/value><\/data><\/array>/,
    );
    const hello = await post(
      server,
      call(
        'agent.hello',
        p(
          `<struct><member><name>protocol</name><value><int>${PROTOCOL_VERSION}</int></value></member><member><name>agent</name><value><string>test</string></value></member></struct>`,
        ),
      ),
    );
    assert.match(hello.text, /<name>protocol<\/name><value><int>1<\/int>/);
    const old = await post(
      server,
      call('agent.hello', p('<struct><member><name>protocol</name><value><int>0</int></value></member></struct>')),
    );
    assert.equal(faultCode(old.text), faultCodes.PROTOCOL_VERSION);
    const multi = await post(
      server,
      call(
        'system.multicall',
        p(`<array><data>
      <value><struct><member><name>methodName</name><value><string>system.methodHelp</string></value></member><member><name>params</name><value><array><data><value><string>agent.hello</string></value></data></array></value></member></struct></value>
      <value><struct><member><name>methodName</name><value><string>system.multicall</string></value></member><member><name>params</name><value><array><data></data></array></value></member></struct></value>
      <value><struct><member><name>methodName</name><value><string>no.such</string></value></member></struct></value>
    </data></array>`),
      ),
    );
    assert.match(multi.text, /Protocol handshake/);
    assert.match(multi.text, new RegExp(`<int>${faultCodes.INVALID_REQUEST}</int>`));
    assert.match(multi.text, new RegExp(`<int>${faultCodes.METHOD_NOT_FOUND}</int>`));
  });

  it('bad input gets a fault (HTTP 200), and the service keeps serving', async () => {
    const cases: Array<[string, string | Buffer, number]> = [
      ['malformed XML', '<methodCall><methodName>system.listMethods</methodName><params>', faultCodes.INVALID_REQUEST],
      ['not XML at all', 'hello', faultCodes.INVALID_REQUEST],
      ['unknown method', call('system.rm'), faultCodes.METHOD_NOT_FOUND],
      ['a prototype name as method', call('__proto__'), faultCodes.METHOD_NOT_FOUND],
      ['wrong type', call('system.methodHelp', p('<int>3</int>')), faultCodes.INVALID_PARAMS],
      ['too many parameters', call('system.listMethods', p('<string>x</string>')), faultCodes.INVALID_PARAMS],
      [
        '__proto__ member',
        call(
          'agent.hello',
          p(
            '<struct><member><name>__proto__</name><value><struct><member><name>protocol</name><value><int>1</int></value></member></struct></value></member></struct>',
          ),
        ),
        faultCodes.INVALID_PARAMS,
      ],
      [
        'constructor member',
        call(
          'agent.hello',
          p(
            '<struct><member><name>constructor</name><value><int>1</int></value></member><member><name>protocol</name><value><int>1</int></value></member></struct>',
          ),
        ),
        faultCodes.INVALID_PARAMS,
      ],
      [
        'an int beyond 32 bits',
        call(
          'agent.hello',
          p('<struct><member><name>protocol</name><value><i8>9007199254740993</i8></value></member></struct>'),
        ),
        faultCodes.INVALID_PARAMS,
      ],
      ['a boolean that is not 0/1', call('agent.hello', p('<boolean>true</boolean>')), faultCodes.INVALID_REQUEST],
      ['oversized body', Buffer.alloc(9 * 1024 * 1024, 0x20), faultCodes.INVALID_REQUEST],
    ];
    for (const [what, body, code] of cases) {
      const r = await post(server, body);
      assert.equal(r.status, 200, what);
      assert.equal(faultCode(r.text), code, `${what}: ${r.text.slice(0, 300)}`);
    }
    // DTD entities are never expanded: the "billion laughs" text arrives as a literal string
    const lol = `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>${call('system.methodHelp', p('<string>&b;</string>'))}`;
    const r = await post(server, lol);
    assert.equal(faultCode(r.text), faultCodes.METHOD_NOT_FOUND);
    assert.doesNotMatch(r.text, /aaaaaaaaaa/);
    const again = await post(server, call('system.listMethods'));
    assert.match(again.text, /<string>agent\.hello<\/string>/);
    // the proxy's own routes are untouched by the RPC endpoint
    assert.equal((await fetch(`${server.url}/-/health`)).status, 200);
  });

  it("Python's xmlrpc.client calls the public system.* methods and the handshake", async () => {
    const script = [
      'import sys, xmlrpc.client as x',
      's = x.ServerProxy(sys.argv[1])',
      'print(",".join(s.system.listMethods()))',
      'print(s.system.methodSignature("system.methodHelp"))',
      'print(s.agent.hello({"protocol": 1, "agent": "python"})["server"])',
      'try:\n    s.agent.hello({"protocol": 99})\nexcept x.Fault as f:\n    print("fault", f.faultCode)',
    ].join('\n');
    const r = await exec('python3', ['-c', script, `${server.url}/RPC2`], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr.toString());
    const lines = r.stdout.toString().trim().split('\n');
    assert.ok(lines[0]!.split(',').includes('system.multicall'));
    assert.equal(lines[1], "[['string', 'string']]");
    assert.match(lines[2]!, /^aptgate /);
    assert.equal(lines[3], `fault ${faultCodes.PROTOCOL_VERSION}`);
  });
});
