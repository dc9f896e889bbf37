// `npm run bench:sites` (issue 18): site caches under a central server. 2 sites × 50 clients upgrade the same set of
// real .debs at the same moment; measured: wall time until every client is done, and the bytes over each parent link
// (counting relays, sites-relay.ts), for three topologies in the same run:
//
//   aptgate-sites   clients → aptgate site ×2 → [relay] → central aptgate → [relay] → nginx upstream
//   aptgate-direct  clients (all 100) → central aptgate → [relay] → nginx upstream
//   acng-chain      clients → apt-cacher-ng site ×2 (Proxy: the central) → [relay] → central apt-cacher-ng → [relay] →
//                   nginx upstream
//
// A site is today an aptgate whose backend's one mirror is the central's /<backend> (test/issue-18-chain.test.ts);
// `[site] parent` does the same remap. Every round starts each topology with empty caches (the cold pass: the window
// opens, nothing is at the sites yet), then runs the same clients again on the filled caches (the warm pass: what a
// site serves once the set is there, e.g. preloaded). Clients: bench/sites-client.ts (apt's requests over HTTP, one
// keep-alive connection each, bodies checked against their SHA256), in a process of their own.
//
// Environment: BENCH_SITES_CLIENTS (per site, 50), BENCH_SITES_PACKAGES (40), BENCH_SITES_MB (32), BENCH_SITES_ROUNDS
// (3, median reported), BENCH_KEEP=1 keeps bench/work/sites, BENCH_NO_RESULTS=1 leaves RESULTS.md alone.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeTestKey, loadTestKey, type TestKey } from '../test/helpers/gpg.js';
import {
  REPO,
  appendResults,
  commandOutput,
  debVersion,
  machineFacts,
  mdTable,
  median,
  sleep,
  sumMb,
  type Started,
  textTable,
  today,
} from './common.js';
import { cpuSeconds } from './proxy-load.js';
import type { Plan } from './sites-client.js';
import {
  CLIENTS,
  LINK_MBIT,
  PACKAGES,
  PREFIX,
  ROUNDS,
  SET_MB,
  SITES,
  TOPOLOGIES,
  WORK,
  log,
  procs,
  type Topology,
} from './sites-common.js';
import { writeUpstream, type UpgradeSet } from './sites-repo.js';
import { startTopology, startUpstream, type Running } from './sites-servers.js';

interface ClientRun {
  wallMs: number;
  clients: Array<{
    port: number;
    ms: number;
    bodyBytes: number;
    wireBytes: number;
    resent: number;
    retried: number;
    errors: string[];
  }>;
}

/** One pass of all clients against a running topology. */
interface Pass {
  wallMs: number;
  p50Ms: number;
  clientWire: number;
  upstreamDown: number;
  upstreamRequests: number;
  /** bytes central → sites (sum over the site links); for aptgate-direct: central → clients */
  parentDown: number;
  parentRequests: number;
  perLink: Array<{ name: string; down: number; requests: number }>;
  cpuSeconds: number;
  /** files fetched again after a failure (apt's Acquire::Retries), and files failed after every retry */
  retried: number;
  failedFiles: number;
  failedClients: number;
  /** a cache process exited during the pass (its clients were stopped; the figures are NaN) */
  crashed?: string;
}

interface RoundResult {
  cold: Pass;
  warm: Pass;
  hwmMb: number;
}

const crashedPass = (what: string): Pass => ({
  wallMs: NaN,
  p50Ms: NaN,
  clientWire: NaN,
  upstreamDown: NaN,
  upstreamRequests: NaN,
  parentDown: NaN,
  parentRequests: NaN,
  perLink: [],
  cpuSeconds: NaN,
  retried: NaN,
  failedFiles: NaN,
  failedClients: NaN,
  crashed: what,
});

const MB = 1048576;

async function runClients(run: Running, files: UpgradeSet, tag: string, started: Started[]): Promise<ClientRun> {
  // one process per site, all starting at the same moment (after every process has loaded)
  const startAt = Date.now() + 1500;
  const runs = run.clientPorts.map(async (port, i) => {
    const plan: Plan = { port, clients: CLIENTS, startAt, prefix: PREFIX, files: [...files.indexes, ...files.debs] };
    const planFile = join(WORK, `plan-${tag}-${i + 1}.json`);
    const out = join(WORK, `clients-${tag}-${i + 1}.out`);
    writeFileSync(planFile, JSON.stringify(plan));
    writeFileSync(out, '');
    const s = procs.start('clients', process.execPath, [join(REPO, 'dist', 'bench', 'sites-client.js'), planFile], {
      logFile: out,
    });
    started.push(s);
    const code = await s.exited;
    await procs.stop(s);
    const text = readFileSync(out, 'utf8');
    const m = /CLIENTJSON (\{.*\})/.exec(text);
    if (code !== 0 || !m) throw new Error(`clients failed (exit ${code}):\n${text.slice(0, 4000)}`);
    return JSON.parse(m[1]!) as ClientRun;
  });
  const all = await Promise.all(runs);
  const r: ClientRun = { wallMs: Math.max(...all.map((x) => x.wallMs)), clients: all.flatMap((x) => x.clients) };
  // files that failed after apt's retries are a result (reported), not a failure of the bench
  const errors = r.clients.flatMap((c) => c.errors);
  if (errors.length > 0)
    log(`  ${tag}: ${errors.length} files failed after apt's retries, e.g. ${errors.slice(0, 3).join('; ')}`);
  return r;
}

async function pass(run: Running, files: UpgradeSet, tag: string): Promise<Pass> {
  for (const l of run.links) l.relay.reset();
  const cpu0 = cpuSeconds(run.pids());
  const clients: Started[] = [];
  const running = runClients(run, files, tag, clients);
  const first = await Promise.race([running.then((r) => ({ r })), run.crashed.then((c) => ({ c }))]);
  if ('c' in first) {
    // a cache died under the load: its clients would only wait out apt's retries
    for (const s of clients) await procs.stop(s);
    await running.catch(() => undefined);
    log(`  ${tag}: CRASH: ${first.c}`);
    return crashedPass(first.c);
  }
  const r = first.r;
  await sleep(200); // the last relayed bytes
  const cpu = cpuSeconds(run.pids()) - cpu0;
  const counts = run.links.map((l) => ({ name: l.name, c: l.relay.reset() }));
  const up = counts.find((c) => c.name.startsWith('upstream'))!.c;
  const sites = counts.filter((c) => !c.name.startsWith('upstream'));
  const clientWire = r.clients.reduce((a, c) => a + c.wireBytes, 0);
  // aptgate-direct on loopback has no site links: the central's bytes to the clients are what their connections read
  const direct = sites.length === 0;
  return {
    wallMs: r.wallMs,
    p50Ms: median(r.clients.map((c) => c.ms)),
    clientWire,
    upstreamDown: up.down,
    upstreamRequests: up.requests.length,
    parentDown: direct ? clientWire : sites.reduce((a, s) => a + s.c.down, 0),
    parentRequests: direct
      ? r.clients.length * (files.indexes.length + files.debs.length)
      : sites.reduce((a, s) => a + s.c.requests.length, 0),
    perLink: counts.map((c) => ({ name: c.name, down: c.c.down, requests: c.c.requests.length })),
    cpuSeconds: cpu,
    retried: r.clients.reduce((a, c) => a + c.retried, 0),
    failedFiles: r.clients.reduce((a, c) => a + c.errors.length, 0),
    failedClients: r.clients.filter((c) => c.errors.length > 0).length,
  };
}

function describePass(p: Pass): string {
  if (p.crashed) return `crashed: ${p.crashed}`;
  return `wall ${(p.wallMs / 1000).toFixed(2)} s (client median ${(p.p50Ms / 1000).toFixed(2)} s); ${p.perLink
    .map((l) => `${l.name}: ${(l.down / MB).toFixed(1)} MB in ${l.requests} requests`)
    .join(
      ', ',
    )}; clients read ${(p.clientWire / MB).toFixed(0)} MB; cache CPU ${p.cpuSeconds.toFixed(1)} s; retried files ${p.retried}, failed files ${p.failedFiles} (${p.failedClients} clients)`;
}

/** What apt-cacher-ng's error logs said, over the run: lines by kind (the tier's directory name, message head). */
const acngErrorLines = new Map<string, number>();
function acngErrors(dir: string): void {
  for (const tier of ['central', ...Array.from({ length: SITES }, (_, i) => `site${i + 1}`)]) {
    const file = join(dir, tier, 'log', 'apt-cacher.err');
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      // "Mon Dec  7 20:53:29 2026|Failure to move file /path... - errno: File exists": the message without paths
      const msg = line.split('|')[1];
      if (!msg) continue;
      const kind = `${tier.replace(/\d+$/, '')}: ${msg.replace(/\/\S+/g, '…').slice(0, 90)}`;
      acngErrorLines.set(kind, (acngErrorLines.get(kind) ?? 0) + 1);
    }
  }
}

// ---- report ------------------------------------------------------------------------------------

const mb = (b: number) => (Number.isFinite(b) ? (b / MB).toFixed(1) : 'n/a');
const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');
const x = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : 'n/a');
const num = (v: number, digits?: number) =>
  Number.isFinite(v) ? (digits === undefined ? String(v) : v.toFixed(digits)) : 'n/a';
/** the median over the rounds that did not crash (NaN when none) */
const med = (rs: RoundResult[], f: (r: RoundResult) => number) => median(rs.map(f).filter((v) => Number.isFinite(v)));
const range = (rs: RoundResult[], f: (r: RoundResult) => number) => {
  const v = rs.map(f).filter((n) => Number.isFinite(n));
  return v.length ? `${sec(Math.min(...v))}–${sec(Math.max(...v))}` : 'n/a';
};

async function main(): Promise<void> {
  const t0 = Date.now();
  if (
    !existsSync(join(REPO, 'dist', 'src', 'cli', 'main.js')) ||
    !existsSync(join(REPO, 'dist', 'bench', 'sites-client.js'))
  )
    throw new Error('build first: npx tsc -p .');
  for (const bin of ['nginx', '/usr/sbin/apt-cacher-ng']) {
    if (commandOutput('sh', ['-c', `command -v ${bin}`]) === '')
      throw new Error(`${bin} is missing: run bash bench/setup.sh`);
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  log(`work directory ${WORK}`);
  key = await loadTestKey(WORK);
  log(`building ${PACKAGES} .debs (${SET_MB} MiB in all) and the signed suite`);
  const files = await writeUpstream(key);
  const largest = Math.max(...files.debs.map((d) => d.size));
  const smallest = Math.min(...files.debs.map((d) => d.size));
  log(
    `upgrade set: ${files.debs.length} .debs, ${mb(files.debBytes)} MB (${(smallest / 1024).toFixed(0)} KB to ${mb(largest)} MB), plus InRelease and Packages.xz`,
  );
  const upstream = await startUpstream();
  log(`nginx upstream :${upstream.port} (pid ${upstream.nginx.pid})`);

  const results = {} as Record<Topology, RoundResult[]>;
  for (const t of TOPOLOGIES) results[t] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // the order rotates, so a slow moment of the shared machine does not always fall on the same topology
    const order = TOPOLOGIES.map((_, i) => TOPOLOGIES[(i + round) % TOPOLOGIES.length]!);
    for (const t of order) {
      const run = await startTopology(t, String(round), upstream.port, key.keyring);
      try {
        await sleep(500);
        const cold = await pass(run, files, `${t}-${round}-cold`);
        log(`round ${round + 1}/${ROUNDS} ${t} cold: ${describePass(cold)}`);
        await sleep(1000); // the fills committed
        const warm = cold.crashed
          ? crashedPass('(not run: the cold pass crashed)')
          : await pass(run, files, `${t}-${round}-warm`);
        log(`round ${round + 1}/${ROUNDS} ${t} warm: ${describePass(warm)}`);
        results[t].push({ cold, warm, hwmMb: sumMb(run.pids(), 'VmHWM') });
      } finally {
        await run.stop();
        acngErrors(join(WORK, `${t}-${round}`));
        if (process.env.BENCH_KEEP !== '1') rmSync(join(WORK, `${t}-${round}`), { recursive: true, force: true });
      }
    }
  }
  // thin links: the same cold pass with each central → site link limited (aptgate-direct's clients at a site reach
  // the central over their site's link); one round, the cold pass only
  const thin = {} as Record<Topology, Pass>;
  if (LINK_MBIT > 0)
    for (const t of TOPOLOGIES) {
      const run = await startTopology(t, 'link', upstream.port, key.keyring, (LINK_MBIT * 1e6) / 8);
      try {
        await sleep(500);
        thin[t] = await pass(run, files, `${t}-link-cold`);
        log(`${LINK_MBIT} Mbit/s links, ${t} cold: ${describePass(thin[t])}`);
      } finally {
        await run.stop();
        acngErrors(join(WORK, `${t}-link`));
        if (process.env.BENCH_KEEP !== '1') rmSync(join(WORK, `${t}-link`), { recursive: true, force: true });
      }
    }
  await procs.stopAll();

  // ---- table
  const set = files.debBytes;
  const nClients = CLIENTS * SITES;
  const HEAD = [
    'topology',
    'cold: wall (s)',
    'cold: range (s)',
    'cold: client median (s)',
    'upstream → central (MB)',
    'upstream requests',
    'central → sites or clients (MB)',
    'requests at the central',
    'warm: wall (s)',
    'warm: central → sites or clients (MB)',
    'cold, per round: files retried / failed (clients failed)',
    'warm, per round: files retried / failed',
    'rounds with a crash',
    'cache CPU, cold (s)',
    'peak RSS, all caches (MB)',
  ];
  const rows = TOPOLOGIES.map((t) => {
    const rs = results[t];
    return [
      t,
      sec(med(rs, (r) => r.cold.wallMs)),
      range(rs, (r) => r.cold.wallMs),
      sec(med(rs, (r) => r.cold.p50Ms)),
      mb(med(rs, (r) => r.cold.upstreamDown)),
      num(med(rs, (r) => r.cold.upstreamRequests)),
      mb(med(rs, (r) => r.cold.parentDown)),
      num(med(rs, (r) => r.cold.parentRequests)),
      sec(med(rs, (r) => r.warm.wallMs)),
      mb(med(rs, (r) => r.warm.parentDown)),
      rs
        .map((r) => (r.cold.crashed ? 'crash' : `${r.cold.retried} / ${r.cold.failedFiles} (${r.cold.failedClients})`))
        .join(', '),
      rs.map((r) => (r.warm.crashed ? 'crash' : `${r.warm.retried} / ${r.warm.failedFiles}`)).join(', '),
      String(rs.filter((r) => r.cold.crashed || r.warm.crashed).length),
      num(
        med(rs, (r) => r.cold.cpuSeconds),
        1,
      ),
      num(
        med(rs, (r) => r.hwmMb),
        0,
      ),
    ];
  });
  const perSite = TOPOLOGIES.filter((t) => t !== 'aptgate-direct').map((t) => [
    t,
    ...Array.from({ length: SITES }, (_, i) => {
      const name = `central → site ${i + 1}`;
      const l = (r: RoundResult) => r.cold.perLink.find((p) => p.name === name);
      return `${mb(med(results[t], (r) => l(r)?.down ?? NaN))} MB / ${num(med(results[t], (r) => l(r)?.requests ?? NaN))} req`;
    }),
  ]);
  const perSiteHead = [
    'topology (cold, median)',
    ...Array.from({ length: SITES }, (_, i) => `central → site ${i + 1}`),
  ];
  const thinHead = [
    `topology, ${LINK_MBIT} Mbit/s links`,
    'wall (s)',
    'client median (s)',
    'upstream → central (MB)',
    'over the site links (MB)',
    'files retried / failed (clients failed)',
  ];
  const thinRows =
    LINK_MBIT > 0
      ? TOPOLOGIES.map((t) => {
          const p = thin[t];
          if (p.crashed) return [t, 'crash', 'n/a', 'n/a', 'n/a', 'n/a'];
          return [
            t,
            sec(p.wallMs),
            sec(p.p50Ms),
            mb(p.upstreamDown),
            mb(p.parentDown),
            `${p.retried} / ${p.failedFiles} (${p.failedClients})`,
          ];
        })
      : [];
  const elapsed = (Date.now() - t0) / 1000;
  process.stdout.write(
    `\n${textTable(HEAD, rows)}\n\n${textTable(perSiteHead, perSite)}\n${thinRows.length ? `\n${textTable(thinHead, thinRows)}\n` : ''}`,
  );

  const a = results['aptgate-sites'];
  const b = results['aptgate-direct'];
  const c = results['acng-chain'];
  const wall = (rs: RoundResult[]) => med(rs, (r) => r.cold.wallMs);
  const warmWall = (rs: RoundResult[]) => med(rs, (r) => r.warm.wallMs);
  const up = (rs: RoundResult[]) => med(rs, (r) => r.cold.upstreamDown);
  const parent = (rs: RoundResult[]) => med(rs, (r) => r.cold.parentDown);
  const interp = [
    `- Time, cold (median of ${ROUNDS}): aptgate sites ${sec(wall(a))} s, straight to the central ${sec(wall(b))} s, apt-cacher-ng chained ${sec(wall(c))} s: sites/direct ${x(wall(a), wall(b))}, aptgate sites/acng chain ${x(wall(a), wall(c))}. Warm (every tier holds the set): ${sec(warmWall(a))} s, ${sec(warmWall(b))} s, ${sec(warmWall(c))} s (${x(warmWall(a), warmWall(b))}, ${x(warmWall(a), warmWall(c))}).`,
    `- Upstream → central: ${x(up(a), set)} the set's size with aptgate sites, ${x(up(b), set)} direct, ${x(up(c), set)} with the apt-cacher-ng chain (the set is ${mb(set)} MB of .debs; the rest is HTTP heads and the two indexes).`,
    `- Over the central's links (the thin ones): ${mb(parent(a))} MB to the two aptgate sites (${x(parent(a), SITES * set)} of one set per site), ${mb(parent(c))} MB to the two apt-cacher-ng sites (${x(parent(c), SITES * set)}), against ${mb(parent(b))} MB when the ${nClients} clients fetch from the central themselves (${x(parent(b), parent(a))} what the aptgate sites took).`,
    '- All processes share the 2 cores (the clients, with their SHA256 checks, in one Node process per site; the relays in the bench process), so the loopback times are whole-system times on this machine: the links cost nothing there, and the time shows what the tiers and the clients process, not a thin link.',
  ];
  const crashes = TOPOLOGIES.flatMap((t) =>
    [...results[t].flatMap((r) => [r.cold, r.warm]), ...(thin[t] ? [thin[t]] : [])]
      .filter((p) => p.crashed && !p.crashed.startsWith('('))
      .map((p) => `${t}: ${p.crashed}`),
  );
  if (crashes.length > 0)
    interp.push(
      `- Crashes under the load (that pass not counted; its clients stopped; a crashed cold pass has no warm pass): ${crashes.join('; ')}.`,
    );
  if (acngErrorLines.size > 0)
    interp.push(
      `- apt-cacher-ng's error logs over the run (every round and tier): ${[...acngErrorLines].map(([k, n]) => `${n}× "${k}"`).join('; ')}. apt asks for indexes with \`Cache-Control: max-age=0\`, and a site apt-cacher-ng asks its \`Proxy:\` with it on every request (.debs too): each tier refetches what is asked at the same moment, concurrent refreshes of one file in the same second collide (errno: File exists), and the 503s reach the clients, which retry as apt does.`,
    );
  if (LINK_MBIT > 0) {
    const ta = thin['aptgate-sites'];
    const tb = thin['aptgate-direct'];
    const tc = thin['acng-chain'];
    interp.push(
      `- With each central → site link at ${LINK_MBIT} Mbit/s (aptgate-direct's clients reaching the central over their site's link): aptgate sites ${sec(ta.wallMs)} s, straight to the central ${sec(tb.wallMs)} s (${x(tb.wallMs, ta.wallMs)} longer), apt-cacher-ng chained ${sec(tc.wallMs)} s; the links carried ${mb(ta.parentDown)} MB, ${mb(tb.parentDown)} MB and ${mb(tc.parentDown)} MB.`,
    );
  }

  process.stdout.write(`\n${interp.join('\n')}\n`);

  // ---- RESULTS.md
  const m = machineFacts();
  const versions = `Node ${process.version}; nginx ${commandOutput('sh', ['-c', 'nginx -v 2>&1']).replace(/^nginx version:\s*/, '')} (nginx-light ${debVersion('nginx-light')}); apt-cacher-ng ${debVersion('apt-cacher-ng')}; aptgate at ${commandOutput('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])} (plus the working tree)`;
  const section = `## ${today()} — bench:sites

- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, Linux ${m.kernel} (Debian bookworm)
- Versions: ${versions}
- Command: \`npm run bench:sites\` (= \`bash bench/setup.sh && tsc -p . && node dist/bench/sites.js\`); ${ROUNDS} rounds, topologies in rotating order, each started with empty caches; median reported; whole run ${elapsed.toFixed(0)} s
- Upgrade set: ${files.debs.length} real .debs (dpkg-deb, incompressible payloads, ${(smallest / 1024).toFixed(0)} KB to ${mb(largest)} MB, ${mb(set)} MB in all) in a suite signed with the test archive key (InRelease, Packages.xz by hash), served by nginx (sendfile, access log).
- Clients: ${SITES} sites × ${CLIENTS} (aptgate-direct: the same ${nClients} to the central), all started at once, each as apt-get update + upgrade --download-only does it over HTTP: one keep-alive connection, InRelease, Packages.xz by hash, then the ${files.debs.length} .debs in one order, every body checked against its size and SHA256, apt's headers (\`Cache-Control: max-age=0\` on the indexes) and apt's retries (Acquire::Retries 3, after 1, 2, 4 s; a request the server closed a keep-alive connection under is sent again at once). bench/sites-client.ts, one Node process per site: ${nClients} real apt-get runs would measure apt and dpkg on 2 cores, not the caches. Wall = until the last client is done.
- Topologies (each process on 127.0.0.1 with its own directory): aptgate-sites = two aptgates in site mode (\`serve --site-of\` the central, through their link's relay: each backend fetched as the central's /${PREFIX}) under a central aptgate; aptgate-direct = the central aptgate alone; acng-chain = two apt-cacher-ng with \`Proxy:\` the central apt-cacher-ng, every one with \`Remap-${PREFIX}: /${PREFIX} ; <upstream>\` (Debian's defaults otherwise, AllowUserPorts 0). aptgate at log level warn (no access log). Bytes: counting TCP relays on every parent link (heads included); for aptgate-direct the central's bytes to the clients are what the clients' connections read. Warm = the same clients again on the filled caches.${LINK_MBIT > 0 ? ` Thin links: one more cold round with each central → site relay limited to ${LINK_MBIT} Mbit/s (token bucket over all its connections, answers only, no added latency); aptgate-direct's clients then reach the central through their site's link; upstream → central unlimited.` : ''}

${mdTable(HEAD, rows)}

Each central → site link, cold pass:

${mdTable(perSiteHead, perSite)}
${thinRows.length ? `\nThin links (one cold round):\n\n${mdTable(thinHead, thinRows)}\n` : ''}
Interpretation:
${interp.join('\n')}
`;
  if (process.env.BENCH_NO_RESULTS === '1')
    log(`not written to bench/RESULTS.md (BENCH_NO_RESULTS=1); ${elapsed.toFixed(0)} s`);
  else {
    appendResults(section);
    log(`appended to bench/RESULTS.md; ${elapsed.toFixed(0)} s`);
  }
}

let key: TestKey | undefined;
let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(`bench:sites failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  await procs.stopAll();
  if (key) await disposeTestKey(key).catch(() => undefined);
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
