// Package names as small integers, process-wide: an installed set and a view that both know a
// name's number meet with an array index instead of a hash lookup on the hot path.
const ids = new Map<string, number>();

const versionIds = new Map<string, number>();

/**
 * A number for a version as apt identifies it (string, VersionHash, Multi-Arch): the installed
 * version and the index's highest version are the same version exactly when the numbers match.
 */
export function versionId(version: string, aptHash: number | undefined, multiArch: string | undefined): number {
  const key = `${version}\0${aptHash ?? ''}\0${multiArch ?? ''}`;
  let id = versionIds.get(key);
  if (id === undefined) {
    id = versionIds.size + 1;
    versionIds.set(key, id);
  }
  return id;
}

export function nameId(name: string): number {
  let id = ids.get(name);
  if (id === undefined) {
    id = ids.size;
    ids.set(name, id);
  }
  return id;
}
