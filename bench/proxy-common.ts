// Shared by the bench:proxy files: sizes and durations, the work directory, the targets, the one process list and the
// log.
import { join } from 'node:path';
import { REPO, Processes } from './common.js';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** each measurement is repeated this many times, targets interleaved; the median is reported */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const WARMUP_SECONDS = 2;
export const LARGE_MB = Number(process.env.BENCH_LARGE_MB ?? 96);
export const LARGE_COUNT = 4;
export const SMALL_COUNT = 300;
export const COLD_COUNT = 20;
export const COLD_MEDIUM_MB = 4;
export const RSS_CLIENTS = 200;
export const TARGET_RSS_MB = 150;

export const WORK = join(REPO, 'bench', 'work', 'proxy');
export const WWW = join(WORK, 'www');
export const MIRROR_ROOT = join(WWW, 'debian');

export type TargetName = 'nginx-direct' | 'apt-cacher-ng' | 'aptgate';
export const TARGETS: TargetName[] = ['nginx-direct', 'apt-cacher-ng', 'aptgate'];

export interface Target {
  name: TargetName;
  port: number;
  /** the processes whose memory counts (nginx: master and workers) */
  pids: () => number[];
}

export const procs = new Processes();
export const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
