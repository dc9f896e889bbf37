// Shared by the bench:sites files: sizes, the work directory, the one process list and the log.
import { join } from 'node:path';
import { REPO, Processes } from './common.js';

/** clients per site; topology (b) sends all SITES × CLIENTS of them straight to the central server */
export const CLIENTS = Number(process.env.BENCH_SITES_CLIENTS ?? 50);
export const SITES = 2;
/** packages in the upgrade set, and their total size (MiB, spread over sizes from a few KB up) */
export const PACKAGES = Number(process.env.BENCH_SITES_PACKAGES ?? 40);
export const SET_MB = Number(process.env.BENCH_SITES_MB ?? 32);
/** each topology is measured this many times, each time with empty caches; topologies interleaved; median reported */
export const ROUNDS = Number(process.env.BENCH_SITES_ROUNDS ?? 3);
export const SUITE = 'stable';
/** the backend name at aptgate and the remap prefix at apt-cacher-ng: clients ask /bench/dists/..., /bench/pool/... */
export const PREFIX = 'bench';

export const WORK = join(REPO, 'bench', 'work', 'sites');
export const WWW = join(WORK, 'www');
export const MIRROR_ROOT = join(WWW, 'debian');

export type Topology = 'aptgate-sites' | 'aptgate-direct' | 'acng-chain';
export const TOPOLOGIES: Topology[] = ['aptgate-sites', 'aptgate-direct', 'acng-chain'];

export const procs = new Processes();
export const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

/** the thin-link pass: each central → site link at this many Mbit/s (0: no such pass) */
export const LINK_MBIT = Number(process.env.BENCH_SITES_LINK_MBIT ?? 200);
