// bench:sites' upstream on disk: a signed suite of real .debs (dpkg-deb, through the tests' FixtureRepo), sizes spread
// from a few KB to a few MB like an upgrade's, and what an apt client asks for, in order, with what it must receive.
import { createHash } from 'node:crypto';
import type { TestKey } from '../test/helpers/gpg.js';
import { FixtureRepo } from '../test/helpers/repo.js';
import { MIRROR_ROOT, PACKAGES, SET_MB, SUITE } from './sites-common.js';

/** One file an apt client fetches: path below the backend (dists/..., pool/...), size and SHA256 it verifies. */
export interface Wanted {
  rel: string;
  size: number;
  sha256: string;
  index?: boolean;
}

export interface UpgradeSet {
  /** apt update: InRelease, then Packages.xz by hash (the suite says Acquire-By-Hash: yes) */
  indexes: Wanted[];
  /** apt-get upgrade: the .debs, in one order for every client */
  debs: Wanted[];
  debBytes: number;
}

/** Payload sizes, geometric from ~8 KB to ~150× that, scaled to SET_MB in total. */
function sizes(): number[] {
  const weights = Array.from({ length: PACKAGES }, (_, i) => Math.exp((i * Math.log(150)) / Math.max(1, PACKAGES - 1)));
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => Math.max(8192, Math.round((w / sum) * SET_MB * 1048576)));
}

export async function writeUpstream(key: TestKey): Promise<UpgradeSet> {
  const repo = await FixtureRepo.create(MIRROR_ROOT, key);
  const specs = sizes().map((payloadBytes, i) => ({
    name: `bench-pkg${String(i + 1).padStart(2, '0')}`,
    version: `2.0-${i + 1}`,
    payloadBytes,
  }));
  const pub = await repo.publish(SUITE, specs, { compressions: ['xz', 'gz'] });
  const xz = pub.files.get('main/binary-amd64/Packages.xz');
  if (!xz) throw new Error('the published suite has no main/binary-amd64/Packages.xz');
  const indexes: Wanted[] = [
    {
      rel: `dists/${SUITE}/InRelease`,
      size: pub.inRelease.length,
      sha256: createHash('sha256').update(pub.inRelease).digest('hex'),
      index: true,
    },
    {
      rel: `dists/${SUITE}/main/binary-amd64/by-hash/SHA256/${xz.sha256}`,
      size: xz.size,
      sha256: xz.sha256,
      index: true,
    },
  ];
  const debs = pub.debs
    .map((d) => ({ rel: d.filename, size: d.size, sha256: d.sha256 }))
    .sort((a, b) => a.rel.localeCompare(b.rel));
  return { indexes, debs, debBytes: debs.reduce((a, d) => a + d.size, 0) };
}
