// Decompression of index files by name: xz, lz4 and zstd through their programs (Node 20 has
// none of them), gzip through zlib, anything else as is.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { PassThrough, type Readable } from 'node:stream';
import { AptgateError } from '../errors.js';

export type Compression = 'xz' | 'gz' | 'lz4' | 'zst' | 'none';

export function compressionOf(name: string): Compression | undefined {
  if (name.endsWith('.xz')) return 'xz';
  if (name.endsWith('.gz')) return 'gz';
  if (name.endsWith('.lz4')) return 'lz4';
  if (name.endsWith('.zst')) return 'zst';
  if (/\.(bz2|lzma)$/.test(name)) return undefined;
  return 'none';
}

// apt (Acquire::GzipIndexes) may keep lists as .lz4; zstd is used by newer archives
const PROGRAMS: Record<'xz' | 'lz4' | 'zst', [string, string[]]> = {
  xz: ['xz', ['--decompress', '--stdout', '--']],
  lz4: ['lz4', ['-d', '-c', '--']],
  zst: ['zstd', ['-d', '-c', '-q', '--']],
};

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
  const [program, args] = PROGRAMS[compression];
  const child = spawn(program, [...args, file], { shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  child.stdout.pipe(out, { end: false });
  child.on('error', (e) => out.destroy(new AptgateError('DECOMPRESS_FAILED', `${program}: ${e.message}`, { file })));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new AptgateError('DECOMPRESS_FAILED', `${program} exited ${code}: ${stderr.trim()}`, { file }));
  });
  // a consumer that stops early must not leave the program running
  out.on('close', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return out;
}
