// Writes one suite of a stage view: dists/<suite>/{<comp>/binary-<arch>/Packages{,.gz},Release,
// InRelease,Release.gpg}, signed with the server's key. Package paragraphs are the upstream
// paragraphs byte for byte (apt checks nothing of them against upstream, but clients, tools and
// the outdated computation must see exactly what upstream signed); only the selection changes.
//
// Everything streams: a source is read through openDecompressed and split into raw paragraphs
// without ever holding more than one paragraph and one chunk, Packages is written through a file
// stream and gzipped with zlib streams. The suite is built in a temporary directory next to its
// final place and renamed into place at the end.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { fail } from '../errors.js';
import { openDecompressed, type Compression } from '../sys/decompress.js';
import type { ServerKey } from './key.js';

export interface ParagraphFields {
  package: string;
  version: string;
  architecture: string;
  /** the source package name (without a "(version)") or, when absent, the package name */
  source: string;
  /** '' when the paragraph has none */
  filename: string;
}

export interface PublishSource {
  /** a stored upstream Packages file (absolute path) and its compression */
  file: string;
  compression: Compression;
  /** which paragraphs of it belong to the stage */
  keep: (p: ParagraphFields) => boolean;
}

export interface PublishTarget {
  component: string;
  architecture: string;
  sources: PublishSource[];
}

export interface ReleaseFields {
  origin?: string;
  label?: string;
  suite?: string;
  codename?: string;
  version?: string;
  description?: string;
  /** upstream's NotAutomatic / ButAutomaticUpgrades (backports, experimental): keep apt's pin priorities */
  notAutomatic?: boolean;
  butAutomaticUpgrades?: boolean;
}

export interface PublishInput {
  /** output directory; the files are written under <dir>/dists/<suite>/ */
  dir: string;
  suite: string;
  /** copied from the upstream Release (absent ones omitted) */
  fields: ReleaseFields;
  date: Date;
  targets: PublishTarget[];
  key: ServerKey;
}

export interface Published {
  inReleaseSha256: string;
  packages: number;
  filenames: Set<string>;
}

const NL = Buffer.from('\n');

function isBlank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0a) return false;
  }
  return true;
}

/**
 * Splits a deb822 byte stream into raw paragraphs: each one is its lines exactly as they came
 * (a missing final newline is added), without the blank or whitespace-only lines around it.
 * Chunks may cut lines and paragraphs anywhere.
 */
export async function* splitParagraphs(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let carry: Buffer | undefined; // an unfinished line
  let lines: Buffer[] = [];
  for await (const chunk of chunks) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (carry) buf = Buffer.concat([carry, buf]);
    carry = undefined;
    let start = 0;
    for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      const line = buf.subarray(start, nl + 1);
      start = nl + 1;
      if (!isBlank(line)) lines.push(line);
      else if (lines.length > 0) {
        yield Buffer.concat(lines);
        lines = [];
      }
    }
    if (start < buf.length) carry = buf.subarray(start);
  }
  if (carry && !isBlank(carry)) lines.push(carry, NL);
  if (lines.length > 0) yield Buffer.concat(lines);
}

const WANTED = new Set(['package', 'version', 'architecture', 'source', 'filename']);

/**
 * Package, Version, Architecture, Source and Filename of a raw paragraph (first line of each
 * value). Values are read from the bytes, so they do not keep the paragraph alive (a V8 string
 * slice would), which matters for the Filename set of a 63,000-paragraph index.
 */
export function paragraphFields(raw: Buffer): Partial<ParagraphFields> {
  const out: Record<string, string> = {};
  let found = 0;
  for (let i = 0; i < raw.length && found < WANTED.size;) {
    let nl = raw.indexOf(0x0a, i);
    if (nl === -1) nl = raw.length;
    const c = raw[i];
    if (c !== 0x20 && c !== 0x09) {
      let colon = i;
      const limit = Math.min(nl, i + 13);
      while (colon < limit && raw[colon] !== 0x3a) colon++;
      if (colon > i && colon < limit) {
        const name = raw.toString('latin1', i, colon).toLowerCase();
        if (WANTED.has(name) && out[name] === undefined) {
          out[name] = raw.toString('utf8', colon + 1, nl).trim();
          found++;
        }
      }
    }
    i = nl + 1;
  }
  const src = out.source?.split(/\s+/)[0];
  return {
    package: out.package,
    version: out.version,
    architecture: out.architecture,
    source: src || out.package,
    filename: out.filename ?? '',
  };
}

interface Written {
  rel: string;
  size: number;
  sha256: string;
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

const BATCH = 256 * 1024;

/** Packages and Packages.gz written side by side (zlib works on another thread), both hashed. */
class IndexWriter {
  private batch: Buffer[] = [];
  private bytes = 0;
  private readonly plain = new Hasher();
  private readonly gzip = createGzip({ level: 9 }); // zlib's gzip header has no name and mtime 0
  private readonly gz = new Hasher();
  private readonly done: Promise<unknown>;

  constructor(private readonly file: string) {
    this.done = Promise.all([
      pipeline(this.plain, createWriteStream(file, { mode: 0o644 })),
      pipeline(this.gzip, this.gz, createWriteStream(`${file}.gz`, { mode: 0o644 })),
    ]);
    this.done.catch(() => undefined); // awaited in end(); an early failure must not go unhandled
  }

  async write(b: Buffer): Promise<void> {
    this.batch.push(b);
    this.bytes += b.length;
    if (this.bytes >= BATCH) await this.flush();
  }

  async end(rel: string): Promise<Written[]> {
    await this.flush();
    this.plain.end();
    this.gzip.end();
    await this.done;
    return [
      { rel, size: this.plain.size, sha256: this.plain.hash.digest('hex') },
      { rel: `${rel}.gz`, size: this.gz.size, sha256: this.gz.hash.digest('hex') },
    ];
  }

  destroy(): void {
    this.plain.destroy();
    this.gzip.destroy();
  }

  private async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const b = Buffer.concat(this.batch);
    this.batch = [];
    this.bytes = 0;
    const waits: Promise<unknown>[] = [];
    if (!this.plain.write(b)) waits.push(once(this.plain, 'drain'));
    if (!this.gzip.write(b)) waits.push(once(this.gzip, 'drain'));
    if (waits.length === 0) return;
    const ended = this.done.then(() =>
      fail('EXEC_FAILED', `${this.file}: index stream ended early`, { file: this.file }),
    );
    await Promise.race([Promise.all(waits), ended]);
  }
}

async function writeTarget(
  suiteDir: string,
  t: PublishTarget,
  filenames: Set<string>,
): Promise<{ kept: number; files: Written[] }> {
  const relDir = `${t.component}/binary-${t.architecture}`;
  await mkdir(path.join(suiteDir, relDir), { recursive: true });
  const out = new IndexWriter(path.join(suiteDir, relDir, 'Packages'));
  // (package, version, architecture) kept once; only a second source can repeat one
  const seen = t.sources.length > 1 ? new Set<string>() : undefined;
  let kept = 0;
  try {
    for (const src of t.sources) {
      for await (const para of splitParagraphs(openDecompressed(src.file, src.compression))) {
        const f = paragraphFields(para);
        if (!f.package || !f.version || !f.architecture) {
          fail('PARSE_FAILED', `${src.file}: a paragraph without Package, Version or Architecture`, {
            file: src.file,
            at: para.subarray(0, 80).toString('utf8'),
          });
        }
        const p = f as ParagraphFields;
        const id = seen && `${p.package}\0${p.version}\0${p.architecture}`;
        if ((id && seen.has(id)) || !src.keep(p)) continue;
        if (id) seen.add(id);
        kept++;
        // every paragraph ends with a blank line, as in Debian's own Packages files
        await out.write(para);
        await out.write(NL);
        if (p.filename) filenames.add(p.filename);
      }
    }
    return { kept, files: await out.end(`${relDir}/Packages`) };
  } catch (err) {
    out.destroy();
    throw err;
  }
}

/** `Sat, 17 May 2025 09:11:54 UTC`, as Debian writes Release dates */
export function releaseDate(d: Date): string {
  if (Number.isNaN(d.getTime())) fail('RELEASE_INVALID', 'invalid Release date', {});
  return d.toUTCString().replace(/GMT$/, 'UTC');
}

function releaseText(input: PublishInput, files: Written[]): Buffer {
  const f = input.fields;
  const lines: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (value === undefined || value === '') return;
    if (/[\r\n]/.test(value)) fail('RELEASE_INVALID', `Release field ${name} spans lines`, { field: name });
    lines.push(`${name}: ${value.trim()}`);
  };
  add('Origin', f.origin);
  add('Label', f.label);
  add('Suite', f.suite);
  add('Version', f.version);
  add('Codename', f.codename);
  add('Date', releaseDate(input.date));
  if (f.notAutomatic) add('NotAutomatic', 'yes');
  if (f.butAutomaticUpgrades) add('ButAutomaticUpgrades', 'yes');
  add('Acquire-By-Hash', 'no');
  add('Architectures', [...new Set(input.targets.map((t) => t.architecture))].join(' '));
  add('Components', [...new Set(input.targets.map((t) => t.component))].join(' '));
  add('Description', f.description);
  lines.push('SHA256:');
  for (const w of [...files].sort((a, b) => (a.rel < b.rel ? -1 : 1)))
    lines.push(` ${w.sha256} ${String(w.size).padStart(16)} ${w.rel}`);
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]*(?:\/[A-Za-z0-9][A-Za-z0-9._+~-]*)*$/;

function validate(input: PublishInput): void {
  if (!NAME.test(input.suite))
    fail('BAD_PATH', `invalid suite name ${JSON.stringify(input.suite)}`, { suite: input.suite });
  if (input.targets.length === 0)
    fail('BAD_REQUEST', `suite ${input.suite}: nothing to publish`, { suite: input.suite });
  const seen = new Set<string>();
  for (const t of input.targets) {
    if (!NAME.test(t.component))
      fail('BAD_PATH', `invalid component ${JSON.stringify(t.component)}`, { component: t.component });
    if (!/^[a-z0-9][a-z0-9-]*$/.test(t.architecture))
      fail('BAD_PATH', `invalid architecture ${JSON.stringify(t.architecture)}`, { architecture: t.architecture });
    const id = `${t.component}/binary-${t.architecture}`;
    if (seen.has(id)) fail('BAD_REQUEST', `${id} given twice`, { target: id });
    seen.add(id);
  }
}

/** Replaces final by the directory tmp (a reader may see no directory for a moment). */
async function swapIn(tmp: string, final: string): Promise<void> {
  try {
    await rename(tmp, final);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  const old = `${tmp}.old`;
  await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
}

/** Writes <dir>/dists/<suite>/ for a stage: the kept paragraphs of every target, then the signed Release. */
export async function publishSuite(input: PublishInput): Promise<Published> {
  validate(input);
  const final = path.join(path.resolve(input.dir), 'dists', input.suite);
  await mkdir(path.dirname(final), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(final), `.${path.basename(final)}.new-`));
  try {
    await chmod(tmp, 0o755);
    const filenames = new Set<string>();
    const files: Written[] = [];
    let packages = 0;
    for (const t of input.targets) {
      const r = await writeTarget(tmp, t, filenames);
      packages += r.kept;
      files.push(...r.files);
    }
    const release = releaseText(input, files);
    const inRelease = await input.key.clearsign(release);
    const releaseGpg = await input.key.detachSign(release);
    await writeFile(path.join(tmp, 'Release'), release, { mode: 0o644 });
    await writeFile(path.join(tmp, 'Release.gpg'), releaseGpg, { mode: 0o644 });
    await writeFile(path.join(tmp, 'InRelease'), inRelease, { mode: 0o644 });
    await swapIn(tmp, final);
    return { inReleaseSha256: createHash('sha256').update(inRelease).digest('hex'), packages, filenames };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
