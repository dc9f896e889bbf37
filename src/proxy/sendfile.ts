// Sending a byte range of a cached file as a response body. With the native addon (built by
// node-gyp from native/sendfile.c at npm install) and a plain TCP connection, the kernel copies
// the file into the socket (sendfile on the addon's own threads), and a socket that stays full
// is watched by the addon's waiter thread: a client costs no buffer at all. Without the addon,
// a read/write loop reusing one 64 KiB buffer per client.
import { createRequire } from 'node:module';
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AptgateError } from '../errors.js';

interface Native {
  sendfile(outFd: number, inFd: number, offset: number, count: number, waitMs: number): Promise<number>;
  cork(fd: number, on: boolean): void;
  writable(fd: number, timeoutMs: number): Promise<boolean>;
  trim(): boolean;
  dup(fd: number): number;
  close(fd: number): void;
}

function loadNative(): Native | undefined {
  if (process.env.APTGATE_NO_SENDFILE === '1') return undefined;
  const require = createRequire(import.meta.url);
  // dist/src/proxy → the package root's build/ (checkout and installed package alike)
  for (const rel of ['../../../build/Release/aptgate_native.node', '../../build/Release/aptgate_native.node']) {
    try {
      return require(rel) as Native;
    } catch {
      // try the next location
    }
  }
  return undefined;
}

const native = loadNative();
export const sendfileAvailable = native !== undefined;

/**
 * Returns memory freed by fills to the system: glibc keeps freed heap pages otherwise, which
 * measured about 35 MB of resident memory after eight concurrent 96 MB fills.
 */
export function trimMemory(): void {
  native?.trim();
}

/** Process-wide counters, published as metrics. */
export const transferStats = { zeroCopyBytes: 0, copiedBytes: 0, slowClientWaits: 0 };

const CHUNK = 64 * 1024;
// one job sends up to 16 MiB (a few ms at loopback speed) before the event loop checks the
// connection again; a full socket is waited for 5 ms in the sender thread (measured: larger
// jobs help one fast client and hurt sixteen, see bench/RESULTS.md)
const JOB = 16 * 1024 * 1024;
const WAIT_MS = 5;
/** a client that takes no byte for this long is dropped (apt itself gives up after 30 s) */
const STALL_MS = 120_000;
const EMPTY = Buffer.alloc(0);

function socketFd(sock: Socket): number | undefined {
  if ((sock as Socket & { encrypted?: boolean }).encrypted) return undefined;
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

function write(sock: Socket, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Writes the headers already set on `res` and bytes [start, end] of the file, then ends the
 * response. Resolves with the body bytes sent; a failure destroys the connection (the client
 * sees an incomplete transfer).
 */
export async function sendFileBody(res: ServerResponse, fh: FileHandle, start: number, end: number): Promise<number> {
  let sent = 0;
  let fd: number | undefined;
  try {
    // a pipelined response gets its socket once the previous one is done
    const sock =
      res.socket ??
      (await new Promise<Socket>((resolve, reject) => {
        res.once('socket', resolve);
        res.once('close', () => reject(new AptgateError('BAD_REQUEST', 'connection closed before its turn')));
      }));
    // our own descriptor: if Node closes the connection, its number cannot be reused under us
    const nodeFd = native ? socketFd(sock) : undefined;
    fd = nodeFd === undefined ? undefined : native!.dup(nodeFd);
    // corked, headers and body leave in full segments and the end is pushed at once (the
    // same as nginx's tcp_nopush): measured +25% for one fast client, see bench/RESULTS.md
    if (fd !== undefined) native!.cork(fd, true);
    res.flushHeaders();
    // once the headers are in the kernel the socket is ours alone; they usually went at once,
    // else an empty write completes after them
    if (sock.writableLength > 0 || sock.writableCorked > 0) await write(sock, EMPTY);
    const stop = end + 1;
    let pos = start;
    let buf: Buffer | undefined;
    while (pos < stop) {
      if (sock.destroyed) throw new AptgateError('BAD_REQUEST', 'client went away');
      if (fd !== undefined) {
        const want = Math.min(stop - pos, JOB);
        const n = await native!.sendfile(fd, fh.fd, pos, want, WAIT_MS);
        pos += n;
        sent += n;
        transferStats.zeroCopyBytes += n;
        if (n === want || pos >= stop) continue;
        transferStats.slowClientWaits++;
        // a slow client: its socket is watched by the addon, no thread or buffer is held
        if (!(await native!.writable(fd, STALL_MS))) throw new AptgateError('BAD_REQUEST', 'client stopped reading');
        continue;
      }
      buf ??= Buffer.allocUnsafe(Math.min(CHUNK, stop - start));
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, stop - pos), pos);
      if (bytesRead === 0) throw new AptgateError('INTEGRITY', 'cached file shorter than announced');
      await write(sock, bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      pos += bytesRead;
      sent += bytesRead;
      transferStats.copiedBytes += bytesRead;
    }
    if (fd !== undefined) native!.cork(fd, false);
    res.end();
  } catch {
    res.destroy();
  } finally {
    if (fd !== undefined) native!.close(fd);
  }
  return sent;
}
