// The second client of bench:lag, in its own thread (its timing does not depend on what the
// bench's main thread is doing): GETs one cached .deb over a keep-alive connection, one request
// every few milliseconds, and records each latency (request sent → whole body read).
// Messages in: {url, path, size} to start, 'mark' (answer: latencies since the last mark), 'stop'.
import { parentPort } from 'node:worker_threads';
import { Pool } from 'undici';

const GAP_MS = 5;

let pool: Pool | undefined;
let target: { url: string; path: string; size: number } | undefined;
let running = false;
let lat: number[] = [];
let errors = 0;
let notHit = 0;

async function loop(): Promise<void> {
  while (running) {
    const t0 = performance.now();
    try {
      pool ??= new Pool(target!.url, { connections: 1, pipelining: 1, keepAliveTimeout: 60_000 });
      const res = await pool.request({ path: target!.path, method: 'GET' });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200 || body.length !== target!.size)
        throw new Error(`HTTP ${res.statusCode}, ${body.length} bytes`);
      if (res.headers['x-aptgate-result'] !== 'hit') notHit++;
      lat.push(performance.now() - t0);
    } catch {
      // the server is restarting (or refused): count it, start over on a new connection
      errors++;
      const p = pool;
      pool = undefined;
      await p?.destroy().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
}

parentPort!.on('message', (m: 'mark' | 'stop' | { url: string; path: string; size: number }) => {
  if (m === 'mark') {
    parentPort!.postMessage({ latencies: lat, errors, notHit });
    lat = [];
    errors = 0;
    notHit = 0;
  } else if (m === 'stop') {
    running = false;
    void pool?.close().finally(() => process.exit(0));
    if (!pool) process.exit(0);
  } else {
    target = m;
    running = true;
    void loop();
  }
});
