// Decompression of index files by name: xz through the xz program (Node has no xz),
// gzip through zlib, anything else as is.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { PassThrough, type Readable } from 'node:stream';
import { AptgateError } from '../errors.js';

export type Compression = 'xz' | 'gz' | 'none';

export function compressionOf(name: string): Compression | undefined {
  if (name.endsWith('.xz')) return 'xz';
  if (name.endsWith('.gz')) return 'gz';
  if (/\.(bz2|lzma|lz4|zst)$/.test(name)) return undefined;
  return 'none';
}

/** A stream of the decompressed content of `file`; errors (including xz's) surface on the stream. */
export function openDecompressed(file: string, compression: Compression): Readable {
  if (compression === 'none') return createReadStream(file, { highWaterMark: 256 * 1024 });
  if (compression === 'gz') {
    const gunzip = createGunzip();
    const src = createReadStream(file, { highWaterMark: 256 * 1024 });
    src.on('error', (e) => gunzip.destroy(e));
    return src.pipe(gunzip);
  }
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const child = spawn('xz', ['--decompress', '--stdout', '--', file], { shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  child.stdout.pipe(out, { end: false });
  child.on('error', (e) => out.destroy(new AptgateError('DECOMPRESS_FAILED', `xz: ${e.message}`, { file })));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new AptgateError('DECOMPRESS_FAILED', `xz exited ${code}: ${stderr.trim()}`, { file }));
  });
  // a consumer that stops early must not leave xz running
  out.on('close', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return out;
}
