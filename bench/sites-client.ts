// bench:sites' apt clients, one process per site: node dist/bench/sites-client.js PLAN.json
// Each client does what `apt-get update && apt-get upgrade --download-only` does over HTTP with apt's defaults: one
// keep-alive connection to its proxy, the suite's InRelease, its Packages.xz by hash, then every .deb of the upgrade
// set, one request after another, each body checked against the size and SHA256 the index gives (apt's check). apt's
// headers (indexes with `Cache-Control: max-age=0`, as apt 2.6 sends them), and apt's retries: a request the server
// closed an idle keep-alive connection under is sent again at once on a new one, and a failed file is tried again up
// to Acquire::Retries (3, apt's default since 2.3) times, after 1, 2, then 4 s (Acquire::Retries::Delay). All clients
// start together (a maintenance window opening). Prints one CLIENTJSON line: wall time, per-client times and bytes
// (bodies, and what each connection read off the wire), retries, and the files that still failed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';

interface Wanted {
  rel: string;
  size: number;
  sha256: string;
  /** an index file (InRelease, Packages): apt asks with Cache-Control: max-age=0 */
  index?: boolean;
}

const RETRIES = 3;

export interface Plan {
  /** this process's clients (one site's) and the proxy they use */
  port: number;
  clients: number;
  /** when they all start (Date.now() ms): the processes of the other sites start at the same moment */
  startAt: number;
  /** path prefix at the proxy: /<prefix>/<rel> */
  prefix: string;
  files: Wanted[];
}

interface ClientResult {
  port: number;
  ms: number;
  bodyBytes: number;
  wireBytes: number;
  /** requests sent again after the server closed an idle keep-alive connection under them */
  resent: number;
  /** files fetched again after a failure (apt's Acquire::Retries) */
  retried: number;
  /** files that failed after every retry: apt-get would stop (Unable to fetch some archives) */
  errors: string[];
}

const [planFile] = process.argv.slice(2);
if (!planFile) {
  process.stderr.write('usage: sites-client.js PLAN.json\n');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(planFile, 'utf8')) as Plan;

function get(
  agent: Agent,
  port: number,
  want: Wanted,
  sockets: Set<Socket>,
): Promise<{ bytes: number; error?: string; closedBeforeAnswer?: boolean }> {
  return new Promise((resolve) => {
    let answered = false;
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/${plan.prefix}/${want.rel}`,
        agent,
        headers: {
          'user-agent': 'Debian APT-HTTP/1.3 (2.6.2)',
          ...(want.index ? { 'cache-control': 'max-age=0' } : {}),
          ...(want.rel.endsWith('/InRelease') ? { accept: 'text/*' } : {}),
        },
      },
      (res) => {
        answered = true;
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
        });
        res.on('end', () => {
          let error: string | undefined;
          if (res.statusCode !== 200) error = `${want.rel}: HTTP ${res.statusCode}`;
          else if (bytes !== want.size) error = `${want.rel}: ${bytes} bytes, not ${want.size}`;
          else if (hash.digest('hex') !== want.sha256) error = `${want.rel}: SHA256 mismatch`;
          resolve(error ? { bytes, error } : { bytes });
        });
        res.on('error', (e) => resolve({ bytes, error: `${want.rel}: ${e.message}` }));
      },
    );
    req.on('socket', (s: Socket) => sockets.add(s));
    req.setTimeout(600_000, () => req.destroy(new Error('timeout')));
    // a keep-alive connection the server closed as the request went out: apt sends it again on a new connection
    req.on('error', (e) =>
      resolve({ bytes: 0, error: `${want.rel}: ${e.message}`, closedBeforeAnswer: req.reusedSocket && !answered }),
    );
    req.end();
  });
}

async function client(port: number): Promise<ClientResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<Socket>();
  const r: ClientResult = { port, ms: 0, bodyBytes: 0, wireBytes: 0, resent: 0, retried: 0, errors: [] };
  const once = async (want: Wanted) => {
    let got = await get(agent, port, want, sockets);
    for (let n = 0; got.closedBeforeAnswer && n < 3; n++) {
      r.resent++;
      got = await get(agent, port, want, sockets);
    }
    r.bodyBytes += got.bytes;
    return got;
  };
  for (const want of plan.files) {
    let got = await once(want);
    for (let n = 0; got.error && n < RETRIES; n++) {
      r.retried++;
      await new Promise((res) => setTimeout(res, 1000 * 2 ** n));
      got = await once(want);
    }
    if (got.error) r.errors.push(got.error);
  }
  r.ms = Date.now() - plan.startAt;
  for (const s of sockets) r.wireBytes += s.bytesRead;
  agent.destroy();
  return r;
}

await new Promise((res) => setTimeout(res, Math.max(0, plan.startAt - Date.now())));
const results = await Promise.all(Array.from({ length: plan.clients }, () => client(plan.port)));
const wallMs = Date.now() - plan.startAt;
process.stdout.write(`CLIENTJSON ${JSON.stringify({ wallMs, clients: results })}\n`);
