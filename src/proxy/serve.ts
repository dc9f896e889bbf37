// Writing an answer the way apt expects: Last-Modified, Content-Length, Content-Type, 304 with
// validators only, single byte ranges (206 / 416 with `bytes */N`), If-Range by date, HEAD
// without body. Bodies are streamed with backpressure (a cache file with sendfile); an error
// mid-body destroys the connection so the client sees an incomplete transfer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Answer, RelayAnswer, RepresentationAnswer } from './answer.js';
import { notModified, rangeOf } from './conditional.js';
import { statusLineText } from './reason.js';
import { sendFileBody } from './sendfile.js';

// kept importable from here (unit-serve)
export { notModified, parseRange } from './conditional.js';

export interface Served {
  status: number;
  /** resolves with the body bytes written once the response is over */
  bytes: Promise<number>;
}

/** Serves what the domain decided; the answer's `done` runs once the response is over. */
export function serveAnswer(req: IncomingMessage, res: ServerResponse, answer: Answer): Served {
  if (answer.kind === 'relay') return serveRelay(req, res, answer);
  let served: Served;
  try {
    served = serveRepresentation(req, res, answer);
  } catch (err) {
    answer.done?.(0);
    throw err;
  }
  const done = answer.done;
  if (done) void served.bytes.then(done);
  return served;
}

function serveRepresentation(req: IncomingMessage, res: ServerResponse, a: RepresentationAnswer): Served {
  const head = req.method === 'HEAD';
  for (const k in a.headers) res.setHeader(k, a.headers[k]!);
  res.setHeader('Last-Modified', a.lastModified.toUTCString());
  if (notModified(req, a.lastModified)) {
    // validators only: a Content-Type here makes apt expect a body (reference 1.7)
    res.writeHead(304);
    res.end();
    return { status: 304, bytes: Promise.resolve(0) };
  }
  let start = 0;
  let end: number | undefined;
  let status = 200;
  if (a.size !== undefined) {
    res.setHeader('Accept-Ranges', 'bytes');
    const range = rangeOf(req, a.size, a.lastModified);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${a.size}`, 'Content-Length': '0' });
      res.end();
      return { status: 416, bytes: Promise.resolve(0) };
    }
    if (range) {
      status = 206;
      start = range.start;
      end = range.end;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${a.size}`);
    }
    res.setHeader('Content-Length', String((end ?? a.size - 1) - start + 1));
  }
  res.setHeader('Content-Type', a.contentType);
  res.writeHead(status);
  if (head) {
    res.end();
    return { status, bytes: Promise.resolve(0) };
  }
  const src = a.source;
  switch (src.kind) {
    case 'memory': {
      const body = src.body.subarray(start, end === undefined ? undefined : end + 1);
      res.end(body);
      return { status, bytes: Promise.resolve(body.length) };
    }
    case 'file':
      return { status, bytes: sendFileBody(res, src.fh, start, end ?? a.size! - 1) };
    case 'stream':
      return { status, bytes: pipeBody(src.open(start, end), res) };
  }
}

/** Upstream's status and headers as they came; HEAD and 304 without a body. */
function serveRelay(req: IncomingMessage, res: ServerResponse, a: RelayAnswer): Served {
  res.writeHead(a.status, a.headers);
  if (req.method === 'HEAD' || a.status === 304) {
    a.body.destroy();
    res.end();
    return { status: a.status, bytes: Promise.resolve(0) };
  }
  return { status: a.status, bytes: pipeBody(a.body, res) };
}

/** Streams with backpressure; a failing source destroys the response (incomplete transfer). */
export function pipeBody(body: Readable, res: ServerResponse): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      resolve(bytes);
    };
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (!res.write(chunk)) body.pause();
    });
    res.on('drain', () => body.resume());
    body.on('end', () => {
      res.end();
      finish();
    });
    body.on('error', () => {
      res.destroy();
      finish();
    });
    res.on('close', () => {
      // the client went away (or the response ended): stop reading for it
      if (!body.destroyed) body.destroy();
      finish();
    });
  });
}

/** An error answer; `reason` replaces the standard reason phrase (as printable ASCII of bounded length). */
export function serveError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  reason?: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${code}: ${message}\n`;
  if (reason) res.statusMessage = statusLineText(reason);
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'X-Aptgate-Error': code,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
