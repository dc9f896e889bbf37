// A strict, allocation-light decoder for the XML-RPC method calls well-behaved clients write
// (the npm xmlrpc serializer, Python's xmlrpc.client and the like). It answers `undefined`
// for anything outside that subset, and codec.ts then takes the sax-based path, which gives
// the existing results and faults. For every input it accepts the result is identical to
// that path's (after its sanitize step): the text of a value is decoded the same way (5 XML
// entities, numeric references, CDATA, no newline normalisation) and converted the same way
// (parseInt, parseFloat, Buffer.from(…, 'base64'), the codec's own date function).
//
// Accepted: optional `<?xml …?>`, whitespace, `<methodCall><methodName>…</methodName>`
// [`<params>` (`<param><value>…</value></param>`)* `</params>` | `<params/>`] `</methodCall>`;
// values `<int>`/`<i4>` (32-bit), `<boolean>` 0/1, `<string>`, bare text, `<double>`,
// `<dateTime.iso8601>`, `<base64>`, `<nil/>`, `<struct>`, `<array><data>`, `<value/>`.
// Refused: DOCTYPE, comments, other processing instructions, other entities, attributes,
// namespaces, `<i8>`, unknown or differently cased tags, bad nesting, forbidden member names,
// lone surrogates, a leading BOM.
// Faults of its own (limits.ts), raised where the decoder stands, before the rest is read:
// more values, deeper nesting or a longer multicall than the limits allow, and a character
// reference to something that is no XML character.
//
// The decoder is a state machine with an explicit stack, so it can stop anywhere and go on
// later: decodeCallSliced() runs it in slices of a few milliseconds and lets the event loop
// turn in between, however large the body. Every scan moves forward (the next '&' and '<' are
// remembered), so the work is linear in the body.
import type { MethodCall } from './codec.js';
import { nextTurn } from '../sys/time-slice.js';
import { limitFault, SIGNED_LIMITS, type DecodeLimits, type LimitKind } from './limits.js';
import { xmlBoolean, xmlDate, xmlDouble, xmlInt, xmlReference } from './xml-text.js';

/** Thrown (never an Error: no stack is captured) to give up; caught by the drivers below. */
const NOT_MINE = { notMine: true };
const FORBIDDEN_MEMBERS = new Set(['__proto__', 'constructor', 'prototype']);
/** `v` as one flat string (a substring of a rope copies it out). */
function flat(v: string): string {
  return (' ' + v).slice(1);
}

function fail(): never {
  throw NOT_MINE;
}

// where the machine stands
const enum St {
  Start,
  Params,
  Value,
  Array,
  Struct,
  End,
  Done,
}
// what the text being read is for
const enum Tx {
  Method,
  Name,
  String,
  Bare,
  Int,
  Boolean,
  Base64,
  Double,
  Date,
}

/** params, array items, or a struct with the name of the member being read */
interface Frame {
  items: unknown[] | undefined;
  obj: Record<string, unknown> | undefined;
  name: string;
}

class CallParser {
  private p = 0;
  /** index of the next '&' at or after `p` (s.length when there is none) */
  private amp = -1;
  private state = St.Start;
  private readonly stack: Frame[] = [];
  private method = '';
  private values = 0;
  private calls = 0;
  // the text being read: its end tag, its purpose, what is decoded so far, where the
  // undecoded rest starts, and the '<' that ends the current run
  private inText = false;
  private tClose = '';
  private tKind = Tx.Method;
  private tOut = '';
  /** decoded pieces of a long run of references, each flat */
  private tParts: string[] = [];
  private tStart = 0;
  private tLt = -1;

  constructor(
    private readonly s: string,
    private readonly decodeDate: (text: string) => Date,
    private readonly limits: DecodeLimits,
    private readonly onMethod: ((name: string) => void) | undefined,
  ) {}

  /** Works until done (true) or until `deadline` (performance.now()) has passed (false). */
  run(deadline: number): boolean {
    let n = 0;
    while (this.state !== St.Done) {
      if (this.inText) {
        if (!this.textStep(deadline)) return false;
      } else {
        this.step();
      }
      if ((++n & 255) === 0 && performance.now() > deadline) return (this.state as St) === St.Done;
    }
    return true;
  }

  result(): MethodCall {
    return { method: this.method, params: this.stack[0]?.items ?? [] };
  }

  private ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.p);
      if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) this.p++;
      else return;
    }
  }

  /** Consumes `lit` when it is at `i` (default: p). */
  private at(lit: string, i = this.p): boolean {
    if (!this.s.startsWith(lit, i)) return false;
    this.p = i + lit.length;
    return true;
  }

  private expect(lit: string): void {
    if (!this.at(lit)) fail();
  }

  private step(): void {
    switch (this.state) {
      case St.Start: {
        this.ws();
        if (this.at('<?xml')) {
          const s = this.s;
          const c = s.charCodeAt(this.p);
          if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) fail();
          const end = s.indexOf('?>', this.p);
          if (end < 0) fail();
          for (let k = this.p; k < end; k++) if (s.charCodeAt(k) === 0x3c || s.charCodeAt(k) === 0x3e) fail();
          this.p = end + 2;
          this.ws();
        }
        this.expect('<methodCall>');
        this.ws();
        this.expect('<methodName>');
        this.beginText('</methodName>', Tx.Method);
        return;
      }
      case St.Params:
        if (this.at('<param>')) {
          this.ws();
          this.state = St.Value;
        } else {
          this.expect('</params>');
          this.ws();
          this.state = St.End;
        }
        return;
      case St.Value:
        this.openValue();
        return;
      case St.Array:
        if (this.at('</data>')) {
          this.ws();
          this.expect('</array>');
          this.closeValue(this.stack.pop()!.items);
        } else {
          this.state = St.Value;
        }
        return;
      case St.Struct:
        if (this.at('</struct>')) {
          this.closeValue(this.stack.pop()!.obj);
        } else {
          this.expect('<member>');
          this.ws();
          if (this.at('<name/>')) this.named('');
          else {
            this.expect('<name>');
            this.beginText('</name>', Tx.Name);
          }
        }
        return;
      case St.End:
        this.expect('</methodCall>');
        this.ws();
        if (this.p !== this.s.length) fail();
        this.state = St.Done;
        return;
      case St.Done:
        return;
    }
  }

  /** A limit crossed at the current position (just after a value's start tag). */
  private over(kind: LimitKind): never {
    throw limitFault(kind, this.limits, this.p, this.s.length);
  }

  /** A <value> element starts (p at it); counted as the sax path counts it, after its tag. */
  private openValue(): void {
    const empty = this.at('<value/>');
    if (!empty) this.expect('<value>');
    const depth = this.stack.length;
    if (++this.values > this.limits.maxValues) this.over('values');
    if (depth > this.limits.maxDepth) this.over('depth');
    if (depth === 2 && this.method === 'system.multicall' && ++this.calls > this.limits.maxMulticall)
      this.over('multicall');
    if (empty) return this.emit('');
    const start = this.p;
    this.ws();
    const s = this.s;
    if (s.charCodeAt(this.p) === 0x3c /* < */) {
      const c = s.charCodeAt(this.p + 1);
      // whitespace before and after a typed value is dropped, as the sax path does
      if (c !== 0x2f /* / */ && c !== 0x21 /* ! */) return this.typed();
    }
    this.p = start;
    this.beginText('</value>', Tx.Bare);
  }

  /** The typed content of a <value> (p at its '<'). */
  private typed(): void {
    switch (this.s.charCodeAt(this.p + 1)) {
      case 0x73: // s
        if (this.at('<string>')) return this.beginText('</string>', Tx.String);
        if (this.at('<string/>')) return this.closeValue('');
        if (this.at('<struct>')) {
          this.stack.push({ items: undefined, obj: Object.create(null) as Record<string, unknown>, name: '' });
          this.ws();
          this.state = St.Struct;
          return;
        }
        if (this.at('<struct/>')) return this.closeValue(Object.create(null));
        break;
      case 0x69: // i
        if (this.at('<int>')) return this.beginText('</int>', Tx.Int);
        if (this.at('<i4>')) return this.beginText('</i4>', Tx.Int);
        break;
      case 0x62: // b
        if (this.at('<boolean>')) return this.beginText('</boolean>', Tx.Boolean);
        if (this.at('<base64>')) return this.beginText('</base64>', Tx.Base64);
        if (this.at('<base64/>')) return this.closeValue(Buffer.alloc(0));
        break;
      case 0x64: // d
        if (this.at('<double>')) return this.beginText('</double>', Tx.Double);
        if (this.at('<dateTime.iso8601>')) return this.beginText('</dateTime.iso8601>', Tx.Date);
        break;
      case 0x6e: // n
        if (this.at('<nil/>') || this.at('<nil></nil>')) return this.closeValue(null);
        break;
      case 0x61: // a
        if (this.at('<array>')) {
          this.ws();
          if (this.at('<data/>')) {
            this.ws();
            this.expect('</array>');
            return this.closeValue([]);
          }
          this.expect('<data>');
          this.ws();
          this.stack.push({ items: [], obj: undefined, name: '' });
          this.state = St.Array;
          return;
        }
        if (this.at('<array/>')) return this.closeValue([]);
        break;
    }
    fail();
  }

  /** A typed value is complete: its </value> follows. */
  private closeValue(v: unknown): void {
    this.ws();
    this.expect('</value>');
    this.emit(v);
  }

  /** A complete value goes to its parameter list, array or struct member. */
  private emit(v: unknown): void {
    const top = this.stack[this.stack.length - 1]!;
    if (top.obj) {
      top.obj[top.name] = v;
      this.ws();
      this.expect('</member>');
      this.ws();
      this.state = St.Struct;
    } else if (this.stack.length === 1) {
      top.items!.push(v);
      this.ws();
      this.expect('</param>');
      this.ws();
      this.state = St.Params;
    } else {
      top.items!.push(v);
      this.ws();
      this.state = St.Array;
    }
  }

  private named(name: string): void {
    if (FORBIDDEN_MEMBERS.has(name)) fail();
    this.stack[this.stack.length - 1]!.name = name;
    this.ws();
    this.state = St.Value;
  }

  private beginText(close: string, kind: Tx): void {
    this.inText = true;
    this.tClose = close;
    this.tKind = kind;
    this.tOut = '';
    this.tStart = this.p;
    this.tLt = -1;
  }

  /**
   * Character data up to the text's end tag (which it consumes): references and CDATA
   * decoded, any other markup refused. false: the deadline passed in a run of references,
   * the next call goes on from there.
   */
  private textStep(deadline: number): boolean {
    const s = this.s;
    for (;;) {
      if (this.tLt < this.p) {
        this.tLt = s.indexOf('<', this.p);
        if (this.tLt < 0) fail();
      }
      const lt = this.tLt;
      if (this.amp < this.p) {
        this.amp = s.indexOf('&', this.p);
        if (this.amp < 0) this.amp = s.length;
      }
      let n = 0;
      while (this.amp < lt) {
        this.tOut += s.slice(this.tStart, this.amp) + this.entity(this.amp);
        this.tStart = this.p;
        this.amp = s.indexOf('&', this.p);
        if (this.amp < 0) this.amp = s.length;
        if (++n === 4096) {
          // a rope of millions of pieces would be flattened (and collected) in one long step
          n = 0;
          this.tParts.push(flat(this.tOut));
          this.tOut = '';
          if (performance.now() > deadline) return false;
        }
      }
      if (s.startsWith(this.tClose, lt)) {
        this.p = lt + this.tClose.length;
        let text = this.tOut === '' ? s.slice(this.tStart, lt) : this.tOut + s.slice(this.tStart, lt);
        if (this.tParts.length) {
          this.tParts.push(text);
          text = this.tParts.join('');
          this.tParts = [];
        }
        this.tOut = '';
        this.inText = false;
        this.textDone(text);
        return true;
      }
      if (!s.startsWith('<![CDATA[', lt)) fail();
      const end = s.indexOf(']]>', lt + 9);
      if (end < 0) fail();
      this.tOut += s.slice(this.tStart, lt) + s.slice(lt + 9, end);
      this.p = this.tStart = end + 3;
    }
  }

  private textDone(t: string): void {
    switch (this.tKind) {
      case Tx.Method: {
        if (t === '') fail();
        this.method = this.own(t);
        // a fault here (an unsigned call of a signed method) comes before any parameter is read
        this.onMethod?.(this.method);
        this.ws();
        if (this.at('<params>')) {
          this.ws();
          this.stack.push({ items: [], obj: undefined, name: '' });
          this.state = St.Params;
        } else {
          if (this.at('<params/>')) this.ws();
          this.state = St.End;
        }
        return;
      }
      case Tx.Name:
        return this.named(t);
      case Tx.String:
        return this.closeValue(this.own(t));
      case Tx.Bare:
        return this.emit(this.own(t)); // its </value> is read already
      case Tx.Int:
        return this.closeValue(xmlInt(t) ?? fail());
      case Tx.Boolean:
        return this.closeValue(xmlBoolean(t) ?? fail());
      case Tx.Base64:
        return this.closeValue(Buffer.from(t, 'base64'));
      case Tx.Double:
        return this.closeValue(xmlDouble(t) ?? fail());
      case Tx.Date:
        return this.closeValue(xmlDate(t, this.decodeDate) ?? fail());
    }
  }

  /**
   * A string value of its own: a slice of the body would keep the whole body alive for as long
   * as the value lives (V8 slices strings of 13 characters and more instead of copying them).
   * Shorter ones are copies already; one that is most of the body is left as it is.
   */
  private own(v: string): string {
    return v.length < 13 || v.length * 2 > this.s.length ? v : flat(v);
  }

  /** The reference at `i` ('&' … ';'): returns its character(s) and moves p past it. */
  private entity(i: number): string {
    const r = xmlReference(this.s, i) ?? fail();
    this.p = r.end;
    return r.text;
  }
}

function acceptable(body: string): boolean {
  if (typeof body !== 'string' || body.charCodeAt(0) === 0xfeff) return false;
  // the slow path reads the body through UTF-8: lone surrogates would become U+FFFD there
  return (body as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Decodes `body` when it is in the subset above, else `undefined` (never throws; a limit
 * crossed is `undefined` too, the general path then gives the fault). `dateFromText` must be
 * the slow path's own dateTime conversion, so that dates agree. In one go: for small bodies and
 * tests; the server uses decodeCallSliced().
 */
export function fastDecodeCall(
  body: string,
  dateFromText: (text: string) => Date,
  limits: DecodeLimits = SIGNED_LIMITS,
): MethodCall | undefined {
  if (!acceptable(body)) return undefined;
  try {
    const parser = new CallParser(body, dateFromText, limits, undefined);
    parser.run(Number.POSITIVE_INFINITY);
    return parser.result();
  } catch {
    return undefined;
  }
}

/**
 * The same decoder in slices of `sliceMs` with a turn of the event loop between them.
 * Resolves `undefined` for a body outside the subset; rejects with an AptgateError (RPC_*) for a limit
 * crossed, a bad character reference, or whatever `onMethod` throws (called with the method
 * name before any parameter is read).
 */
export async function decodeCallSliced(
  body: string,
  dateFromText: (text: string) => Date,
  limits: DecodeLimits,
  onMethod?: (name: string) => void,
  sliceMs = 4,
): Promise<MethodCall | undefined> {
  if (!acceptable(body)) return undefined;
  const parser = new CallParser(body, dateFromText, limits, onMethod);
  try {
    while (!parser.run(performance.now() + sliceMs)) await nextTurn();
    return parser.result();
  } catch (err) {
    if (err === NOT_MINE) return undefined;
    throw err;
  }
}
