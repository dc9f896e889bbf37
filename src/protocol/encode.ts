// The server's answers as XML-RPC text, byte for byte what the xmlrpc serializer (and its
// xmlbuilder) writes for the values codec.ts hands it, but some fifty times faster and in
// slices: the serializer took a quarter of a second for an agent.outdated answer of a thousand
// packages, in one synchronous step. The same value preparation as the serializer's path in
// codec.ts: control characters dropped from strings, "]]>" split so CDATA carries it whole,
// numbers checked, undefined as nil and undefined struct members left out.

import { nextTurn } from '../sys/time-slice.js';

// XML 1.0 cannot carry most control characters; dpkg transcripts do contain some
export const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff]/g;
// what xmlbuilder refuses in a text it escapes (it allows surrogates as configured)
const ILLEGAL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;
/** a string with one of these goes into CDATA (the serializer's rule) */
const NEEDS_CDATA = /[<&]|\]\]>/;

/**
 * The serializer puts a string holding <, & or ]]> into CDATA, and its XML builder splits only the
 * first "]]>" of it; the later ones are split here the same way, so the builder's one
 * replacement (of the first) completes the job and the text arrives whole.
 */
export function cdataSafe(s: string): string {
  const first = s.indexOf(']]>');
  if (first === -1 || s.indexOf(']]>', first + 1) === -1) return s;
  return s.slice(0, first + 3) + s.slice(first + 3).replaceAll(']]>', ']]]]><![CDATA[>');
}

function escapeText(s: string): string {
  if (!PLAIN.test(s)) return s;
  if (ILLEGAL.test(s)) throw new Error(`cannot encode ${JSON.stringify(s.slice(0, 40))} in XML`);
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
}

/** A string as the serializer's path prepares it. */
export function prepared(raw: string): string {
  return cdataSafe(raw.replace(CONTROL, ''));
}

// a string without any of these is written as it is (most are)
const PLAIN = /[\u0000-\u001f\u007f\ufffe\uffff<&>\]]/;

function stringValue(raw: string): string {
  if (raw.length !== 0 && !PLAIN.test(raw)) return `<value><string>${raw}</string></value>`;
  return stringXml(prepared(raw));
}

/** A prepared string as xmlbuilder writes it. */
function stringXml(s: string): string {
  if (s.length === 0) return '<value><string/></value>';
  if (NEEDS_CDATA.test(s)) return `<value><string><![CDATA[${s.replace(']]>', ']]]]><![CDATA[>')}]]></string></value>`;
  return `<value><string>${s.replace(/>/g, '&gt;').replace(/\r/g, '&#xD;')}</string></value>`;
}

function numberValue(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`cannot encode ${v} in XML-RPC`);
  if (Number.isInteger(v) && (v > 2147483647 || v < -2147483648))
    throw new Error(`integer ${v} exceeds XML-RPC's 32 bits`);
  return v % 1 === 0 ? `<value><int>${v}</int></value>` : `<value><double>${v}</double></value>`;
}

/** an array's items, or a struct's members (names with a defined value) */
interface Frame {
  items: readonly unknown[] | undefined;
  obj: Record<string, unknown> | undefined;
  keys: string[] | undefined;
  i: number;
  /** written when the last item is done: the container's end tags and what follows it */
  close: string;
}

class Writer {
  private readonly out: string[] = [];
  private readonly stack: Frame[] = [];

  constructor(
    private readonly encodeDate: (d: Date) => string,
    head: string,
    value: unknown,
    tail: string,
  ) {
    this.out.push(head);
    this.value(value, tail);
  }

  /** Works until done (true) or until `deadline` (performance.now()) has passed (false). */
  run(deadline: number): boolean {
    let n = 0;
    while (this.stack.length) {
      const top = this.stack[this.stack.length - 1]!;
      if (top.items) {
        if (top.i < top.items.length) this.value(top.items[top.i++], '');
        else {
          this.out.push(top.close);
          this.stack.pop();
        }
      } else if (top.i < top.keys!.length) {
        const k = top.keys![top.i++]!;
        this.out.push(k === '' ? '<member><name/>' : `<member><name>${escapeText(k)}</name>`);
        this.value(top.obj![k], '</member>');
      } else {
        this.out.push(top.close);
        this.stack.pop();
      }
      if ((++n & 1023) === 0 && performance.now() > deadline) return this.stack.length === 0;
    }
    return true;
  }

  text(): string {
    return this.out.join('');
  }

  private value(v: unknown, after: string): void {
    switch (typeof v) {
      case 'string':
        this.out.push(stringValue(v), after);
        return;
      case 'number':
        this.out.push(numberValue(v), after);
        return;
      case 'boolean':
        this.out.push(v ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>', after);
        return;
      case 'undefined':
        this.out.push('<value><nil/></value>', after);
        return;
      case 'object':
        break;
      default:
        this.out.push('<value/>', after);
        return;
    }
    if (v === null) this.out.push('<value><nil/></value>', after);
    else if (v instanceof Date)
      this.out.push(`<value><dateTime.iso8601>${this.encodeDate(v)}</dateTime.iso8601></value>`, after);
    else if (Buffer.isBuffer(v))
      this.out.push(
        v.length ? `<value><base64>${v.toString('base64')}</base64></value>` : '<value><base64/></value>',
        after,
      );
    else if (Array.isArray(v)) {
      if (v.length === 0) this.out.push('<value><array><data/></array></value>', after);
      else {
        this.out.push('<value><array><data>');
        this.stack.push({ items: v, obj: undefined, keys: undefined, i: 0, close: `</data></array></value>${after}` });
      }
    } else {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      if (keys.length === 0) this.out.push('<value><struct/></value>', after);
      else {
        this.out.push('<value><struct>');
        this.stack.push({ items: undefined, obj, keys, i: 0, close: `</struct></value>${after}` });
      }
    }
  }
}

const RESPONSE_HEAD = '<?xml version="1.0"?><methodResponse><params><param>';
const RESPONSE_TAIL = '</param></params></methodResponse>';

export function encodeResponseWith(value: unknown, encodeDate: (d: Date) => string): string {
  const w = new Writer(encodeDate, RESPONSE_HEAD, value, RESPONSE_TAIL);
  w.run(Number.POSITIVE_INFINITY);
  return w.text();
}

/** The same in slices of `sliceMs`, a turn of the event loop between them. */
export async function encodeResponseSliced(
  value: unknown,
  encodeDate: (d: Date) => string,
  sliceMs = 4,
): Promise<string> {
  const w = new Writer(encodeDate, RESPONSE_HEAD, value, RESPONSE_TAIL);
  while (!w.run(performance.now() + sliceMs)) await nextTurn();
  return w.text();
}

/** A fault whose message is prepared() already (and cut to length). */
export function encodeFaultWith(code: number, message: string): string {
  return (
    `<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name>${numberValue(code)}</member>` +
    `<member><name>faultString</name>${stringXml(message)}</member></struct></value></fault></methodResponse>`
  );
}
