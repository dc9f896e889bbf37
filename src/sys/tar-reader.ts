// A small streaming reader of tar headers (ustar, GNU long names 'L'/'K', pax 'x' path and
// linkpath), fed chunk by chunk: the caller sees every entry's header and chooses which bodies
// to keep; every other body is skipped without copying. Enough for the data archive of a .deb
// (`dpkg-deb --fsys-tarfile`); anything malformed is PARSE_FAILED.
import { fail } from '../errors.js';

export interface TarEntry {
  /** as stored, without a leading './' or '/' */
  path: string;
  /** the typeflag: '0' file, '1' hard link, '2' symlink, '5' directory, ... */
  type: string;
  size: number;
  /** a link's target ('' for other entries) */
  linkPath: string;
}

/** What to do with an entry: keep its body (then `onBody`), skip it, or stop reading. */
export type TarChoice = 'keep' | 'skip' | 'stop';

const BLOCK = 512;
/** Long names and pax headers larger than this are not paths. */
const MAX_META = 64 * 1024;

function text(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end === -1 || end > start + len ? start + len : end);
}

function octal(b: Buffer, start: number, len: number, what: string): number {
  // GNU base-256 for values beyond the octal field
  if ((b[start]! & 0x80) !== 0) {
    let n = b[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) {
      n = n * 256 + b[i]!;
      if (n > Number.MAX_SAFE_INTEGER) fail('PARSE_FAILED', `tar header: ${what} too large`);
    }
    return n;
  }
  const s = text(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) fail('PARSE_FAILED', `tar header: ${what} is not octal`);
  return parseInt(s, 8);
}

function checksumOk(b: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  return sum === octal(b, 148, 8, 'checksum');
}

function cleanPath(p: string): string {
  let s = p;
  while (s.startsWith('./') || s.startsWith('/')) s = s.startsWith('./') ? s.slice(2) : s.slice(1);
  return s;
}

/** pax extended header records: "LEN key=value\n" */
function paxRecords(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    if (sp === -1 || sp - pos > 20) fail('PARSE_FAILED', 'tar: malformed pax header');
    const len = Number(body.toString('latin1', pos, sp));
    if (!Number.isInteger(len) || len <= sp - pos + 1 || pos + len > body.length) {
      fail('PARSE_FAILED', 'tar: malformed pax header');
    }
    const rec = body.toString('utf8', sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

export class TarReader {
  private head = Buffer.alloc(BLOCK);
  private headFill = 0;
  /** bytes of the current body still to come, then its padding */
  private bodyLeft = 0;
  private padLeft = 0;
  private keep: Buffer[] | null = null;
  private metaType: string | null = null;
  private current: TarEntry | null = null;
  private longName: string | null = null;
  private longLink: string | null = null;
  private pax = new Map<string, string>();
  /** the end-of-archive block was read, or the caller asked to stop */
  done = false;
  stopped = false;

  constructor(
    private readonly onEntry: (entry: TarEntry) => TarChoice,
    private readonly onBody: (entry: TarEntry, body: Buffer) => TarChoice = () => 'skip',
    private readonly maxKeep = 16 * 1024 * 1024,
  ) {}

  /** Feeds the next bytes of the archive. */
  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.done) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - pos);
        if (this.keep) this.keep.push(chunk.subarray(pos, pos + n));
        this.bodyLeft -= n;
        pos += n;
        if (this.bodyLeft === 0) this.bodyEnded();
        continue;
      }
      if (this.padLeft > 0) {
        const n = Math.min(this.padLeft, chunk.length - pos);
        this.padLeft -= n;
        pos += n;
        continue;
      }
      const n = Math.min(BLOCK - this.headFill, chunk.length - pos);
      chunk.copy(this.head, this.headFill, pos, pos + n);
      this.headFill += n;
      pos += n;
      if (this.headFill === BLOCK) {
        this.headFill = 0;
        this.header(this.head);
      }
    }
  }

  /** The archive's bytes ended: an error unless the end-of-archive block was read (or reading stopped). */
  end(): void {
    if (this.done) return;
    fail('PARSE_FAILED', 'tar: the archive ends early');
  }

  private header(b: Buffer): void {
    if (b.every((x) => x === 0)) {
      this.done = true; // end of archive (the second zero block is not needed)
      return;
    }
    if (!checksumOk(b)) fail('PARSE_FAILED', 'tar: bad header checksum (not a tar archive, or a corrupt one)');
    const type = String.fromCharCode(b[156] || 0x30);
    const size = octal(b, 124, 12, 'size');
    const ustar = b.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = ustar ? text(b, 345, 155) : '';
    const stored = prefix ? `${prefix}/${text(b, 0, 100)}` : text(b, 0, 100);
    this.padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    this.bodyLeft = size;
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > MAX_META) fail('PARSE_FAILED', `tar: a ${type} header of ${size} bytes`);
      this.metaType = type;
      this.keep = [];
      if (size === 0) this.bodyEnded();
      return;
    }
    const entry: TarEntry = {
      path: cleanPath(this.pax.get('path') ?? this.longName ?? stored),
      type,
      // hard links, symlinks and directories carry no body whatever their size field says
      size: type === '1' || type === '2' || type === '5' ? 0 : size,
      linkPath: this.pax.get('linkpath') ?? this.longLink ?? text(b, 157, 100),
    };
    this.longName = this.longLink = null;
    this.pax = new Map();
    this.bodyLeft = entry.size;
    this.padLeft = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    const choice = this.onEntry(entry);
    if (choice === 'stop') return this.stop();
    if (choice === 'keep') {
      if (entry.size > this.maxKeep) fail('PARSE_FAILED', `tar: ${entry.path} is larger than ${this.maxKeep} bytes`);
      this.keep = [];
      this.current = entry;
      if (entry.size === 0) this.bodyEnded();
    }
  }

  private bodyEnded(): void {
    const body = Buffer.concat(this.keep ?? []);
    this.keep = null;
    const meta = this.metaType;
    this.metaType = null;
    if (meta === 'L') this.longName = text(body, 0, body.length);
    else if (meta === 'K') this.longLink = text(body, 0, body.length);
    else if (meta === 'x') this.pax = paxRecords(body);
    else if (meta === 'g')
      return; // global pax defaults: nothing a path depends on
    else if (this.current) {
      const entry = this.current;
      this.current = null;
      if (this.onBody(entry, body) === 'stop') this.stop();
    }
  }

  private stop(): void {
    this.stopped = true;
    this.done = true;
  }
}
