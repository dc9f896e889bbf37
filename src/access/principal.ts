// Who is asking: a user (browser session), an API token (its owner's name, capped role), or the
// command line on the server host (no account: whoever can read the database is its admin).
import { userInfo } from 'node:os';
import type { Role } from './roles.js';

export type { Role };

export interface Principal {
  /** local = the CLI on the server host, no account */
  kind: 'user' | 'token' | 'local';
  /** user name; for a token its owner's name; for local "local <unix user>" */
  name: string;
  /** local is admin */
  role: Role;
  /** for kind 'token' */
  tokenId?: number;
  /** client address (API), undefined locally */
  address?: string;
}

/** The command line's principal on the server host: "local root" (or the unix user running it), admin. */
export function localPrincipal(user?: string): Principal {
  let name = user;
  if (name === undefined) {
    try {
      name = userInfo().username;
    } catch {
      // a uid without a passwd entry (a container): still the host's administrator
      name = String(process.getuid?.() ?? 'unknown');
    }
  }
  return { kind: 'local', name: `local ${name}`, role: 'admin' };
}
