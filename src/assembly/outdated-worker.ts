// Thread entry of the server's outdated worker (fleet/outdated-thread.ts starts it, fleet/
// outdated-work.ts does the work): views are loaded, snapshots compared and answers computed
// here, on a read-only connection, so that the event loop every client shares never holds a
// view (loading one is ~0.7 s and ~100 MB of objects for a full Debian release; collecting
// them would pause it too). This thread builds its own read side of the graph, the gate's
// stage contents included.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { OutdatedCalc } from '../fleet/outdated-calc.js';
import { OutdatedWork } from '../fleet/outdated-work.js';
import { ViewLoader } from '../fleet/views.js';
import { ContentResolver } from '../gate/content.js';
import { stageResolver } from '../gate/resolver.js';
import { StageViews } from '../gate/stage-views.js';
import { openDb } from '../state/db.js';
import { PackageIndexStore } from '../state/package-index.js';
import { ProfileStore } from '../state/profiles.js';
import { SnapshotStore } from '../state/snapshots.js';
import { StageStore } from '../state/stages.js';

// background work: the thread of the event loop gets the CPU first (on Linux, nice is per
// thread: this lowers this worker's thread only; it holds no write lock the loop could wait for)
if (process.platform === 'linux')
  try {
    setPriority(10);
  } catch {
    /* left as it is */
  }
const { dbFile, sites } = workerData as { dbFile: string; sites: Record<string, string> };
const db = openDb(dbFile, { readonly: true });
const snapshots = new SnapshotStore(db);
const packageIndex = new PackageIndexStore(db);
const stageStore = new StageStore(db);
const stages = stageResolver(stageStore, new ContentResolver(snapshots, packageIndex), new StageViews(stageStore));
const views = new ViewLoader(snapshots, packageIndex, (b) => sites[b] ?? '', stages);
new OutdatedWork(views, new OutdatedCalc(new ProfileStore(db)), packageIndex).serve(parentPort!, () => {
  db.close();
  process.exit(0);
});
