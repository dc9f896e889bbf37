// bench:proxy test files: the random .debs of the mirror nginx serves (large, small and cold-miss sets).
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  COLD_COUNT,
  COLD_MEDIUM_MB,
  LARGE_COUNT,
  LARGE_MB,
  MIRROR_ROOT,
  SMALL_COUNT,
  TARGETS,
  type TargetName,
} from './proxy-common.js';

/** What a Packages entry says about a generated file. */
export interface FileEntry {
  rel: string;
  size: number;
  sha256: string;
}

export interface Files {
  /** every generated file with its size and SHA256 (for the signed suite aptgate verifies against) */
  entries: FileEntry[];
  large: string[];
  small: string[];
  /** never fetched before the cold-miss phase, one set per target */
  coldSmall: Record<TargetName, string[]>;
  coldMedium: Record<TargetName, string[]>;
}

function poolPath(section: string, pkg: string, version: string, arch: string): string {
  const initial = pkg.startsWith('lib') ? pkg.slice(0, 4) : pkg[0]!;
  return `pool/${section}/${initial}/${pkg}/${pkg}_${version}_${arch}.deb`;
}

/** Deterministic sizes (a tiny LCG) so every run serves the same bytes counts. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function writeRandomFile(rel: string, size: number, block: Buffer, entries: FileEntry[]): void {
  const file = join(MIRROR_ROOT, rel);
  const hash = createHash('sha256');
  mkdirSync(join(file, '..'), { recursive: true });
  const fd = openSync(file, 'w', 0o644);
  try {
    let left = size;
    let first = true;
    while (left > 0) {
      const n = Math.min(left, block.length);
      if (first) {
        // unique leading bytes per file; the rest of a small file is a slice of the block
        const head = Buffer.from(`!<arch>\n${rel}\n`);
        block.set(head.subarray(0, Math.min(head.length, n)), 0);
        first = false;
      } else {
        randomFillSync(block, 0, Math.min(64, n));
      }
      writeSync(fd, block, 0, n);
      hash.update(block.subarray(0, n));
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  entries.push({ rel, size, sha256: hash.digest('hex') });
}

export function generateFiles(): Files {
  const block = Buffer.allocUnsafe(4 * 1024 * 1024);
  const rnd = lcg(42);
  const files: Files = {
    entries: [],
    large: [],
    small: [],
    coldSmall: {} as Files['coldSmall'],
    coldMedium: {} as Files['coldMedium'],
  };
  for (let i = 1; i <= LARGE_COUNT; i++) {
    const rel = poolPath('main', `bench-large${i}`, `1.0-${i}`, 'amd64');
    randomFillSync(block);
    writeRandomFile(rel, LARGE_MB * 1024 * 1024, block, files.entries);
    // fresh random bytes between blocks of a large file
    files.large.push(rel);
  }
  randomFillSync(block);
  for (let i = 1; i <= SMALL_COUNT; i++) {
    const rel = poolPath('main', `libsmall${i}`, `1.${i}-1`, i % 3 ? 'amd64' : 'all');
    writeRandomFile(rel, 1024 + Math.floor(rnd() * 7 * 1024), block, files.entries);
    files.small.push(rel);
  }
  for (const t of TARGETS) {
    const tag = t.replace(/[^a-z]/g, '');
    files.coldSmall[t] = [];
    files.coldMedium[t] = [];
    for (let i = 1; i <= COLD_COUNT; i++) {
      const s = poolPath('contrib', `cold-${tag}-small${i}`, '2.0-1', 'amd64');
      writeRandomFile(s, 1024 + Math.floor(rnd() * 7 * 1024), block, files.entries);
      files.coldSmall[t].push(s);
      const m = poolPath('contrib', `cold-${tag}-medium${i}`, '2.0-1', 'amd64');
      randomFillSync(block);
      writeRandomFile(m, COLD_MEDIUM_MB * 1024 * 1024, block, files.entries);
      files.coldMedium[t].push(m);
    }
  }
  return files;
}
