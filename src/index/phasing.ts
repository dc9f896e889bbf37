// Phased updates as apt 2.6 decides them (apt-pkg/upgrade.cc PhasedUpgrader): the candidate is
// not changed, but upgrade keeps a phased version back on a machine outside the phase. The
// draw reproduces libstdc++: std::seed_seq over "<source>-<source version>-<machine-id>",
// std::minstd_rand, std::uniform_int_distribution<unsigned>(0, 100).

const M32 = 0x1_0000_0000;

function mul32(a: number, b: number): number {
  return Math.imul(a, b) >>> 0;
}

/** std::seed_seq::generate into n 32-bit words. */
function seedSeqGenerate(seed: readonly number[], n: number): Uint32Array {
  const out = new Uint32Array(n).fill(0x8b8b8b8b);
  const s = seed.length;
  const t = n >= 623 ? 11 : n >= 68 ? 7 : n >= 39 ? 5 : n >= 7 ? 3 : Math.floor((n - 1) / 2);
  const p = Math.floor((n - t) / 2);
  const q = p + t;
  const m = Math.max(s + 1, n);
  const T = (x: number) => (x ^ (x >>> 27)) >>> 0;
  for (let k = 0; k < m; k++) {
    const r1 = mul32(1664525, T(out[k % n]! ^ out[(k + p) % n]! ^ out[(k + n - 1) % n]!));
    const add = k === 0 ? s : k <= s ? (k % n) + seed[k - 1]! : k % n;
    const r2 = (r1 + add) % M32;
    out[(k + p) % n] = (out[(k + p) % n]! + r1) % M32;
    out[(k + q) % n] = (out[(k + q) % n]! + r2) % M32;
    out[k % n] = r2;
  }
  for (let k = m; k < m + n; k++) {
    const r3 = mul32(1566083941, T((out[k % n]! + out[(k + p) % n]! + out[(k + n - 1) % n]!) % M32));
    const r4 = (r3 - (k % n) + M32) % M32;
    out[(k + p) % n] = (out[(k + p) % n]! ^ r3) >>> 0;
    out[(k + q) % n] = (out[(k + q) % n]! ^ r4) >>> 0;
    out[k % n] = r4;
  }
  return out;
}

const MINSTD_M = 2147483647;
const MINSTD_A = 48271;

/** The number apt draws for a version on a machine: 0..100. */
export function phaseDraw(source: string, sourceVersion: string, machineId: string): number {
  // std::seed_seq stores each (signed) char converted to uint32
  const bytes = Buffer.from(`${source}-${sourceVersion}-${machineId}`, 'utf8');
  const seed = Array.from(bytes, (b) => (b >= 128 ? b - 256 + M32 : b));
  // linear_congruential_engine::seed(seed_seq): k = 1 word, taken from generate()'s 4th word
  const words = seedSeqGenerate(seed, 4);
  let x = words[3]! % MINSTD_M;
  if (x === 0) x = 1;
  const next = () => {
    x = (x * MINSTD_A) % MINSTD_M; // < 2^47: exact in a double
    return x;
  };
  // uniform_int_distribution, libstdc++'s division path: urng range [1, m-1]
  const urngRange = MINSTD_M - 1 - 1;
  const scaling = Math.floor(urngRange / 101);
  const past = 101 * scaling;
  let ret: number;
  do ret = next() - 1;
  while (ret >= past);
  return Math.floor(ret / scaling);
}

export interface PhasingOptions {
  /** /etc/machine-id of the machine (or APT::Machine-ID); no id → never deferred */
  machineId: string | undefined;
  /** APT::Get::Always-Include-Phased-Updates */
  alwaysInclude?: boolean;
  /** APT::Get::Never-Include-Phased-Updates */
  neverInclude?: boolean;
  /** apt runs in a chroot (or with SOURCE_DATE_EPOCH): phasing does not apply */
  chroot?: boolean;
}

/** apt's IsIgnoredPhasedUpdate for a version with Phased-Update-Percentage < 100. */
export function phaseExcludes(
  source: string,
  sourceVersion: string,
  percentage: number,
  opts: PhasingOptions,
): boolean {
  if (percentage >= 100) return false;
  if (opts.alwaysInclude) return false;
  if (opts.neverInclude) return true;
  if (!opts.machineId || opts.chroot) return false;
  return phaseDraw(source, sourceVersion, opts.machineId) > percentage;
}
