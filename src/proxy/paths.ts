// What kind of archive object a path is, which decides how it is kept fresh and verified.
export type HashAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512';

export type PathClass =
  /** the signed root of a suite */
  | { kind: 'root'; suite: string; file: 'InRelease' | 'Release' | 'Release.gpg' }
  /** an index at its canonical name, served only as the content the current root names */
  | { kind: 'index'; suite: string; rel: string }
  /** content-addressed index object */
  | { kind: 'byhash'; suite: string; rel: string; algo: HashAlgo; hex: string }
  /** never changes once published (pool files, pdiff patches) */
  | { kind: 'immutable' }
  /** anything else under the backend (README, project/trace, ...): passed through, not cached */
  | { kind: 'other' };

const BY_HASH_ALGOS: Record<string, { algo: HashAlgo; len: number }> = {
  MD5Sum: { algo: 'md5', len: 32 },
  SHA1: { algo: 'sha1', len: 40 },
  SHA256: { algo: 'sha256', len: 64 },
  SHA512: { algo: 'sha512', len: 128 },
};

const IMMUTABLE_NAME =
  /\.(deb|udeb|ddeb|dsc|buildinfo|changes|diff\.gz|debian\.tar\.[a-z0-9]+|orig(-[A-Za-z0-9-]+)?\.tar\.[a-z0-9]+|tar\.[a-z0-9]+)$/;
const PDIFF_PATCH = /\.diff\/T-[0-9.-]+-F-[0-9.-]+\.gz$/;

export function classify(path: string): PathClass {
  if (path.startsWith('dists/')) {
    const rest = path.slice('dists/'.length);
    const slash = rest.indexOf('/');
    if (slash > 0) {
      const suite = rest.slice(0, slash);
      const rel = rest.slice(slash + 1);
      if (rel === 'InRelease' || rel === 'Release' || rel === 'Release.gpg') return { kind: 'root', suite, file: rel };
      const bh = /^(.*\/)?by-hash\/([A-Za-z0-9]+)\/([0-9a-fA-F]+)$/.exec(rel);
      if (bh) {
        const a = BY_HASH_ALGOS[bh[2]!];
        // by-hash objects are files: one nested below another would make the store remove
        // the cached object (or turn its name into a directory), so such a path is not one
        if (bh[1]?.split('/').includes('by-hash')) return { kind: 'other' };
        if (a && bh[3]!.length === a.len)
          return { kind: 'byhash', suite, rel, algo: a.algo, hex: bh[3]!.toLowerCase() };
        return { kind: 'other' };
      }
      if (PDIFF_PATCH.test(rel)) return { kind: 'immutable' };
      return { kind: 'index', suite, rel };
    }
    return { kind: 'other' };
  }
  if (path.startsWith('pool/') || IMMUTABLE_NAME.test(path)) return { kind: 'immutable' };
  return { kind: 'other' };
}

export function contentType(path: string): string {
  if (path.endsWith('.deb') || path.endsWith('.udeb') || path.endsWith('.ddeb'))
    return 'application/vnd.debian.binary-package';
  if (path.endsWith('.xz')) return 'application/x-xz';
  if (path.endsWith('.gz')) return 'application/gzip';
  if (path.endsWith('.bz2')) return 'application/x-bzip2';
  if (path.endsWith('.zst')) return 'application/zstd';
  if (path.endsWith('.lz4')) return 'application/x-lz4';
  if (path.endsWith('.gpg')) return 'application/pgp-signature';
  if (path.endsWith('.dsc') || path.endsWith('.changes') || path.endsWith('.buildinfo'))
    return 'text/plain; charset=utf-8';
  const last = path.slice(path.lastIndexOf('/') + 1);
  if (
    last === 'InRelease' ||
    last === 'Release' ||
    last === 'Packages' ||
    last === 'Sources' ||
    last === 'Index' ||
    /^Translation-[^.]+$/.test(last)
  )
    return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}
