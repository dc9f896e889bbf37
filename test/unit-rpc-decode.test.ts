// The fast XML-RPC call decoder (src/protocol/fast-decode.ts) against the xmlrpc (sax) path: for
// thousands of random calls written by xmlrpc's serializer, by a Python-style writer and by
// Python itself the fast path must accept and give the identical result; what it must refuse
// it refuses, and decodeCall then answers exactly as the xmlrpc path does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { decodeCall, decodeCallSlow, decodeResponse, encodeCall, encodeResponse } from '../src/protocol/codec.js';
import { fastDecodeCall } from '../src/protocol/fast-decode.js';
import { AptgateError, isAptgateError } from '../src/errors.js';
import { faultCodes, faultOf } from '../src/protocol/faults.js';

const require = createRequire(import.meta.url);
const { serializeMethodCall } = require('xmlrpc/lib/serializer') as {
  serializeMethodCall(m: string, p: unknown[]): string;
};
const dateFormatter = require('xmlrpc/lib/date_formatter') as { decodeIso8601(t: string): Date };
const fast = (xml: string) => fastDecodeCall(xml, (t) => dateFormatter.decodeIso8601(t));

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
  'pkg-1.2',
  ' ',
  '  ',
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
  'é',
  'ß',
  '中文',
  '😀',
  '𝄞',
  '\u2028',
  '\u00a0',
  '&amp;',
  '<![CDATA[',
  '0',
  '-',
];
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
function str(r: Rng, max = 10): string {
  let s = '';
  for (let i = int(r, max + 1); i > 0; i--) s += pick(r, PIECES);
  return s;
}

function gen(r: Rng, depth: number): unknown {
  const k = int(r, depth > 4 ? 9 : 11);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return r() < 0.3 ? pick(r, [-2147483648, 2147483647, -2147483647, 0, 1, -1]) : int(r, 2 ** 32) - 2 ** 31;
    case 3: {
      const v = (r() - 0.5) * 10 ** (int(r, 34) - 20);
      return Number.isInteger(v) ? 0.125 : v;
    }
    case 4:
      return new Date(Date.UTC(1900 + int(r, 300), int(r, 12), 1 + int(r, 28), int(r, 24), int(r, 60), int(r, 60)));
    case 5:
      return Buffer.from(Array.from({ length: r() < 0.2 ? 0 : int(r, 120) }, () => int(r, 256)));
    case 6:
    case 7:
    case 8:
      return str(r);
    case 9:
      return Array.from({ length: int(r, 5) }, () => gen(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = int(r, 5); i > 0; i--) {
        const name = str(r, 3);
        if (!FORBIDDEN.has(name)) o[name] = gen(r, depth + 1);
      }
      return o;
    }
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Python's xmlrpc.client layout (newlines, &lt;-style escapes) with the variants other writers use. */
function pyText(r: Rng, s: string): string {
  let out = '';
  for (const ch of s) {
    const x = r();
    if (ch === '&') out += x < 0.2 ? '&#38;' : '&amp;';
    else if (ch === '<') out += x < 0.2 ? '&#x3c;' : '&lt;';
    else if (ch === '>') out += x < 0.5 ? '&gt;' : '>';
    else if (ch === '"' && x < 0.5) out += '&quot;';
    else if (ch === "'" && x < 0.5) out += '&apos;';
    else if (x < 0.1)
      out += x < 0.05 ? `&#${ch.codePointAt(0)};` : `&#x${ch.codePointAt(0)!.toString(16).toUpperCase()};`;
    else out += ch;
  }
  if (r() < 0.15) return `<![CDATA[${s.split(']]>').join(']]]]><![CDATA[>')}]]>`;
  return out;
}

function pyValue(r: Rng, v: unknown): string {
  if (v === null) return '<value><nil/></value>';
  if (typeof v === 'boolean') return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return `<value><double>${r() < 0.5 ? String(v) : v.toExponential()}</double></value>`;
    const digits = String(Math.abs(v)).length < 9 && r() < 0.2 ? `${v < 0 ? '-' : ''}00${Math.abs(v)}` : String(v);
    const tag = pick(r, ['int', 'i4']);
    return `<value><${tag}>${pick(r, ['', ' ', '\n'])}${v >= 0 && r() < 0.2 ? '+' : ''}${digits}${pick(r, ['', ' ', '\n'])}</${tag}></value>`;
  }
  if (typeof v === 'string') {
    const x = r();
    if (v === '' && x < 0.3) return pick(r, ['<value/>', '<value></value>', '<value><string/></value>']);
    return x < 0.3 ? `<value>${pyText(r, v)}</value>` : `<value><string>${pyText(r, v)}</string></value>`;
  }
  if (v instanceof Date) {
    const [y, mo, d, h, mi, s] = [
      v.getUTCFullYear(),
      pad(v.getUTCMonth() + 1),
      pad(v.getUTCDate()),
      pad(v.getUTCHours()),
      pad(v.getUTCMinutes()),
      pad(v.getUTCSeconds()),
    ];
    const t = pick(r, [
      `${y}${mo}${d}T${h}:${mi}:${s}`,
      `${y}-${mo}-${d}T${h}:${mi}:${s}Z`,
      `${y}${mo}${d}T${h}${mi}${s}+01:00`,
      `${y}${mo}${d}T${h}:${mi}:${s}.250-0530`,
    ]);
    return `<value><dateTime.iso8601>${t}</dateTime.iso8601></value>`;
  }
  if (Buffer.isBuffer(v)) {
    if (v.length === 0 && r() < 0.5) return '<value><base64/></value>';
    return `<value><base64>\n${(v.toString('base64').match(/.{1,76}/g) ?? []).join('\n')}\n</base64></value>`;
  }
  if (Array.isArray(v))
    return v.length === 0 && r() < 0.3
      ? '<value><array><data/></array></value>'
      : `<value><array><data>\n${v.map((x) => pyValue(r, x)).join('\n')}\n</data></array></value>`;
  const members = Object.entries(v as object).map(
    ([k, x]) => `<member>\n<name>${pyText(r, k)}</name>\n${pyValue(r, x)}\n</member>\n`,
  );
  return members.length === 0 && r() < 0.3
    ? '<value><struct/></value>'
    : `<value><struct>\n${members.join('')}</struct></value>`;
}

function pyCall(r: Rng, method: string, params: unknown[]): string {
  const ps =
    params.length === 0
      ? pick(r, ['', '<params/>\n', '<params>\n</params>\n'])
      : `<params>\n${params.map((v) => `<param>\n${pyValue(r, v)}\n</param>\n`).join('')}</params>\n`;
  return `${pick(r, ["<?xml version='1.0'?>\n", '<?xml version="1.0" encoding="UTF-8"?>', ''])}<methodCall>\n<methodName>${pyText(r, method)}</methodName>\n${ps}</methodCall>\n`;
}

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await p };
  } catch (e) {
    const f = isAptgateError(e) ? faultOf(e.code) : undefined;
    return { fault: f ? faultCodes[f] : -1, message: (e as Error).message };
  }
}

async function sameAsSlow(xml: string, what: string, mustAccept = true): Promise<void> {
  const f = fast(xml);
  if (!f && !mustAccept) return;
  assert.ok(f, `${what}: the fast path refused ${JSON.stringify(xml.slice(0, 400))}`);
  assert.deepStrictEqual(f, await decodeCallSlow(xml), `${what}: ${JSON.stringify(xml.slice(0, 400))}`);
  assert.deepStrictEqual(await decodeCall(xml), f);
}

function twoCdataEnds(v: unknown): boolean {
  if (typeof v === 'string') return v.split(']]>').length > 2;
  if (v === null || typeof v !== 'object' || v instanceof Date || Buffer.isBuffer(v)) return false;
  return Object.values(v).some(twoCdataEnds);
}

const wrap = (v: string, method = 'm') =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params><param><value>${v}</value></param></params></methodCall>`;
const nested = (levels: number) =>
  wrap(`${'<array><data><value>'.repeat(levels)}<int>1</int>${'</value></data></array>'.repeat(levels)}`);

describe('fast XML-RPC call decoder', () => {
  it('our encoder carries strings holding several "]]>" whole (the XML builder splits only the first)', async () => {
    for (const v of ['x]]>y]]>z', 'a<]]>b]]>c]]>', ']]>]]>', '& ]]> ]]> ]]>']) {
      assert.equal((await decodeCall(encodeCall('m', [v]))).params[0], v);
      assert.equal(await decodeResponse(encodeResponse(v)), v);
    }
  });

  it("accepts random calls from xmlrpc's serializer and a Python-style writer, identical to the xmlrpc path", async () => {
    const r = mulberry32(20261122);
    for (let i = 0; i < 3000; i++) {
      const params = Array.from({ length: int(r, 5) }, () => gen(r, 0));
      const method = pick(r, ['agent.hello', 'agent.report', 'system.multicall', 'a<b&c', 'm']);
      // xmlbuilder 8 splits only the first ']]>' of a CDATA section: the second one ends it early
      // and the rest arrives as text (a bare '&' there is refused by the fast path)
      await sameAsSlow(serializeMethodCall(method, params), `xmlrpc #${i}`, !twoCdataEnds(params));
      await sameAsSlow(pyCall(r, method, params), `python-style #${i}`);
    }
  });

  it(
    "accepts what Python's xmlrpc.client writes",
    { skip: spawnSync('python3', ['--version']).status !== 0 },
    async () => {
      const script = `import sys, datetime, xmlrpc.client as x
v = {"name": "h1 & <h2>", "n": [2147483647, -2147483648, 0], "f": 1.5e-7, "b": True, "none": None,
     "t": datetime.datetime(2024, 1, 2, 3, 4, 5), "bin": x.Binary(bytes(range(256)) * 3),
     "u": "é中😀\\r\\n]]>'\\"", "nested": [{"a": []}, {}, [[["deep"]]]], "": "empty name"}
sys.stdout.write(x.dumps((v, "x", 7, 2.5, [], {}), "agent.report", allow_none=True))`;
      const py = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      await sameAsSlow(py.stdout, 'python3');
    },
  );

  it('mutated documents: the fast path never throws, and what it accepts equals the xmlrpc path', async () => {
    const r = mulberry32(7);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const base = i % 2 ? serializeMethodCall('m', [gen(r, 2)]) : pyCall(r, 'm', [gen(r, 2)]);
      const at = int(r, base.length);
      const ins = pick(r, ['<', '>', '&', '/', ' ', 'x', '<value>', '</value>', ']]>', '&#0;', '<!--', '"', '\ud800']);
      const xml = pick(r, [
        base.slice(0, at),
        base.slice(0, at) + base.slice(at + 1),
        base.slice(0, at) + ins + base.slice(at),
      ]);
      const f = fast(xml);
      if (f) {
        accepted++;
        assert.deepStrictEqual(f, await decodeCallSlow(xml), JSON.stringify(xml));
      }
    }
    assert.ok(accepted > 100, `only ${accepted} mutations accepted`);
  });

  it('refuses what is outside the subset; decodeCall then answers as the xmlrpc path does', async () => {
    // expected: a fault code, or 'ok' (the xmlrpc path decodes it); a character reference to what
    // is no XML character is a parse fault on both paths (sax threw a RangeError beyond U+10FFFF)
    const refused: Array<[string, string, number | 'ok']> = [
      ['empty body', '', faultCodes.INVALID_REQUEST],
      ['not XML', 'hello', faultCodes.INVALID_REQUEST],
      [
        'DOCTYPE',
        `<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]>${wrap('<string>&a;</string>').slice(21)}`,
        'ok',
      ],
      ['comment', wrap('<!-- c --><string>x</string>'), 'ok'],
      ['processing instruction', `<?xml-stylesheet href="x"?>${wrap('<string>x</string>')}`, 'ok'],
      ['HTML entity', wrap('<string>a&nbsp;b</string>'), 'ok'],
      ['uppercase entity', wrap('<string>&AMP;</string>'), 'ok'],
      ['&#0;', wrap('<string>&#0;</string>'), faultCodes.PARSE_ERROR],
      ['reference to a surrogate', wrap('<string>&#xD800;</string>'), faultCodes.PARSE_ERROR],
      ['reference beyond Unicode', wrap('<string>&#1114112;</string>'), faultCodes.PARSE_ERROR],
      ['reference beyond Unicode, many digits', wrap('<string>&#x0000000110000;</string>'), faultCodes.PARSE_ERROR],
      ['reference to a control character', wrap('<string>&#1;</string>'), faultCodes.PARSE_ERROR],
      ['no reference inside a comment', wrap('<!-- &#0; --><string>x</string>'), 'ok'],
      ['bad reference after a comment', wrap('<!-- c --><string>&#xFFFF;</string>'), faultCodes.PARSE_ERROR],
      ['unterminated reference', wrap('<string>&#65</string>'), 'ok'],
      ['namespace prefix', wrap('<ex:nil/>'), faultCodes.INVALID_REQUEST],
      [
        'xmlns attribute',
        wrap('<string>x</string>').replace(
          '<methodCall>',
          '<methodCall xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">',
        ),
        'ok',
      ],
      ['attribute', wrap('<string lang="en">x</string>'), 'ok'],
      ['i8', wrap('<i8>9007199254740993</i8>'), 'ok'],
      ['unknown tag', wrap('<float>1.5</float>'), faultCodes.INVALID_REQUEST],
      ['uppercase tag', wrap('<Int>5</Int>'), 'ok'],
      ['uppercase root', '<METHODCALL><METHODNAME>m</METHODNAME></METHODCALL>', 'ok'],
      ['space in a tag', wrap('<int >5</int >'), 'ok'],
      ['bad nesting', wrap('<int>5</value></int>'), 'ok'],
      [
        'missing close tags',
        '<methodCall><methodName>m</methodName><params><param><value><int>5</int>',
        faultCodes.INVALID_REQUEST,
      ],
      ['text mixed with a typed value', wrap('x<int>5</int>'), 'ok'],
      ['value nested 65 levels', nested(64), faultCodes.INVALID_REQUEST],
      [
        '__proto__ member',
        wrap(
          '<struct><member><name>__proto__</name><value><struct><member><name>isAdmin</name><value><int>1</int></value></member></struct></value></member></struct>',
        ),
        faultCodes.INVALID_PARAMS,
      ],
      [
        '__proto__ member with a scalar',
        wrap('<struct><member><name>__proto__</name><value><int>1</int></value></member></struct>'),
        'ok',
      ],
      [
        'constructor member',
        wrap('<struct><member><name>constructor</name><value><int>1</int></value></member></struct>'),
        faultCodes.INVALID_PARAMS,
      ],
      [
        'prototype member',
        wrap('<struct><member><name>prototype</name><value><int>1</int></value></member></struct>'),
        faultCodes.INVALID_PARAMS,
      ],
      ['int beyond 32 bits', wrap('<int>2147483648</int>'), 'ok'],
      ['int with trailing garbage', wrap('<int>12abc</int>'), 'ok'],
      ['empty int', wrap('<int></int>'), faultCodes.INVALID_REQUEST],
      ['boolean true', wrap('<boolean>true</boolean>'), faultCodes.INVALID_REQUEST],
      ['boolean with spaces', wrap('<boolean> 1 </boolean>'), faultCodes.INVALID_REQUEST],
      ['double NaN', wrap('<double>NaN</double>'), faultCodes.INVALID_REQUEST],
      ['double Infinity', wrap('<double>Infinity</double>'), 'ok'],
      ['empty dateTime', wrap('<dateTime.iso8601></dateTime.iso8601>'), faultCodes.INVALID_REQUEST],
      ['dateTime with garbage', wrap('<dateTime.iso8601>xx20240102T03:04:05yy</dateTime.iso8601>'), 'ok'],
      ['dateTime month 13', wrap('<dateTime.iso8601>20241302T03:04:05Z</dateTime.iso8601>'), 'ok'],
      ['lone surrogate in the body', wrap('<string>a\ud800b</string>'), 'ok'],
      ['byte order mark', `\ufeff${wrap('<string>x</string>')}`, 'ok'],
      ['lowercase CDATA', wrap('<string><![cdata[x]]></string>'), 'ok'],
      ['text after the root', `${wrap('<string>x</string>')}junk`, 'ok'],
      [
        'two roots',
        wrap('<string>x</string>')
          .repeat(2)
          .replace(/<\?xml[^>]*>/g, ''),
        'ok',
      ],
      ['empty methodName', '<methodCall><methodName></methodName></methodCall>', faultCodes.PARSE_ERROR],
      ['no methodName', '<methodCall><params/></methodCall>', faultCodes.PARSE_ERROR],
      ['param without value', '<methodCall><methodName>m</methodName><params><param/></params></methodCall>', 'ok'],
    ];
    for (const [what, xml, expected] of refused) {
      assert.equal(fast(xml), undefined, `${what}: the fast path accepted it`);
      const got = (await outcome(decodeCall(xml))) as { fault?: number };
      // compared as text: an Invalid Date (month 13) is not deep-equal to itself
      assert.equal(inspect(got, { depth: null }), inspect(await outcome(decodeCallSlow(xml)), { depth: null }), what);
      if (expected === 'ok') assert.equal(got.fault, undefined, `${what}: ${JSON.stringify(got)}`);
      else assert.equal(got.fault, expected, `${what}: ${JSON.stringify(got)}`);
    }
  });

  it('edge values the fast path takes: depth 64, 32-bit limits, references, CDATA, empty forms', async () => {
    await sameAsSlow(nested(63), 'values nested 64 levels');
    for (const v of [
      '<int>2147483647</int>',
      '<i4>-2147483648</i4>',
      '<int> -0 </int>',
      '<int>+7</int>',
      '<double>.5</double>',
      '<double>-1.5e+300</double>',
      '<string>&#0065;&#x1F600;&#X41;&lt;&gt;&amp;&quot;&apos;</string>',
      '<string>a<![CDATA[<&]]]]><![CDATA[>]]>b</string>',
      '<string><![CDATA[&#0;&#xD800;]]></string>',
      ' <![CDATA[x]]>\n',
      '  ',
      '',
      '<string/>',
      '<base64/>',
      '<base64>\n</base64>',
      '<struct/>',
      '<array/>',
      '<array><data/></array>',
      '<nil></nil>',
      '\n<nil/>\n',
      '<string>a\r\nb\u0000</string>',
      '<dateTime.iso8601>20240102T03:04:05</dateTime.iso8601>',
      '<dateTime.iso8601>2024-01-02T03:04:05.123+02:00</dateTime.iso8601>',
      '<struct><member><name/><value/></member><member><name>k</name><value>1</value></member><member><name>k</name><value>2</value></member></struct>',
    ]) {
      await sameAsSlow(wrap(v), v);
    }
    await sameAsSlow('<methodCall><methodName>m</methodName></methodCall>', 'no params');
  });

  it('limits stop both decoders at the same value, with the same fault, before the rest is read', async () => {
    const limits = { maxValues: 10, maxDepth: 4, maxMulticall: 3 };
    const cases: Array<[string, string, RegExp]> = [
      [
        'values',
        wrap(`<array><data>${'<value><int>1</int></value>'.repeat(20)}</data></array>`),
        /^more than 10 values in one request/,
      ],
      ['empty values', wrap(`<array><data>${'<value/>'.repeat(20)}</data></array>`), /^more than 10 values/],
      ['depth', nested(6), /^values nested deeper than 4 levels/],
      [
        'multicall',
        wrap(`<array><data>${'<value><struct/></value>'.repeat(5)}</data></array>`, 'system.multicall'),
        /^system.multicall with more than 3 calls/,
      ],
    ];
    for (const [what, xml, message] of cases) {
      const fastWay = (await outcome(decodeCall(xml, { limits }))) as { fault?: number; message?: string };
      assert.equal(fastWay.fault, faultCodes.INVALID_REQUEST, what);
      assert.match(fastWay.message!, message);
      const at = Number(/decoding stopped at character (\d+) of (\d+)$/.exec(fastWay.message!)?.[1]);
      assert.ok(at > 0 && at < xml.length / 2 + 60, `${what}: ${fastWay.message}`);
      assert.deepEqual(await outcome(decodeCallSlow(xml, { limits })), fastWay, what);
      // the general decoder (a comment keeps the fast one out) counts the same way
      const commented = xml.replace('<params>', '<!-- x --><params>');
      const slowWay = (await outcome(decodeCall(commented, { limits }))) as { message?: string };
      assert.equal(
        slowWay.message,
        fastWay.message!.replace(/character \d+ of \d+/, `character ${at + 10} of ${xml.length + 10}`),
        what,
      );
    }
    // the method name is read before any parameter: what onMethod throws comes first
    const refuse = (name: string) => {
      throw new AptgateError('AUTH_FAILED', `no ${name}`);
    };
    for (const decode of [decodeCall, decodeCallSlow]) {
      assert.deepEqual(await outcome(decode(nested(100), { onMethod: refuse })), {
        fault: faultCodes.AUTH_FAILED,
        message: 'no m',
      });
    }
  });

  it('stays linear on bodies built to make scanners quadratic', () => {
    const many = (n: number) => wrap(`<array><data>${'<value>x</value>'.repeat(n)}<value>&amp;</value></data></array>`);
    const time = (xml: string) => {
      const t0 = performance.now();
      assert.ok(fast(xml));
      return performance.now() - t0;
    };
    time(many(1000));
    const small = Math.min(time(many(20_000)), time(many(20_000)));
    const big = Math.min(time(many(200_000)), time(many(200_000)));
    assert.ok(big < small * 40 + 50, `20k items ${small.toFixed(1)} ms, 200k items ${big.toFixed(1)} ms`);
    const openings = wrap('<array><data>'.repeat(1) + '<value>'.repeat(300_000));
    const t0 = performance.now();
    assert.equal(fast(openings), undefined);
    assert.ok(performance.now() - t0 < 1000);
  });
});
