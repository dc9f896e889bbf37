// bench:proxy measurement phases: warming both caches, cached loads, cold misses and stalled downloads.
import { request } from 'node:http';
import { median, rssSampler, sleep } from './common.js';
import {
  COLD_MEDIUM_MB,
  ROUNDS,
  RSS_CLIENTS,
  SECONDS,
  TARGETS,
  WARMUP_SECONDS,
  log,
  type TargetName,
} from './proxy-common.js';
import { type Files } from './proxy-files.js';
import { cpuSeconds, fetchAll, fetchOnce, runLoad, type Load, type LoadResult } from './proxy-load.js';
import { upstreamRequests, type Servers } from './proxy-servers.js';

export const url = (rel: string) => `/bench/${rel}`;

/**
 * `indexes`: what apt update asks for; aptgate gets them first, as from an apt client (the Packages are ingested before
 * the pool files are asked for).
 */
export async function warm(
  s: Servers,
  files: Files,
  indexes: string[],
): Promise<{ aptgateUp: number; acngUp: number }> {
  const all = [...files.large, ...files.small].map(url);
  for (const p of indexes) {
    const f = await fetchOnce(s.targets.aptgate.port, url(p));
    if (f.status !== 200) throw new Error(`aptgate: ${p}: HTTP ${f.status}`);
  }
  const before = upstreamRequests();
  for (const t of ['apt-cacher-ng', 'aptgate'] as const) {
    const port = s.targets[t].port;
    await fetchAll(port, all, 4, (p, f) => {
      if (f.status !== 200) throw new Error(`${t}: warming ${p}: HTTP ${f.status}`);
    });
  }
  await sleep(1500); // let the fills be committed (aptgate renames after fsync)
  const afterFirst = upstreamRequests();
  // the second fetch of every file must be served from each cache
  let notHit = 0;
  for (const t of ['apt-cacher-ng', 'aptgate'] as const) {
    const port = s.targets[t].port;
    await fetchAll(port, all, 4, (p, f) => {
      if (f.status !== 200) throw new Error(`${t}: second fetch of ${p}: HTTP ${f.status}`);
      if (t === 'aptgate' && f.headers['x-aptgate-result'] !== 'hit') notHit++;
    });
  }
  const afterSecond = upstreamRequests();
  const aptgateUp = afterFirst.aptgate - before.aptgate;
  const acngUp = afterFirst.acng - before.acng;
  log(
    `warm: ${all.length} files; upstream requests on first pass: aptgate ${aptgateUp}, apt-cacher-ng ${acngUp}; second pass: aptgate ${afterSecond.aptgate - afterFirst.aptgate}, apt-cacher-ng ${afterSecond.acng - afterFirst.acng}, aptgate non-hits ${notHit}`,
  );
  if (afterSecond.aptgate !== afterFirst.aptgate || afterSecond.acng !== afterFirst.acng || notHit > 0) {
    throw new Error('a cache did not serve the second fetch from its cache: the comparison would be unfair');
  }
  if (aptgateUp < all.length || acngUp < all.length)
    throw new Error(
      `warming did not reach the mirror for every file (aptgate ${aptgateUp}, apt-cacher-ng ${acngUp}, files ${all.length})`,
    );
  return { aptgateUp, acngUp };
}

export interface Measured {
  value: Record<TargetName, number>;
  /** server CPU use during the measurement, in % of one core */
  cpu: Record<TargetName, number>;
  /** max VmRSS during the measurement (MB) */
  rss: Record<TargetName, number>;
}

/** One load against each target: a short unrecorded warm-up, then the measurement. */
export async function measure(
  s: Servers,
  load: Load,
  metric: (r: LoadResult) => number,
  opts: { warmup?: boolean; targets?: TargetName[] } = {},
): Promise<Measured> {
  const targets = opts.targets ?? TARGETS;
  const samples = {} as Record<TargetName, { value: number[]; cpu: number[]; rss: number[] }>;
  for (const t of targets) samples[t] = { value: [], cpu: [], rss: [] };
  // rounds interleave the targets, so a slow moment of the shared machine hits all of them
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const target = s.targets[t];
      if (round === 0 && opts.warmup !== false) await runLoad(target.port, load, WARMUP_SECONDS);
      const up = upstreamRequests();
      const cpu0 = cpuSeconds(target.pids());
      const sampler = rssSampler(target.pids, 100);
      const r = await runLoad(target.port, load, SECONDS);
      const rss = sampler.stop();
      const cpu = ((cpuSeconds(target.pids()) - cpu0) / r.seconds) * 100;
      const up2 = upstreamRequests();
      const fresh = up2.aptgate + up2.acng - up.aptgate - up.acng;
      if (fresh > 0) throw new Error(`${t}: ${fresh} upstream requests during a cached measurement`);
      if (r.errors > 0) log(`  ${t}: ${r.errors} errors (${r.detail})`);
      if (r.requests === 0 && r.bytes === 0) throw new Error(`${t}: nothing received during ${load.name}`);
      const value = metric(r);
      samples[t].value.push(value);
      samples[t].cpu.push(cpu);
      samples[t].rss.push(rss);
      log(
        `  ${load.name} ${t} (round ${round + 1}/${ROUNDS}): ${r.requests} responses, ${(r.bytes / 1048576).toFixed(0)} MB in ${r.seconds.toFixed(1)} s → ${value.toFixed(1)}; server CPU ${cpu.toFixed(0)}%, max VmRSS ${rss.toFixed(1)} MB; ${r.detail}`,
      );
    }
  }
  const out: Measured = { value: {} as Measured['value'], cpu: {} as Measured['cpu'], rss: {} as Measured['rss'] };
  for (const t of targets) {
    out.value[t] = median(samples[t].value);
    out.cpu[t] = median(samples[t].cpu);
    out.rss[t] = Math.max(...samples[t].rss);
  }
  return out;
}

export async function measureCold(
  s: Servers,
  files: Files,
): Promise<{
  small: Record<TargetName, number>;
  medium: Record<TargetName, number>;
  mediumTotal: Record<TargetName, number>;
}> {
  const small = {} as Record<TargetName, number>;
  const medium = {} as Record<TargetName, number>;
  const mediumTotal = {} as Record<TargetName, number>;
  for (const t of TARGETS) {
    const port = s.targets[t].port;
    const heads: number[] = [];
    for (const rel of files.coldSmall[t]) {
      const f = await fetchOnce(port, url(rel));
      if (f.status !== 200) throw new Error(`${t}: cold ${rel}: HTTP ${f.status}`);
      if (t === 'aptgate' && f.headers['x-aptgate-result'] !== 'miss')
        throw new Error(`aptgate: cold ${rel} was ${String(f.headers['x-aptgate-result'])}, not a miss`);
      heads.push(f.head);
    }
    small[t] = median(heads);
    const mh: number[] = [];
    const mt: number[] = [];
    for (const rel of files.coldMedium[t]) {
      const f = await fetchOnce(port, url(rel));
      if (f.status !== 200 || f.bytes !== COLD_MEDIUM_MB * 1048576)
        throw new Error(`${t}: cold ${rel}: HTTP ${f.status}, ${f.bytes} bytes`);
      if (t === 'aptgate' && f.headers['x-aptgate-result'] !== 'miss')
        throw new Error(`aptgate: cold ${rel} was ${String(f.headers['x-aptgate-result'])}, not a miss`);
      mh.push(f.head);
      mt.push(f.total);
    }
    medium[t] = median(mh);
    mediumTotal[t] = median(mt);
    log(
      `  cold ${t}: TTFB small ${small[t].toFixed(2)} ms, ${COLD_MEDIUM_MB} MB ${medium[t].toFixed(2)} ms (complete ${mediumTotal[t].toFixed(1)} ms)`,
    );
  }
  return { small, medium, mediumTotal };
}

/** 200 downloads whose clients stop reading after the head: what a server buffers per slow client. */
export async function measureStalled(s: Servers, files: Files): Promise<Record<TargetName, number>> {
  const out = {} as Record<TargetName, number>;
  for (const t of TARGETS) {
    const target = s.targets[t];
    const sampler = rssSampler(target.pids, 100);
    const reqs: Array<ReturnType<typeof request>> = [];
    let heads = 0;
    await new Promise<void>((resolve) => {
      for (let i = 0; i < RSS_CLIENTS; i++) {
        const req = request(
          { host: '127.0.0.1', port: target.port, path: url(files.large[i % files.large.length]!), agent: false },
          (res) => {
            res.pause();
            if (++heads === RSS_CLIENTS) resolve();
          },
        );
        req.on('error', () => {
          if (++heads === RSS_CLIENTS) resolve();
        });
        req.end();
        reqs.push(req);
      }
      setTimeout(resolve, 10_000).unref();
    });
    await sleep(4000);
    out[t] = sampler.stop();
    for (const r of reqs) r.destroy();
    await sleep(1000);
    log(`  ${RSS_CLIENTS} stalled downloads ${t}: max VmRSS ${out[t].toFixed(1)} MB (${heads} heads)`);
  }
  return out;
}
