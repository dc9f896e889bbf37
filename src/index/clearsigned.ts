// The OpenPGP armor apt accepts for signed roots, checked the way apt checks it
// (apt-pkg/contrib/gpgv.cc: SplitClearSignedFile, and ExecGPGV for detached signatures).
// apt splits an InRelease into its text and its signature and verifies those two parts; a
// file with anything before the signed-message line or after the last signature block (a
// second signed message, text, even an empty line) is refused ("Splitting up ... into data and
// signature failed"). aptgate splits exactly as apt does, so it verifies, parses and serves the
// very text apt will trust, and refuses what apt would refuse.
import { fail } from '../errors.js';

const BEGIN_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';
const DASH = 0x2d;
/** input bytes between two yields of the sliced split (a few ms of work) */
const SLICE_BYTES = 512 * 1024;

export interface ClearsignedParts {
  /**
   * the signed text as apt extracts it: lines without trailing blanks, dash-escapes undone, joined by \n, no final
   * newline
   */
  text: Buffer;
  /** the signature block(s), armored, one line each */
  signature: Buffer;
}

/** Lines as apt's LineBuffer reads them: newline, then trailing \r\n, then trailing blanks and tabs removed. */
class Lines {
  start = 0;
  end = 0;
  no = 0;
  private pos = 0;

  constructor(private readonly doc: Buffer) {}

  next(): boolean {
    const doc = this.doc;
    if (this.pos >= doc.length) return false;
    const nl = doc.indexOf(0x0a, this.pos);
    let end = nl === -1 ? doc.length : nl;
    while (end > this.pos && doc[end - 1] === 0x0d) end--;
    while (end > this.pos && (doc[end - 1] === 0x20 || doc[end - 1] === 0x09)) end--;
    this.start = this.pos;
    this.end = end;
    this.pos = nl === -1 ? doc.length : nl + 1;
    this.no++;
    return true;
  }

  empty(): boolean {
    return this.end === this.start;
  }

  dash(): boolean {
    return this.doc[this.start] === DASH && this.end > this.start;
  }

  is(s: string): boolean {
    return this.end - this.start === s.length && this.doc.toString('latin1', this.start, this.end) === s;
  }
}

/** Concatenates ranges of the document into one buffer, copying runs of unchanged lines at once. */
class Builder {
  private readonly out: Buffer;
  private pos = 0;
  private s = -1;
  private e = -1;

  constructor(
    private readonly doc: Buffer,
    capacity: number,
  ) {
    this.out = Buffer.allocUnsafe(capacity);
  }

  take(s: number, e: number): void {
    if (s === this.e) {
      this.e = e;
      return;
    }
    this.flush();
    this.s = s;
    this.e = e;
  }

  newline(): void {
    // the document's own newline follows an unchanged line: keep the range going
    if (this.e >= 0 && this.doc[this.e] === 0x0a) {
      this.e++;
      return;
    }
    this.flush();
    this.out[this.pos++] = 0x0a;
  }

  done(): Buffer {
    this.flush();
    return this.out.subarray(0, this.pos);
  }

  private flush(): void {
    if (this.e > this.s) this.pos += this.doc.copy(this.out, this.pos, this.s, this.e);
    this.s = -1;
    this.e = -1;
  }
}

function refuse(what: string, reason: string, line?: number): never {
  fail('SIGNATURE', `${what}: apt refuses it: ${reason}${line === undefined ? '' : ` (line ${line})`}`, {
    status: 'FORMAT',
    ...(line === undefined ? {} : { line }),
  });
}

/**
 * Splits a clearsigned document into the signed text and its signature, exactly as apt does;
 * throws SIGNATURE (status FORMAT) for everything apt refuses. No signature is checked here.
 */
export function splitClearsigned(doc: Buffer, what = 'InRelease'): ClearsignedParts {
  const run = split(doc, what);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/**
 * splitClearsigned() in slices of the event loop, for documents straight from a mirror (up to
 * the size limit of a root, whatever their lines look like).
 */
export async function splitClearsignedInSlices(doc: Buffer, what = 'InRelease'): Promise<ClearsignedParts> {
  const run = split(doc, what);
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function* split(doc: Buffer, what: string): Generator<void, ClearsignedParts> {
  const l = new Lines(doc);
  let mark = 0;
  if (!l.next() || !l.is(BEGIN_MESSAGE)) refuse(what, `it does not start with "${BEGIN_MESSAGE}"`, 1);
  // armor headers, up to an empty line (their values do not matter: the signature names its hash)
  for (;;) {
    if (!l.next()) refuse(what, 'it ends inside the armor headers');
    if (l.empty()) break;
    if (l.dash()) refuse(what, 'an armor header starts with a dash', l.no);
    if (l.start - mark > SLICE_BYTES) {
      mark = l.start;
      yield;
    }
  }
  const text = new Builder(doc, doc.length);
  let first = true;
  for (;;) {
    if (!l.next()) refuse(what, 'it has no signature');
    if (l.dash()) {
      if (l.is(BEGIN_SIGNATURE)) break;
      // apt does not read dash lines as text: a second message or a stray armor line
      if (l.end - l.start < 2 || doc[l.start + 1] !== 0x20)
        refuse(what, 'a line of the signed text starts with a dash', l.no);
      if (!first) text.newline();
      text.take(l.start + 2, l.end);
    } else {
      if (!first) text.newline();
      text.take(l.start, l.end);
    }
    first = false;
    if (l.start - mark > SLICE_BYTES) {
      mark = l.start;
      yield;
    }
  }
  const signature = new Builder(doc, doc.length - l.start + 1);
  signature.take(l.start, l.end);
  signature.newline();
  let open = true;
  while (l.next()) {
    if (open) {
      open = insideSignature(l, what);
    } else if (l.is(BEGIN_SIGNATURE)) {
      open = true;
    } else {
      refuse(what, l.empty() ? 'an empty line follows the signature' : 'text follows the signature', l.no);
    }
    signature.take(l.start, l.end);
    signature.newline();
    if (l.start - mark > SLICE_BYTES) {
      mark = l.start;
      yield;
    }
  }
  if (open) refuse(what, 'the signature is not closed');
  return { text: text.done(), signature: signature.done() };
}

/** A line inside an armored signature block: whether the block goes on after it. */
function insideSignature(l: Lines, what: string): boolean {
  if (l.is(END_SIGNATURE)) return false;
  if (l.dash()) refuse(what, 'a line of the signature starts with a dash', l.no);
  return true;
}

/**
 * A detached signature (Release.gpg) as apt accepts it: one or more armored signature blocks
 * and no other line, not even an empty one; throws SIGNATURE (status FORMAT) otherwise.
 */
export function checkDetachedSignature(sig: Buffer, what = 'Release.gpg'): void {
  const l = new Lines(sig);
  let open = false;
  let blocks = 0;
  while (l.next()) {
    if (open) {
      open = insideSignature(l, what);
    } else if (l.is(BEGIN_SIGNATURE)) {
      open = true;
      blocks++;
    } else {
      refuse(what, blocks ? 'a line outside the signature blocks' : 'not an armored signature', l.no);
    }
  }
  if (!blocks) refuse(what, 'no signature');
  if (open) refuse(what, 'the signature is not closed');
}
