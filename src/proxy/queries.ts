// Who uses the proxy, for the administrator and the API: the clients the server records (every
// few seconds, proxy/clients.ts) in the JSON shape of `aptgate clients --json`; cli/clients.ts prints it.
import type { ClientStore } from '../state/clients.js';

const iso = (ms: number): string => new Date(ms).toISOString();

export interface ClientInfo {
  address: string;
  firstSeen: string;
  lastSeen: string;
  requests: number;
  /** body bytes sent to it */
  bytes: number;
  /** requests answered from the cache / fetched from upstream for it (the rest: passed through, refused, errors) */
  hits: number;
  misses: number;
  /** hits / (hits + misses); null before either */
  hitRatio: number | null;
  machines: Array<{ id: number; hostname: string }>;
}

export function listClients(store: ClientStore): ClientInfo[] {
  return store.list().map((c) => ({
    address: c.address,
    firstSeen: iso(c.firstSeen),
    lastSeen: iso(c.lastSeen),
    requests: c.requests,
    bytes: c.bytes,
    hits: c.hits,
    misses: c.misses,
    hitRatio: c.hits + c.misses > 0 ? Math.round((c.hits / (c.hits + c.misses)) * 1000) / 1000 : null,
    machines: c.machines,
  }));
}
