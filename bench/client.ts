// A lean HTTP/1.1 load client for large bodies, run as its own process by bench/proxy.ts:
//   node dist/bench/client.js PORT CONNECTIONS SECONDS PATHS_FILE
// Keep-alive connections, each asking for the paths in turn and discarding the bodies. Reads
// go into one 1 MiB buffer (net's `onread`), so the client costs little CPU per byte; wrk reads
// 8 KiB at a time and becomes the bottleneck for large files on loopback. Prints one JSON line.
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';

interface Result {
  requests: number;
  bytes: number;
  seconds: number;
  errors: number;
  statuses: Record<string, number>;
}

const [portArg, connsArg, secondsArg, pathsFile] = process.argv.slice(2);
if (!portArg || !connsArg || !secondsArg || !pathsFile) {
  process.stderr.write('usage: client.js PORT CONNECTIONS SECONDS PATHS_FILE\n');
  process.exit(2);
}
const port = Number(portArg);
const conns = Number(connsArg);
const seconds = Number(secondsArg);
const paths = readFileSync(pathsFile, 'utf8').split('\n').filter(Boolean);

const shared = Buffer.allocUnsafe(1 << 20);
const result: Result = { requests: 0, bytes: 0, seconds: 0, errors: 0, statuses: {} };
const t0 = performance.now();
const deadline = t0 + seconds * 1000;

function connection(id: number): Promise<void> {
  return new Promise((resolve) => {
    let next = id * 7919;
    let inHead = true;
    let head = '';
    let left = 0;
    let sock: Socket;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve();
    };
    const send = () => {
      if (performance.now() >= deadline) return finish();
      const p = paths[next++ % paths.length]!;
      inHead = true;
      head = '';
      sock.write(
        `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: aptgate-bench-client\r\nAccept: */*\r\n\r\n`,
      );
    };
    const open = () => {
      sock = connect(
        {
          host: '127.0.0.1',
          port,
          onread: {
            buffer: shared,
            callback: (n: number, buf: Uint8Array) => {
              result.bytes += n;
              if (inHead) {
                head += Buffer.from(buf.buffer, buf.byteOffset, n).toString('latin1');
                const end = head.indexOf('\r\n\r\n');
                if (end === -1) return true;
                const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? '???';
                result.statuses[status] = (result.statuses[status] ?? 0) + 1;
                if (status !== '200') result.errors++;
                const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, end));
                if (!cl) {
                  result.errors++;
                  finish();
                  return false;
                }
                left = Number(cl[1]) - (head.length - end - 4);
                inHead = false;
              } else {
                left -= n;
              }
              if (left <= 0) {
                result.requests++;
                send();
              }
              return true;
            },
          },
        },
        send,
      );
      sock.on('error', () => {
        result.errors++;
      });
      sock.on('close', () => {
        if (done) return;
        if (performance.now() < deadline) open();
        else finish();
      });
    };
    open();
    setTimeout(finish, Math.max(0, deadline - performance.now())).unref();
  });
}

await Promise.all(Array.from({ length: conns }, (_, i) => connection(i)));
result.seconds = (performance.now() - t0) / 1000;
process.stdout.write(`CLIENTJSON ${JSON.stringify(result)}\n`);
process.exit(0);
