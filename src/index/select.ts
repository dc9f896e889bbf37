// The paragraphs of a Packages text that name wanted packages, without decoding or parsing the
// others: `aptgate outdated` needs the versions of the ~1,000 installed names out of 60,000+
// paragraphs. Paragraphs are split on empty lines by Buffer.indexOf (native) instead of the
// line-by-line parser, and only the wanted ones are parsed, by the real parser. Text the fast
// path cannot vouch for is handed to that parser whole.
import { Deb822Parser, type Deb822Options, type Paragraph } from './deb822.js';

const NL = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const PACKAGE = Buffer.from('Package:', 'latin1');
const BLANK = Buffer.from('\n\n', 'latin1');

/** The value of a one-line field, trimmed, when it is one printable ASCII word. */
function nameAt(buf: Buffer, from: number, to: number): string | undefined {
  while (from < to && (buf[from] === SP || buf[from] === TAB)) from++;
  while (to > from && (buf[to - 1] === SP || buf[to - 1] === TAB)) to--;
  if (from === to) return undefined;
  for (let i = from; i < to; i++) if (buf[i]! < 0x21 || buf[i]! > 0x7e) return undefined;
  return buf.toString('latin1', from, to);
}

/**
 * \r\n line ends, or a line of blanks only (deb822 ends a paragraph there too): splitting on
 * empty lines would not find every paragraph. apt writes neither into its lists.
 */
function splitUnsafe(buf: Buffer, from: number, to: number): boolean {
  const cr = buf.indexOf(CR, from);
  if (cr !== -1 && cr < to) return true;
  // a tab is rare in an index: one byte search (memchr) spares the two-byte one
  const tab = buf.indexOf(TAB, from);
  for (const tail of tab !== -1 && tab < to ? [' \n', '\t\n'] : [' \n']) {
    for (let i = buf.indexOf(tail, from); i !== -1 && i < to; i = buf.indexOf(tail, i + 1)) {
      let s = i;
      while (s > from && (buf[s - 1] === SP || buf[s - 1] === TAB)) s--;
      if (s === 0 || buf[s - 1] === NL) return true;
    }
  }
  return false;
}

/**
 * Feed bytes with write(), then end(): `emit` gets every paragraph whose Package field is in
 * `wanted`, in order, as parsing everything and filtering would give them (deb822.ts rules;
 * a paragraph that does not open with `Package: name` on a line of its own is parsed to learn
 * its name). Chunks may be reused by the caller once write() returns.
 */
export class PackageSelector {
  private work: Buffer = Buffer.alloc(0);
  /** bytes of `work` in use: an unfinished paragraph carried to the next chunk */
  private used = 0;
  /** once the text is found unsafe to split, the rest goes through the real parser */
  private parser: Deb822Parser | undefined;
  private readonly keep: (p: Paragraph) => void;

  constructor(
    private readonly wanted: ReadonlySet<string>,
    emit: (p: Paragraph) => void,
    private readonly opts: Deb822Options = {},
  ) {
    this.keep = (p) => {
      const name = p['package'];
      if (name !== undefined && wanted.has(name)) emit(p);
    };
    this.reader = new Deb822Parser(this.keep, opts);
  }

  write(chunk: Buffer): void {
    if (this.parser) return this.parser.write(chunk);
    const need = this.used + chunk.length;
    if (need > this.work.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.work.length * 2));
      this.work.copy(grown, 0, 0, this.used);
      this.work = grown;
    }
    chunk.copy(this.work, this.used);
    this.used = need;
    this.scan(false);
  }

  end(): void {
    if (!this.parser) this.scan(true);
    this.parser?.end();
  }

  // one parser for every paragraph read (its field-name cache is kept): each is written whole,
  // then an empty line ends it
  private readonly reader: Deb822Parser;

  private parse(from: number, to: number): void {
    this.reader.write(this.work.subarray(from, to));
    this.reader.write(BLANK);
  }

  /** Handles every complete paragraph of work[0, used) (all of it at the end) and keeps the rest. */
  private scan(last: boolean): void {
    // only the bytes written: beyond them are stale ones of earlier chunks (a "\n" there once
    // ended a paragraph early)
    const buf = this.work.subarray(0, this.used);
    const n = this.used;
    if (splitUnsafe(buf, 0, n)) {
      this.parser = new Deb822Parser(this.keep, this.opts);
      this.parser.write(buf.subarray(0, n));
      this.used = 0;
      if (last) this.parser.end();
      return;
    }
    let pos = 0;
    for (;;) {
      while (pos < n && buf[pos] === NL) pos++;
      if (pos >= n) break;
      let end = buf.indexOf(BLANK, pos);
      if (end === -1 || end >= n) {
        if (!last) break; // unfinished: wait for the next chunk
        end = n;
      }
      if (end - pos > PACKAGE.length && buf.compare(PACKAGE, 0, PACKAGE.length, pos, pos + PACKAGE.length) === 0) {
        let eol = buf.indexOf(NL, pos);
        if (eol === -1 || eol > end) eol = end;
        // a Package line continued on the next one: the parser decides what the name is
        const continued = eol < end && (buf[eol + 1] === SP || buf[eol + 1] === TAB);
        const name = continued ? undefined : nameAt(buf, pos + PACKAGE.length, eol);
        if (name !== undefined) {
          if (this.wanted.has(name)) this.parse(pos, end);
          pos = end;
          continue;
        }
      }
      this.parse(pos, end);
      pos = end;
    }
    // the unfinished paragraph moves to the front (its bytes are checked again with the next chunk)
    buf.copyWithin(0, pos, n);
    this.used = n - Math.min(pos, n);
  }
}

/** PackageSelector over a whole text. */
export function selectPackages(
  text: Buffer,
  wanted: ReadonlySet<string>,
  emit: (p: Paragraph) => void,
  opts: Deb822Options = {},
): void {
  const s = new PackageSelector(wanted, emit, opts);
  s.write(text);
  s.end();
}
