// The server's answer encoder (src/protocol/encode.ts) against the xmlrpc serializer it replaces:
// for thousands of random values, and the edge cases of both (CDATA, "]]>", control
// characters, empty forms, undefined members), the text is identical byte for byte; sliced,
// it is the same text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeResponse,
  encodeFault,
  encodeFaultXmlrpc,
  encodeResponse,
  encodeResponseSliced,
  encodeResponseXmlrpc,
} from '../src/protocol/codec.js';

type Rng = () => number;
function mulberry32(seed: number): Rng {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)]!;

const PIECES = [
  'a',
  'Zz',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '&',
  '<',
  '>',
  '"',
  "'",
  ']]>',
  ']]',
  ']',
  '>]]>',
  'é',
  '中文',
  '😀',
  '\ud800',
  '\u0000',
  '\u0007',
  '\u001b[31m',
  '\u007f',
  '\ufffe',
  '&amp;',
  '<![CDATA[',
  '0',
];
function str(r: Rng, max = 10): string {
  let s = '';
  for (let i = int(r, max + 1); i > 0; i--) s += pick(r, PIECES);
  return s;
}

function gen(r: Rng, depth: number): unknown {
  switch (int(r, depth > 3 ? 10 : 12)) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return r() < 0.3 ? pick(r, [-2147483648, 2147483647, 0, -0, 1, -1]) : int(r, 2 ** 32) - 2 ** 31;
    case 3: {
      const v = (r() - 0.5) * 10 ** (int(r, 30) - 15);
      return Number.isInteger(v) ? 0.5 : v;
    }
    case 4:
      return new Date(
        Date.UTC(1900 + int(r, 300), int(r, 12), 1 + int(r, 28), int(r, 24), int(r, 60), int(r, 60), int(r, 1000)),
      );
    case 5:
      return Buffer.from(Array.from({ length: r() < 0.3 ? 0 : int(r, 60) }, () => int(r, 256)));
    case 6:
      return undefined;
    case 7:
    case 8:
    case 9:
      return str(r);
    case 10:
      return Array.from({ length: int(r, 5) }, () => gen(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(r, 5); i > 0; i--)
        o[pick(r, ['', 'k', 'name', 'a&b', '<x>', 'r\rs', 'é', 'q"q'])] = gen(r, depth + 1);
      return o;
    }
  }
}

describe('XML-RPC answer encoder', () => {
  it('writes what the xmlrpc serializer writes, for random values and for sliced runs', async () => {
    const r = mulberry32(13);
    for (let i = 0; i < 3000; i++) {
      const v = gen(r, 0);
      const want = encodeResponseXmlrpc(v);
      assert.equal(encodeResponse(v), want, JSON.stringify(v));
      if (i % 100 === 0) assert.equal(await encodeResponseSliced(v), want);
    }
  });

  it('edge values: strings that go into CDATA, several "]]>", empty forms, names, faults', async () => {
    const values: unknown[] = [
      '',
      '\u0000',
      'a]]>b]]>c]]>',
      ']]>',
      'x>y',
      'a\rb',
      '<&>',
      { '': 1 },
      { a: undefined, b: 1 },
      { a: undefined },
      {},
      [],
      [[]],
      [{}],
      Buffer.alloc(0),
      new Date(0),
      -0,
      0.1,
      1e-7,
      2147483647,
      -2147483648,
      [null, undefined, true, false],
      { k: { k: { k: ['deep'] } } },
    ];
    for (const v of values) assert.equal(encodeResponse(v), encodeResponseXmlrpc(v), JSON.stringify(v));
    for (const m of [
      '',
      'plain',
      'a <b> & c',
      'x]]>y]]>z',
      '\u001b[2Jhidden',
      'é'.repeat(5000),
      '<'.repeat(4100),
      ']]>'.repeat(2000),
    ]) {
      assert.equal(encodeFault(-32600, m), encodeFaultXmlrpc(-32600, m), m.slice(0, 40));
    }
    // what the encoder refuses, the serializer refused too
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, { 'a\u0001': 1 }]) {
      assert.throws(() => encodeResponse(bad));
      assert.throws(() => encodeResponseXmlrpc(bad));
    }
    // and it reads back
    const big = {
      packages: Array.from({ length: 2000 }, (_, i) => ({
        package: `p${i}`,
        installed: '1.0',
        candidate: '1.1',
        security: i % 2 === 0,
      })),
    };
    assert.deepEqual(JSON.parse(JSON.stringify(await decodeResponse(await encodeResponseSliced(big)))), big);
  });
});
