// What the server's outdated worker does (its thread entry, assembly/outdated-worker.ts, builds
// the read side it works on): views are loaded, snapshots compared and answers computed, one
// request at a time, for OutdatedThread (outdated-thread.ts) on the event loop.
import type { MessagePort } from 'node:worker_threads';
import type { PackageIndexStore } from '../state/package-index.js';
import type { OutdatedCalc } from './outdated-calc.js';
import { comparable } from './outdated-calc.js';
import { encodeResult } from './outdated-text.js';
import type { ThreadReply, ThreadRequest } from './outdated-thread.js';
import type { LoadedView, ViewLoader } from './views.js';

export class OutdatedWork {
  // names changed between two snapshots, by "old>new" (every view of a refresh asks the same)
  private readonly diffs = new Map<string, Set<string>>();

  constructor(
    private readonly views: ViewLoader,
    private readonly calc: OutdatedCalc,
    private readonly packageIndex: PackageIndexStore,
  ) {}

  private changed(from: readonly number[], loaded: LoadedView): Set<string> {
    const names = new Set<string>();
    loaded.snapshots.forEach((to, i) => {
      const was = from[i];
      if (was === undefined || was === 0 || to === 0 || was === to) return;
      const key = `${was}>${to}`;
      let d = this.diffs.get(key);
      if (!d) {
        d = this.packageIndex.changedPackages(was, to);
        this.diffs.set(key, d);
        if (this.diffs.size > 16) this.diffs.delete(this.diffs.keys().next().value!);
      }
      for (const n of d) names.add(n);
    });
    return names;
  }

  handle(m: Exclude<ThreadRequest, { op: 'close' | 'forget' }>): ThreadReply {
    const loaded = this.views.load(m.spec);
    if (m.op === 'answer') {
      return {
        id: m.id,
        complete: loaded.complete,
        snapshots: loaded.snapshots,
        result: encodeResult(this.calc.result(m.profileId, loaded)),
      };
    }
    if (!loaded.complete) return { id: m.id, complete: false, snapshots: loaded.snapshots, rows: [] };
    const byFrom = new Map<string, Set<string>>();
    const rows: Array<{ profileId: number; result: string | null }> = [];
    for (const row of m.rows) {
      if (row.snapshots.join(',') === loaded.snapshots.join(',')) continue;
      let names: Set<string> | undefined;
      if (comparable(row.snapshots, loaded.snapshots)) {
        const key = row.snapshots.join(',');
        names = byFrom.get(key);
        if (!names) byFrom.set(key, (names = this.changed(row.snapshots, loaded)));
      }
      const r = this.calc.refreshed(row.profileId, loaded, names);
      rows.push({ profileId: row.profileId, result: r === 'carry' ? null : encodeResult(r) });
    }
    return { id: m.id, complete: true, snapshots: loaded.snapshots, rows };
  }

  /** Answers OutdatedThread's requests on `port`; `close` ends the thread. */
  serve(port: MessagePort, close: () => void): void {
    port.on('message', (m: ThreadRequest) => {
      if (m.op === 'close') {
        close();
        return;
      }
      // deleted profiles (retention): their ids may be given to new ones
      if (m.op === 'forget') {
        this.calc.forget(m.profileIds);
        return;
      }
      let reply: ThreadReply;
      try {
        reply = this.handle(m);
      } catch (err) {
        reply = { id: m.id, error: (err as Error).message, code: (err as { code?: string }).code };
      }
      port.postMessage(reply);
    });
  }
}
