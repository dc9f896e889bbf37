// Streaming deb822 reader (Packages, Release, dpkg status). Bytes are decoded with a
// StringDecoder so a UTF-8 character split across chunks stays whole; a blank or
// whitespace-only line ends a paragraph; a line starting with space or tab continues the
// previous field (its first blank is dropped); a trailing \r is ignored. Field names are
// case-insensitive in deb822 and come out lower-cased.
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

export type Paragraph = Record<string, string>;

export interface Deb822Options {
  /** lower-case names of the fields to keep; all fields when absent */
  fields?: ReadonlySet<string>;
}

export class Deb822Parser {
  private readonly decoder = new StringDecoder('utf8');
  private readonly fields: ReadonlySet<string> | undefined;
  private readonly lowerCache = new Map<string, string>();
  private rest = '';
  private current: Paragraph | null = null;
  private field: string | null = null;
  private skipping = false;

  constructor(
    private readonly emit: (p: Paragraph) => void,
    opts: Deb822Options = {},
  ) {
    this.fields = opts.fields;
  }

  write(chunk: Buffer | string): void {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      this.line(text, start, nl);
      start = nl + 1;
    }
    this.rest = text.slice(start);
  }

  end(): void {
    const text = this.rest + this.decoder.end();
    this.rest = '';
    if (text.length) this.line(text, 0, text.length);
    this.flush();
  }

  private line(text: string, start: number, end: number): void {
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    const first = start < end ? text.charCodeAt(start) : -1;
    if (first === 32 || first === 9) {
      // continuation, or a whitespace-only line that ends the paragraph
      let i = start;
      while (i < end && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
      if (i === end) return this.flush();
      if (this.skipping || this.field === null || this.current === null) return;
      this.current[this.field] += '\n' + text.slice(start + 1, end);
      return;
    }
    if (first === -1) return this.flush();
    if (first === 35 && this.current === null) return; // comment line outside a paragraph
    const colon = text.indexOf(':', start);
    if (colon === -1 || colon >= end) {
      // a malformed line: keep the parser going, the field is dropped
      this.field = null;
      this.skipping = true;
      return;
    }
    const raw = text.slice(start, colon);
    let name = this.lowerCache.get(raw);
    if (name === undefined) {
      name = raw.trim().toLowerCase();
      if (this.lowerCache.size < 4096) this.lowerCache.set(raw, name);
    }
    this.current ??= Object.create(null) as Paragraph;
    if (this.fields && !this.fields.has(name)) {
      this.skipping = true;
      this.field = null;
      return;
    }
    this.skipping = false;
    this.field = name;
    this.current[name] = text.slice(colon + 1, end).trim();
  }

  private flush(): void {
    if (this.current !== null) {
      const p = this.current;
      this.current = null;
      this.field = null;
      this.skipping = false;
      this.emit(p);
    }
  }
}

/** Every paragraph of a whole text. */
export function parseParagraphs(text: string, opts: Deb822Options = {}): Paragraph[] {
  const out: Paragraph[] = [];
  const p = new Deb822Parser((x) => out.push(x), opts);
  p.write(text);
  p.end();
  return out;
}

/** Feeds a byte stream through the parser, calling `onParagraph` for each paragraph. */
export async function parseStream(
  stream: Readable,
  onParagraph: (p: Paragraph) => void,
  opts: Deb822Options = {},
): Promise<void> {
  const parser = new Deb822Parser(onParagraph, opts);
  for await (const chunk of stream) parser.write(chunk as Buffer);
  parser.end();
}

const COMPRESSED: ReadonlyArray<[string, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x04, 0x22, 0x4d, 0x18]],
];

/**
 * Why bytes cannot be deb822 text (compressed or binary data: deb822 text never holds a NUL
 * byte), or undefined. `atStart`: the bytes are the beginning of the file (magic numbers count).
 */
export function notText(bytes: Buffer, atStart = true): string | undefined {
  if (atStart) {
    for (const [name, magic] of COMPRESSED) {
      if (bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)) return `${name}-compressed data`;
    }
  }
  const nul = bytes.indexOf(0);
  return nul === -1 ? undefined : `binary data (a NUL byte at offset ${nul})`;
}
