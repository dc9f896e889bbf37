// Per-client counts for `aptgate clients`: a request adds to a map in memory (nothing is written
// on the request path); the map is written to the database every FLUSH_MS, when it holds
// MAX_PENDING addresses, and at close.
import type { Logger } from '../log.js';
import type { ClientDelta, ClientStore } from '../state/clients.js';
import { unmapIPv4 } from '../sys/address.js';

export const CLIENT_FLUSH_MS = 5_000;
/** distinct addresses held before a write is due at once (one write is a transaction of this many rows at most) */
const MAX_PENDING = 4096;
const PRUNE_EVERY_MS = 60_000;

/**
 * Served from what the server holds (a stage's own index files included) / fetched from upstream for this request;
 * anything else is neither.
 */
export const HITS: ReadonlySet<string> = new Set(['hit', 'revalidated', 'stale', 'not_modified']);
export const MISSES: ReadonlySet<string> = new Set(['miss', 'coalesced']);

export class ClientTracker {
  private pending = new Map<string, ClientDelta>();
  private flushQueued = false;
  private prunedAt = 0;

  constructor(
    private readonly store: ClientStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** One request of `address` (the socket's), its result as the access line names it, and the body bytes sent. */
  note(address: string | undefined, result: string, bytes: number): void {
    if (!address) return;
    const a = unmapIPv4(address);
    const now = this.now();
    let d = this.pending.get(a);
    if (!d) {
      this.pending.set(a, (d = { first: now, last: now, requests: 0, bytes: 0, hits: 0, misses: 0 }));
      if (this.pending.size >= MAX_PENDING && !this.flushQueued) {
        this.flushQueued = true;
        setImmediate(() => this.flush());
      }
    }
    d.last = now;
    d.requests++;
    d.bytes += bytes;
    if (HITS.has(result)) d.hits++;
    else if (MISSES.has(result)) d.misses++;
  }

  /** Writes what was counted since the last write (on a timer and at close). */
  flush(): void {
    this.flushQueued = false;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      this.store.add(batch);
      const now = this.now();
      if (now - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = now;
        this.store.prune(now);
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message, clients: batch.size }, 'could not record client counts');
    }
  }
}
