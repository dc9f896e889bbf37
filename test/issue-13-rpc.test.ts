// Issue 13, /RPC2: the attacks of the hostile pass, over real HTTP against a real server on
// 127.0.0.1. Bodies built to freeze the decoder (hundreds of thousands of values, deep nesting,
// a huge system.multicall), signed and unsigned, are refused where a limit is crossed, and the
// server answers other clients meanwhile; a body that trickles in is cut off at its deadline;
// character references to no XML character are parse faults; and a man in the middle (a small
// HTTP proxy in front of the server) cannot answer a real agent in the server's name.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient, ServerFault as RpcError } from '../src/agent/client.js';
import { AgentState } from '../src/agent/identity.js';
import { decodeResponse, encodeCall } from '../src/protocol/codec.js';
import { ANONYMOUS_LIMITS, SIGNED_LIMITS } from '../src/protocol/limits.js';
import { faultCodes, PROTOCOL_VERSION } from '../src/protocol/faults.js';
import { RESPONSE_SIGNATURE_HEADER, responseSignatureMatches, signRequest } from '../src/protocol/signing.js';
import { createAgent } from './helpers/agent.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

const BODY_TIMEOUT_MS = 500;
const GIVE_UP_MS = 20_000;

interface Answer {
  text: string;
  signature: string | null;
  /** the fault, when the answer is one */
  fault?: { code: number; message: string };
}

async function rpc(server: TestServer, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(`${server.url}/RPC2`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml', ...headers },
    body,
  });
  assert.equal(r.status, 200);
  const text = await r.text();
  const fault = await decodeResponse(text).then(
    () => undefined,
    (e: Error & { faultCode?: number }) => ({ code: e.faultCode ?? NaN, message: e.message }),
  );
  return { text, signature: r.headers.get(RESPONSE_SIGNATURE_HEADER), ...(fault ? { fault } : {}) };
}

/**
 * POST /RPC2 over a plain socket: the headers (announcing all of `body`) and only the first
 * `sent` bytes of the body, then whatever the server answers until it closes the connection.
 * For a body refused by its Content-Length: no client library racing to write the rest.
 */
async function postHead(port: number, body: string, sent: number): Promise<Answer & { head: string }> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  let answer = '';
  sock.setEncoding('utf8');
  sock.on('data', (c: string) => {
    answer += c;
  });
  sock.on('error', () => {});
  const closed = once(sock, 'close');
  sock.write(
    `POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, sent)}`,
  );
  await closed;
  const text = answer.slice(answer.indexOf('<?xml'));
  const fault = await decodeResponse(text).then(
    () => undefined,
    (e: Error & { faultCode?: number }) => ({ code: e.faultCode ?? NaN, message: e.message }),
  );
  return { head: answer.slice(0, answer.indexOf('\r\n\r\n')), text, signature: null, ...(fault ? { fault } : {}) };
}

const call = (method: string, param: string) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params><param><value>${param}</value></param></params></methodCall>`;
const hello = (extra: string) =>
  `<struct><member><name>protocol</name><value><int>${PROTOCOL_VERSION}</int></value></member>${extra}</struct>`;

/** `n` values in arrays of 8 inside one array member: about 19 bytes a value. */
function manyValues(n: number): string {
  const inner = `<value><array><data>${'<value>1</value>'.repeat(8)}</data></array></value>`;
  return `<member><name>junk</name><value><array><data>${inner.repeat(Math.ceil(n / 9))}</data></array></value></member>`;
}

/** `n` empty values: 8 bytes each */
function emptyValues(n: number): string {
  return `<member><name>junk</name><value><array><data>${'<value/>'.repeat(n)}</data></array></value></member>`;
}

/** structs nested `n` deep */
function nestedStructs(n: number): string {
  return `<member><name>junk</name><value>${'<struct><member><name>a</name><value>'.repeat(n)}x${'</value></member></struct>'.repeat(n)}</value></member>`;
}

/** a system.multicall of `n` calls */
function multicall(n: number): string {
  const one =
    '<value><struct><member><name>methodName</name><value>system.listMethods</value></member></struct></value>';
  return call('system.multicall', `<array><data>${one.repeat(n)}</data></array>`);
}

/** Where the decoder stopped, from a limit fault's message. */
function stoppedAt(message: string): { at: number; of: number } {
  const m = /decoding stopped at character (\d+) of (\d+)$/.exec(message);
  assert.ok(m, message);
  return { at: Number(m[1]), of: Number(m[2]) };
}

const FACTS = (machineId: string) => ({
  hostname: `h-${machineId.slice(0, 6)}`,
  machineId,
  architecture: 'amd64',
  foreignArchitectures: [],
  distribution: 'debian',
  codename: 'bookworm',
  kernel: '6.1.0',
  agentVersion: 'test',
});

describe('issue 13: /RPC2 against hostile clients and a hostile network', () => {
  let dir: string;
  let server: TestServer;
  /** a machine enrolled over HTTP: the compromised one of the signed attacks */
  let machine: { machine: number; secret: string; machineId: string };
  let ts = Date.now();
  const signed = (body: string) => signRequest(machine.secret, String(machine.machine), ++ts, body);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i13-rpc-'));
    server = await startServer(testConfig(path.join(dir, 'srv'), {}));
    const machineId = 'ab'.repeat(16);
    const { token } = server.fleet.enrolment.createToken({ autoApprove: true });
    const r = await new RpcClient({ server: server.url, timeoutS: 30 }).call<{ machine: number; secret: string }>(
      'agent.enroll',
      [{ token, facts: FACTS(machineId) }],
    );
    machine = { machine: r.machine, secret: r.secret, machineId };
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('freeze bodies are refused where a limit is crossed, and other clients are answered meanwhile', async () => {
    const values = call('agent.hello', hello(manyValues(410_000)));
    const structs = call('agent.hello', hello(nestedStructs(100_000)));
    const multi = multicall(50_000);
    assert.ok(values.length > 7_000_000 && values.length < SIGNED_LIMITS.bodyBytes, `${values.length}`);
    const report = call('agent.report', hello(manyValues(410_000)));
    const attacks = Promise.all([
      // without a signature: the body limit refuses them at their headers, before anything is
      // read, and the connection is closed (the client is still sending)
      postHead(server.port, values, 100_000),
      postHead(server.port, structs, 100_000),
      postHead(server.port, multi, 100_000),
      // a machine that went bad signs them: the decoder stops at the limit (one after the
      // other, as its timestamps must arrive in order)
      (async () => [
        await rpc(server, report, signed(report)),
        await rpc(server, structs, signed(structs)),
        await rpc(server, multi, signed(multi)),
      ])(),
      // within the small limit of an unsigned request: the decoder stops at the limit there too
      rpc(server, call('agent.hello', hello(emptyValues(6000)))),
      rpc(server, call('agent.hello', hello(nestedStructs(800)))),
      rpc(server, multicall(500)),
    ]);
    // other clients, while the attacks are under way
    const [health, list] = await Promise.all([
      fetch(`${server.url}/-/health`),
      rpc(server, encodeCall('system.listMethods', [])),
    ]);
    assert.equal(health.status, 200);
    assert.equal(list.fault, undefined);
    assert.match(list.text, /<string>agent\.hello<\/string>/);

    const [uValues, uStructs, uMulti, [sValues, sStructs, sMulti], smallValues, smallStructs, smallMulti] =
      await attacks;
    for (const a of [uValues, uStructs, uMulti]) {
      assert.match(a.head, /^HTTP\/1\.1 200 .*\r\nconnection: close/is);
      assert.equal(a.fault?.code, faultCodes.INVALID_REQUEST, a.text.slice(0, 300));
      assert.match(a.fault!.message, new RegExp(`^request body larger than ${ANONYMOUS_LIMITS.bodyBytes} bytes`));
    }
    const expectStop = (a: Answer, what: RegExp, before: number) => {
      assert.equal(a.fault?.code, faultCodes.INVALID_REQUEST, a.text.slice(0, 300));
      assert.match(a.fault!.message, what);
      const { at, of } = stoppedAt(a.fault!.message);
      assert.ok(at < before && at < of, `stopped at ${at} of ${of}`);
    };
    expectStop(sValues, new RegExp(`^more than ${SIGNED_LIMITS.maxValues} values in one request`), 5_000_000);
    expectStop(sStructs, /^values nested deeper than 64 levels/, 5000);
    expectStop(sMulti, new RegExp(`^system.multicall with more than ${SIGNED_LIMITS.maxMulticall} calls`), 20_000);
    expectStop(smallValues, new RegExp(`^more than ${ANONYMOUS_LIMITS.maxValues} values in one request`), 35_000);
    expectStop(smallStructs, /^values nested deeper than 64 levels/, 5000);
    expectStop(
      smallMulti,
      new RegExp(`^system.multicall with more than ${ANONYMOUS_LIMITS.maxMulticall} calls`),
      20_000,
    );
    // the faults of a verified request are signed for it like any answer
    for (const a of [sValues, sStructs, sMulti]) assert.match(a.signature ?? '', /^[0-9a-f]{64}$/);
    for (const a of [uValues, smallValues]) assert.equal(a.signature, null);
  });

  it('the signature is checked before the body is decoded; an unsigned call of a signed method ends at its name', async () => {
    // parameters the decoder could not read (a reference to no character, nesting past the
    // limit) never are: the call is refused by its name
    for (const junk of [
      '<string>&#x110000;</string>',
      `${'<array><data><value>'.repeat(100)}x${'</value></data></array>'.repeat(100)}`,
    ]) {
      const r = await rpc(server, call('agent.report', junk));
      assert.equal(r.fault?.code, faultCodes.AUTH_FAILED, r.text.slice(0, 300));
      assert.match(r.fault!.message, /^agent\.report needs a signed request/);
    }
    const unknown = await rpc(server, call('agent.nosuch', '<string>&#x110000;</string>'));
    assert.equal(unknown.fault?.code, faultCodes.METHOD_NOT_FOUND);
    // a forged signature on a big body: refused before decoding, nothing signed in return
    const big = call('agent.report', hello(manyValues(300_000)));
    const forged = await rpc(server, big, signRequest('not-the-secret', String(machine.machine), ++ts, big));
    assert.equal(forged.fault?.code, faultCodes.AUTH_FAILED);
    assert.equal(forged.signature, null);
  });

  /**
   * Sends the headers of a POST /RPC2 with `length` announced and one byte of body, then a byte
   * every tenth of the deadline, until the server closes the connection: what it answered.
   */
  async function trickle(
    port: number,
    length: number,
    headers: Record<string, string> = {},
  ): Promise<{ head: string; fault: { code: number; message: string } }> {
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      answer += c;
    });
    sock.on('error', () => {}); // a drip may meet the closed socket
    const closed = once(sock, 'close');
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    sock.write(
      `POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: ${length}\r\n${extra}\r\n<`,
    );
    // the attack: a byte now and then, each well inside any idle timeout
    const drip = setInterval(() => {
      if (!sock.destroyed) sock.write('x');
    }, BODY_TIMEOUT_MS / 10);
    // not a wait for anything: the bound after which the server has plainly failed to hang up
    let giveUp: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      giveUp = setTimeout(() => reject(new Error(`the connection is still open after ${GIVE_UP_MS} ms`)), GIVE_UP_MS);
    });
    try {
      await Promise.race([closed, failed]);
    } finally {
      clearInterval(drip);
      clearTimeout(giveUp);
      sock.destroy();
    }
    const fault = await decodeResponse(answer.slice(answer.indexOf('<?xml'))).then(
      () => ({ code: NaN, message: 'no fault' }),
      (e: Error & { faultCode?: number }) => ({ code: e.faultCode ?? NaN, message: e.message }),
    );
    return { head: answer.slice(0, answer.indexOf('\r\n\r\n')), fault };
  }

  it(
    'a body that trickles in is cut off at the deadline, however often a byte arrives',
    { timeout: 60_000 },
    async (t) => {
      // a server of its own with a short deadline (server.rpc_body_timeout)
      const quick = await startServer(
        testConfig(path.join(dir, 'quick'), {}, (c) => {
          c.rpcBodyTimeoutMs = BODY_TIMEOUT_MS;
        }),
      );
      t.after(() => quick.close());
      // within the limits: with (well-formed, if bogus) signature headers 8 MiB, without 64 KiB
      const bogus = {
        'x-aptgate-machine': String(machine.machine),
        'x-aptgate-timestamp': String(++ts),
        'x-aptgate-nonce': 'ab'.repeat(12),
        'x-aptgate-signature': 'cd'.repeat(32),
      };
      for (const [length, headers] of [
        [1_000_000, bogus],
        [60_000, {}],
      ] as const) {
        const r = await trickle(quick.port, length, headers);
        assert.match(r.head, /^HTTP\/1\.1 200 /);
        assert.match(r.head, /\r\nconnection: close/i);
        assert.deepEqual(
          r.fault,
          { code: faultCodes.INVALID_REQUEST, message: 'request body not complete within 0.5 s' },
          `${length}`,
        );
      }
      // more than an unsigned request may send is refused at the headers
      const big = await trickle(quick.port, 1_000_000);
      assert.deepEqual(big.fault, {
        code: faultCodes.INVALID_REQUEST,
        message: `request body larger than ${ANONYMOUS_LIMITS.bodyBytes} bytes (the limit of a request without signature headers)`,
      });
      assert.equal((await fetch(`${quick.url}/-/health`)).status, 200);
    },
  );

  it('character references to no XML character are parse faults', async () => {
    for (const ref of ['&#x110000;', '&#1114112;', '&#0;', '&#xD800;', '&#xdfff;', '&#1;', '&#xFFFE;']) {
      const r = await rpc(
        server,
        call('agent.hello', hello(`<member><name>agent</name><value><string>a${ref}b</string></value></member>`)),
      );
      assert.equal(r.fault?.code, faultCodes.PARSE_ERROR, `${ref}: ${r.text.slice(0, 300)}`);
      assert.match(
        r.fault!.message,
        new RegExp(`^character reference "${ref}" at character \\d+ names no character XML allows$`),
      );
    }
    // the same through the general decoder (a comment takes the body off the strict one)
    const r = await rpc(
      server,
      call(
        'agent.hello',
        `<!-- x -->${hello('<member><name>agent</name><value><string>&#x110000;</string></value></member>')}`,
      ),
    );
    assert.equal(r.fault?.code, faultCodes.PARSE_ERROR, r.text.slice(0, 300));
    // what XML allows still arrives
    const ok = await rpc(
      server,
      call(
        'agent.hello',
        hello('<member><name>agent</name><value><string>&#x10FFFF;&#9;&#xE9;</string></value></member>'),
      ),
    );
    assert.equal(ok.fault, undefined, ok.text.slice(0, 300));
  });

  it("answers to signed calls are signed for that call: faults too, and an unknown machine's are not", async () => {
    const body = encodeCall('agent.hello', [{ protocol: PROTOCOL_VERSION }]);
    const h = signed(body);
    const r = await fetch(`${server.url}/RPC2`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml', ...h },
      body,
    });
    const bytes = Buffer.from(await r.arrayBuffer());
    const sig = r.headers.get(RESPONSE_SIGNATURE_HEADER);
    assert.ok(responseSignatureMatches(machine.secret, String(machine.machine), h['x-aptgate-nonce']!, bytes, sig));
    assert.ok(
      !responseSignatureMatches(machine.secret, String(machine.machine), 'ab'.repeat(12), bytes, sig),
      'bound to the nonce',
    );
    assert.equal((await rpc(server, body)).signature, null, 'an unsigned call gets an unsigned answer');
    // a replayed request is the machine's own: its fault is signed
    const replay = await rpc(server, body, h);
    assert.equal(replay.fault?.code, faultCodes.REPLAY_REFUSED);
    assert.ok(
      responseSignatureMatches(
        machine.secret,
        String(machine.machine),
        h['x-aptgate-nonce']!,
        Buffer.from(replay.text),
        replay.signature,
      ),
    );
    // the agent's client takes a signed fault as the server's word
    const state = new AgentState(path.join(dir, 'client-state'));
    state.ensureDir();
    state.saveTimestamp(++ts);
    const client = new RpcClient(
      { server: server.url, timeoutS: 30 },
      { identity: { server: server.url, ...machine }, state },
    );
    await assert.rejects(
      client.call('agent.jobStarted', [{ machineId: machine.machineId, id: 999_999 }]),
      (e: RpcError) => e instanceof RpcError && e.faultCode === faultCodes.JOB_UNKNOWN && e.signed,
    );
    // a machine the server does not know cannot get a signed answer: fault 2 stays unsigned
    const stranger = new RpcClient(
      { server: server.url, timeoutS: 30 },
      {
        identity: { server: server.url, machine: 999_999, secret: 'ff'.repeat(32), machineId: 'cd'.repeat(16) },
        state,
      },
    );
    await assert.rejects(
      stranger.call('agent.hello', [{ protocol: PROTOCOL_VERSION }]),
      (e: RpcError) => e instanceof RpcError && e.faultCode === faultCodes.AUTH_FAILED && !e.signed,
    );
  });

  describe('a man in the middle between a real agent and the server', () => {
    type Mode = 'pass' | 'strip' | 'forge-job' | 'swap-secret';
    let mode: Mode = 'pass';
    let mitm: http.Server;
    let mitmUrl: string;
    const seen: string[] = [];

    before(async () => {
      // forwards /RPC2 to aptgate and hands the answer back, changed as `mode` says
      mitm = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const method = /<methodName>([^<]*)<\/methodName>/.exec(body)?.[1] ?? '';
          seen.push(method);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(req.headers))
            if (typeof v === 'string' && (k === 'content-type' || k.startsWith('x-aptgate-'))) headers[k] = v;
          fetch(`${server.url}/RPC2`, { method: 'POST', headers, body }).then(
            async (up) => {
              let text = await up.text();
              const out: Record<string, string> = { 'content-type': up.headers.get('content-type') ?? 'text/xml' };
              const sig = up.headers.get(RESPONSE_SIGNATURE_HEADER);
              if (sig && mode !== 'strip') out[RESPONSE_SIGNATURE_HEADER] = sig;
              if (mode === 'forge-job' && method === 'agent.fetchJob') {
                const id = /<name>id<\/name><value><int>(\d+)<\/int>/.exec(text)?.[1] ?? '1';
                text = text
                  .replace(
                    /<name>kind<\/name><value><string>[a-z-]+<\/string>/,
                    '<name>kind</name><value><string>add-source</string>',
                  )
                  .replace(
                    /<name>params<\/name><value><struct\/?>(<\/struct>)?/,
                    `<name>params</name><value><struct><member><name>name</name><value><string>evil</string></value></member><member><name>content</name><value><string>Types: deb\nURIs: http://evil.invalid/debian\nSuites: bookworm\nComponents: main\nTrusted: yes\n</string></value></member></struct>`,
                  );
                assert.match(text, new RegExp(`<int>${id}</int>`));
              }
              if (mode === 'swap-secret' && method === 'agent.enroll')
                text = text.replace(/(<name>secret<\/name><value><string>)[A-Za-z0-9_-]+/, `$1${'A'.repeat(43)}`);
              res.writeHead(up.status, out).end(text);
            },
            (err: Error) => res.writeHead(502).end(err.message),
          );
        });
      });
      mitm.listen(0, '127.0.0.1');
      await once(mitm, 'listening');
      mitmUrl = `http://127.0.0.1:${(mitm.address() as net.AddressInfo).port}`;
    });
    after(async () => {
      mitm.closeAllConnections();
      await new Promise((r) => mitm.close(r));
    });

    it('the real agent works through it unchanged, and refuses answers it stripped or changed', async () => {
      const agent = await createAgent(path.join(dir, 'agent'), mitmUrl);
      mode = 'pass';
      await agent.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
      const id = agent.state.identity()!;
      assert.equal(
        JSON.parse(await agent.runOk(['run-once', '--json'])).status,
        'approved',
        'through the proxy, nothing changed',
      );
      assert.ok(seen.includes('agent.checkIn'), 'the calls went through the proxy');

      mode = 'strip';
      const stripped = await agent.run(['run-once']);
      assert.notEqual(stripped.code, 0);
      assert.match(
        stripped.stderr,
        /AGENT_UNTRUSTED_ANSWER: .*the answer to agent\.hello carries no server signature: refused/,
      );

      // a job waits; the proxy hands the agent another one under the real answer's signature
      const [jobId] = server.fleet.jobs.create([id.machine], { kind: 'update', origin: 'test' });
      mode = 'forge-job';
      const forged = await agent.run(['run-once']);
      assert.notEqual(forged.code, 0);
      assert.match(
        forged.stderr,
        /AGENT_UNTRUSTED_ANSWER: .*the answer to agent\.fetchJob does not match its server signature: refused/,
      );
      assert.equal(
        existsSync(path.join(agent.root.root, 'etc/apt/sources.list.d/evil.sources')),
        false,
        'the forged job did not run',
      );
      assert.notEqual(server.fleet.jobs.byId(jobId!)!.state, 'running', 'nor did the real one start');
      server.fleet.jobs.cancel(jobId!);
    });

    it('an enrolment answer changed in the path is noticed at once by the first signed call', async () => {
      const agent = await createAgent(path.join(dir, 'agent-swap'), mitmUrl);
      mode = 'swap-secret';
      const r = await agent.run(['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true }).token]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /enrolment not confirmed/);
      assert.equal(agent.state.identity(), undefined, 'no identity kept');
    });
  });
});
