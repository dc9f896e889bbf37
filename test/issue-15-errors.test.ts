// Issue 15: one error family. Every code declared in src/errors.ts has a mapping on every edge
// — an HTTP status, an /RPC2 fault (its own, another named, or INTERNAL_ERROR with a reason), an
// exit status for both command lines — and a row in docs/errors.md saying the same; the fault
// numbers are the ones docs/rpc.md documents. Then through a real /RPC2 route and the agent's
// own client: every code arrives as its documented fault, internal ones without their message,
// and the agent gets back the code the fault stands for.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { RpcClient, ServerFault } from '../src/agent/client.js';
import { errorLine, exitKinds, exitStatusOf, exitStatuses } from '../src/term/exit-status.js';
import { AptgateError, errorCodes, type ErrorCode } from '../src/errors.js';
import { errorCodeOfFault, faultCodes, faultErrors, faultOf, type FaultName } from '../src/protocol/faults.js';
import { faultAnswer, faultFor, internalReason } from '../src/rpc/faults.js';
import { MethodTable } from '../src/rpc/methods.js';
import { registerRpcRoutes } from '../src/rpc/routes.js';

const codes = Object.keys(errorCodes) as ErrorCode[];
const faultNames = Object.keys(faultCodes) as FaultName[];
const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

interface DocRow {
  http: number;
  fault: number;
  internal: boolean;
  aptgate: number;
  agent: number;
  meaning: string;
}

/** The rows of docs/errors.md's table, by code; a row of another shape fails. */
function documented(): Map<string, DocRow> {
  const rows = new Map<string, DocRow>();
  for (const line of doc('errors.md').split('\n')) {
    if (!line.startsWith('| `')) continue;
    const m = /^\| `([A-Z_]+)` \| (\d{3}) \| (-?\d+)( \(internal\))? \| (\d) \| (\d) \| (.*\S) \|$/.exec(line);
    assert.ok(
      m,
      `docs/errors.md: a row not of the form | \`CODE\` | HTTP | fault | aptgate | aptgate-agent | meaning |: ${line}`,
    );
    assert.ok(!rows.has(m[1]!), `docs/errors.md: ${m[1]} twice`);
    rows.set(m[1]!, {
      http: Number(m[2]),
      fault: Number(m[3]),
      internal: m[4] !== undefined,
      aptgate: Number(m[5]),
      agent: Number(m[6]),
      meaning: m[7]!,
    });
  }
  return rows;
}

/** The fault a code gets on /RPC2, as docs/errors.md writes it. */
function expectedFault(code: ErrorCode): { fault: number; internal: boolean } {
  const f = faultFor(code);
  return { fault: faultCodes[f], internal: f === 'INTERNAL_ERROR' };
}

describe('issue 15: every error code on every edge', () => {
  it('each code has an HTTP status, an /RPC2 fault (or INTERNAL_ERROR with a reason) and an exit status from both programs', () => {
    for (const code of codes) {
      const status = errorCodes[code];
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: HTTP ${status}`);
      const f = faultFor(code);
      assert.ok(f in faultCodes, `${code}: fault ${f}`);
      // INTERNAL_ERROR by the table says why; a code whose own fault it is needs no reason
      if (f === 'INTERNAL_ERROR' && faultOf(code) !== 'INTERNAL_ERROR')
        assert.ok((internalReason(code) ?? '').length >= 20, `${code}: no reason for INTERNAL_ERROR`);
      else assert.equal(internalReason(code), undefined, code);
      assert.ok(exitKinds[code] === 'usage' || exitKinds[code] === 'failure', `${code}: exit kind ${exitKinds[code]}`);
      for (const program of ['aptgate', 'aptgate-agent'] as const) {
        const exit = exitStatusOf(program, new AptgateError(code, 'm'));
        assert.ok(exit === 1 || exit === 2, `${program} ${code}: exit ${exit}`);
      }
    }
    assert.equal(exitStatusOf('aptgate-agent', new Error('not ours')), 1);
  });

  it('docs/errors.md lists every code once, no other, with the values of the tables', () => {
    const rows = documented();
    assert.deepEqual(
      [...rows.keys()].sort(),
      [...codes].sort(),
      'docs/errors.md and src/errors.ts name different codes',
    );
    for (const code of codes) {
      const r = rows.get(code)!;
      assert.equal(r.http, errorCodes[code], `${code}: HTTP`);
      assert.deepEqual({ fault: r.fault, internal: r.internal }, expectedFault(code), `${code}: fault`);
      assert.equal(r.aptgate, exitStatuses.aptgate[exitKinds[code]], `${code}: aptgate exit`);
      assert.equal(r.agent, exitStatuses['aptgate-agent'][exitKinds[code]], `${code}: aptgate-agent exit`);
      assert.ok(r.meaning.length >= 15, `${code}: say what it means`);
    }
  });

  it('the fault numbers are the ones docs/rpc.md documents, by name', () => {
    const text = doc('rpc.md');
    const section = text.slice(text.indexOf('## Faults'), text.indexOf('\n## ', text.indexOf('## Faults') + 1));
    const rows = [...section.matchAll(/^\| (-?\d+) \| ([A-Z_]+) \| /gm)].map((m) => [m[2]!, Number(m[1])] as const);
    assert.deepEqual(rows.sort(), Object.entries(faultCodes).sort());
  });

  it('each fault stands for one code, and back: what the server sends for the code is what the agent turns into it', () => {
    const contract = faultNames.map((f) => faultErrors[f]);
    assert.equal(new Set(contract).size, faultNames.length, 'two faults stand for one code');
    assert.equal(new Set(Object.values(faultCodes)).size, faultNames.length, 'two faults share a number');
    for (const f of faultNames) {
      const code = faultErrors[f];
      assert.equal(faultFor(code), f, code);
      assert.equal(errorCodeOfFault(faultCodes[f]), code, f);
      const received = new ServerFault(faultCodes[f], 'm');
      assert.equal(received.code, code, f);
      assert.ok(received instanceof AptgateError);
      // a fault the server answered is never the agent's command line at fault
      assert.equal(exitStatusOf('aptgate-agent', received), 1, f);
    }
    // a number from a newer server: the agent does not guess what it means
    assert.equal(new ServerFault(99, 'm').code, 'RPC_INTERNAL_ERROR');
    assert.equal(new ServerFault(99, 'm').faultCode, 99);
  });

  it('an internal answer keeps the message in the server: nothing of it reaches the fault', () => {
    const secret = 'database /var/lib/aptgate/secret.db: SQLITE_CORRUPT';
    for (const err of [
      new AptgateError('STATE_SCHEMA', secret),
      new AptgateError('RPC_INTERNAL_ERROR', secret),
      new Error(secret),
      { message: secret },
    ]) {
      assert.deepEqual(faultAnswer(err), {
        faultCode: faultCodes.INTERNAL_ERROR,
        faultString: 'internal error',
        internal: true,
      });
    }
    assert.deepEqual(faultAnswer(new AptgateError('JOB_UNKNOWN', 'no job 7 for this machine')), {
      faultCode: 9,
      faultString: 'no job 7 for this machine',
      internal: false,
    });
    assert.equal(errorLine(new AptgateError('USAGE', 'bad')), 'USAGE: bad');
    assert.equal(errorLine(new Error('plain')), 'plain');
  });
});

describe("issue 15: every code through a real /RPC2 route to the agent's client", () => {
  let app: FastifyInstance;
  let client: RpcClient;
  before(async () => {
    app = Fastify({ logger: false });
    const table = new MethodTable('test');
    table.add({
      name: 'test.raise',
      signature: ['string', 'string'],
      help: 'throws an AptgateError with the code given',
      handler: ([code]) => {
        throw new AptgateError(code as ErrorCode, `${code as string} at /var/lib/aptgate/state.db`);
      },
    });
    registerRpcRoutes(app, table, { bodyTimeoutMs: 10_000 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    client = new RpcClient({ server: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, timeoutS: 30 });
  });
  after(() => app.close());

  it('arrives as the documented fault, internal ones without their message, and the agent gets the code back', async () => {
    const rows = documented();
    for (const code of codes) {
      const err = await client.call('test.raise', [code]).then(
        () => assert.fail(`${code}: no fault`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServerFault, `${code}: ${String(err)}`);
      const row = rows.get(code);
      assert.ok(row, `${code} is not in docs/errors.md`);
      assert.equal(err.faultCode, row.fault, code);
      if (row.internal) {
        assert.equal(err.message, 'internal error', code);
        assert.equal(err.code, 'RPC_INTERNAL_ERROR', code);
      } else {
        assert.equal(err.message, `${code} at /var/lib/aptgate/state.db`, code);
        assert.equal(err.code, errorCodeOfFault(row.fault), code);
      }
      // a code with a fault of its own comes back as itself
      if (faultOf(code)) assert.equal(err.code, code);
    }
  });

  it('a multicall answers each failing call with the same fault as a single call', async () => {
    const calls = codes.map((code) => ({ methodName: 'test.raise', params: [code] }));
    const answers = await client.call<Array<{ faultCode?: number; faultString?: string }>>('system.multicall', [calls]);
    const rows = documented();
    answers.forEach((a, i) => {
      const row = rows.get(codes[i]!);
      assert.ok(row, `${codes[i]} is not in docs/errors.md`);
      assert.equal(a.faultCode, row.fault, codes[i]);
      if (row.internal) assert.equal(a.faultString, 'internal error', codes[i]);
    });
  });
});
