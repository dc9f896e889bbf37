// Who uses the proxy: one row per client address with first and last request, requests, body
// bytes served, and hits and misses (proxy/clients.ts batches them). Growth is bounded: a client
// not seen for CLIENT_RETENTION_MS is forgotten, and beyond MAX_CLIENTS rows the least recently
// seen go first (a network that hands each request a new IPv6 address cannot grow it further).
import { cached, type Db } from './db.js';

export const MAX_CLIENTS = 10_000;
export const CLIENT_RETENTION_MS = 90 * 86_400_000;

/** What one address did since the last write. */
export interface ClientDelta {
  first: number;
  last: number;
  requests: number;
  bytes: number;
  hits: number;
  misses: number;
}

export interface ClientRow {
  address: string;
  firstSeen: number;
  lastSeen: number;
  requests: number;
  bytes: number;
  hits: number;
  misses: number;
  /** enrolled machines whose last signed /RPC2 call came from this address */
  machines: Array<{ id: number; hostname: string }>;
}

export class ClientStore {
  constructor(private readonly db: Db) {}

  add(batch: Iterable<[address: string, delta: ClientDelta]>): void {
    const q = cached<[string, number, number, number, number, number, number]>(
      this.db,
      `INSERT INTO client (address, first_seen, last_seen, requests, bytes, hits, misses) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (address) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
         requests = requests + excluded.requests, bytes = bytes + excluded.bytes, hits = hits + excluded.hits, misses = misses + excluded.misses`,
    );
    this.db.transaction(() => {
      for (const [a, d] of batch) q.run(a, d.first, d.last, d.requests, d.bytes, d.hits, d.misses);
    })();
  }

  /**
   * Forgets clients not seen since `now - retentionMs`, then all but the `maxRows` most recently seen; returns how
   * many.
   */
  prune(now: number, retentionMs = CLIENT_RETENTION_MS, maxRows = MAX_CLIENTS): number {
    let n = cached<[number]>(this.db, 'DELETE FROM client WHERE last_seen < ?').run(now - retentionMs).changes;
    const count = (cached<[], { n: number }>(this.db, 'SELECT count(*) AS n FROM client').get() as { n: number }).n;
    if (count > maxRows) {
      n += cached<[number]>(
        this.db,
        'DELETE FROM client WHERE address IN (SELECT address FROM client ORDER BY last_seen ASC LIMIT ?)',
      ).run(count - maxRows).changes;
    }
    return n;
  }

  /** What every client asked in all: the proxy's totals (one row per client address, at most MAX_CLIENTS). */
  totals(): { clients: number; requests: number; bytes: number; hits: number; misses: number } {
    return this.db
      .prepare<[], { clients: number; requests: number; bytes: number; hits: number; misses: number }>(
        `SELECT count(*) AS clients, coalesce(sum(requests), 0) AS requests, coalesce(sum(bytes), 0) AS bytes,
        coalesce(sum(hits), 0) AS hits, coalesce(sum(misses), 0) AS misses FROM client`,
      )
      .get()!;
  }

  /** Every client, most recently seen first, with the machines at its address. */
  list(): ClientRow[] {
    const machines = new Map<string, Array<{ id: number; hostname: string }>>();
    for (const m of this.db
      .prepare<[], { id: number; hostname: string; address: string }>(
        'SELECT id, hostname, last_address AS address FROM machine WHERE last_address IS NOT NULL ORDER BY id',
      )
      .iterate()) {
      const list = machines.get(m.address);
      if (list) list.push({ id: m.id, hostname: m.hostname });
      else machines.set(m.address, [{ id: m.id, hostname: m.hostname }]);
    }
    return this.db
      .prepare<[], Omit<ClientRow, 'machines'>>(
        `SELECT address, first_seen AS firstSeen, last_seen AS lastSeen, requests, bytes, hits, misses FROM client ORDER BY last_seen DESC, address`,
      )
      .all()
      .map((r) => ({ ...r, machines: machines.get(r.address) ?? [] }));
  }
}
