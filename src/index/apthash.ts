// apt's version identity (debListParser::VersionHash): two entries with the same version string
// are one version to apt only when this hash of their relations (and their Multi-Arch) agree;
// otherwise apt knows two versions and may offer to "upgrade" from one to the other.

export interface HashedFields {
  installedSize?: string | undefined;
  depends?: string | undefined;
  preDepends?: string | undefined;
  conflicts?: string | undefined;
  breaks?: string | undefined;
  replaces?: string | undefined;
}

import type { Paragraph } from './deb822.js';

/** The hash of a Packages or status paragraph (lower-cased field names, as deb822.ts gives them). */
export function aptVersionHashOf(p: Paragraph): number {
  return aptVersionHash({
    installedSize: p['installed-size'],
    depends: p['depends'],
    preDepends: p['pre-depends'],
    conflicts: p['conflicts'],
    breaks: p['breaks'],
    replaces: p['replaces'],
  });
}

/** djb2 over the fields without blanks, '=' and "0:" epochs, lower-cased; 32 bits as apt keeps it. */
export function aptVersionHash(f: HashedFields): number {
  let h = 5381;
  for (const v of [f.installedSize, f.depends, f.preDepends, f.conflicts, f.breaks, f.replaces]) {
    if (v === undefined) continue;
    for (let i = 0; i < v.length; i++) {
      let c = v.charCodeAt(i);
      if (c === 48 && v.charCodeAt(i + 1) === 58) {
        i++;
        continue;
      }
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12 || c === 61) continue;
      if (c >= 65 && c <= 90) c += 32;
      h = (Math.imul(h, 33) + c) >>> 0;
    }
  }
  return h;
}
