// HTTP clients for tests: node:http with raw (never normalised) request targets, absolute-form
// for proxy mode, and a raw socket for pipelining and malformed requests.
import http from 'node:http';
import net from 'node:net';

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** the whole announced body arrived */
  complete: boolean;
  error: Error | undefined;
  /** ms from the request to the first body byte (undefined without body) */
  firstByteAt: number | undefined;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** called with the running byte count as body chunks arrive */
  onData?: (total: number) => void;
  localAddress?: string;
}

/** `target` is sent as is: an origin-form path or an absolute URL (proxy mode). */
export function request(port: number, target: string, opts: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: target,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let total = 0;
        let firstByteAt: number | undefined;
        let error: Error | undefined;
        res.on('data', (c: Buffer) => {
          firstByteAt ??= Date.now() - started;
          chunks.push(c);
          total += c.length;
          opts.onData?.(total);
        });
        res.on('error', (e) => {
          error = e;
        });
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            complete: res.complete && !error,
            error,
            firstByteAt,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Writes raw bytes on one connection and collects everything until the server closes or `until` holds. */
export function rawExchange(port: number, data: string, until?: (received: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (c: string) => {
      got += c;
      if (until?.(got)) sock.destroy();
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(got));
    sock.write(data);
  });
}

/** Splits a raw HTTP/1.1 response stream into responses (Content-Length framed). */
export function splitResponses(raw: string): Array<{ status: number; headers: Record<string, string>; body: string }> {
  const out = [];
  let rest = raw;
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] ?? 0);
    const bodyless = status === 304 || status === 204;
    const body = bodyless ? '' : rest.slice(end + 4, end + 4 + len);
    out.push({ status, headers, body });
    rest = rest.slice(end + 4 + (bodyless ? 0 : len));
  }
  return out;
}
