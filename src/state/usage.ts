// When cached files were last served; written in batches by the server, read by clean-up.
import type { Db } from './db.js';

export class UsageStore {
  constructor(private readonly db: Db) {}

  record(uses: Iterable<[path: string, at: number]>): void {
    const q = this.db.prepare<[string, number]>(
      `INSERT INTO cache_use (path, last_used) VALUES (?, ?)
       ON CONFLICT (path) DO UPDATE SET last_used = max(last_used, excluded.last_used)`,
    );
    this.db.transaction(() => {
      for (const [p, at] of uses) q.run(p, at);
    })();
  }

  all(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.db
      .prepare<[], { path: string; last_used: number }>('SELECT path, last_used FROM cache_use')
      .iterate())
      out.set(r.path, r.last_used);
    return out;
  }

  forget(paths: Iterable<string>): void {
    const q = this.db.prepare<[string]>('DELETE FROM cache_use WHERE path = ?');
    this.db.transaction(() => {
      for (const p of paths) q.run(p);
    })();
  }
}
