// Worker thread entry of OutdatedThread (outdated-thread.ts): views are loaded, snapshots
// compared and answers computed here, on a read-only connection, so that the event loop every
// client shares never holds a view (loading one is ~0.7 s and ~100 MB of objects for a full
// Debian release; collecting them would pause it too). Requests run one at a time.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { gateParts, type GateStores } from '../app-gate.js';
import { openDb } from '../state/db.js';
import { PackageIndexStore } from '../state/package-index.js';
import { ProfileStore } from '../state/profiles.js';
import { SnapshotStore } from '../state/snapshots.js';
import { OutdatedCalc, comparable } from './outdated-calc.js';
import { encodeResult } from './outdated-text.js';
import type { ThreadReply, ThreadRequest } from './outdated-thread.js';
import { ViewLoader, type LoadedView } from './views.js';

// background work: the thread of the event loop gets the CPU first (on Linux, nice is per
// thread: this lowers this worker's thread only; it holds no write lock the loop could wait for)
if (process.platform === 'linux') try { setPriority(10); } catch { /* left as it is */ }
const { dbFile, sites } = workerData as { dbFile: string; sites: Record<string, string> };
const db = openDb(dbFile, { readonly: true });
const snapshots = new SnapshotStore(db);
const packageIndex = new PackageIndexStore(db);
// the gate's stage contents (views read through a stage); only its read side is used here
const stages = gateParts(db, { snapshots, packageIndex } as GateStores).resolver;
const views = new ViewLoader(snapshots, packageIndex, (b) => sites[b] ?? '', stages);
const calc = new OutdatedCalc(new ProfileStore(db));

// names changed between two snapshots, by "old>new" (every view of a refresh asks the same)
const diffs = new Map<string, Set<string>>();
function changed(from: readonly number[], loaded: LoadedView): Set<string> {
  const names = new Set<string>();
  loaded.snapshots.forEach((to, i) => {
    const was = from[i];
    if (was === undefined || was === 0 || to === 0 || was === to) return;
    const key = `${was}>${to}`;
    let d = diffs.get(key);
    if (!d) {
      d = packageIndex.changedPackages(was, to);
      diffs.set(key, d);
      if (diffs.size > 16) diffs.delete(diffs.keys().next().value!);
    }
    for (const n of d) names.add(n);
  });
  return names;
}

function handle(m: Exclude<ThreadRequest, { op: 'close' | 'forget' }>): ThreadReply {
  const loaded = views.load(m.spec);
  if (m.op === 'answer') {
    return { id: m.id, complete: loaded.complete, snapshots: loaded.snapshots, result: encodeResult(calc.result(m.profileId, loaded)) };
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
      if (!names) byFrom.set(key, (names = changed(row.snapshots, loaded)));
    }
    const r = calc.refreshed(row.profileId, loaded, names);
    rows.push({ profileId: row.profileId, result: r === 'carry' ? null : encodeResult(r) });
  }
  return { id: m.id, complete: true, snapshots: loaded.snapshots, rows };
}

parentPort!.on('message', (m: ThreadRequest) => {
  if (m.op === 'close') {
    db.close();
    process.exit(0);
  }
  // deleted profiles (retention): their ids may be given to new ones
  if (m.op === 'forget') {
    calc.forget(m.profileIds);
    return;
  }
  let reply: ThreadReply;
  try {
    reply = handle(m);
  } catch (err) {
    reply = { id: m.id, error: (err as Error).message, code: (err as { code?: string }).code };
  }
  parentPort!.postMessage(reply);
});
