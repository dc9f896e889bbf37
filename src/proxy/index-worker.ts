// Worker thread entry of the indexer: one database connection, jobs one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from '../state/db.js';
import { PackageIndexStore } from '../state/package-index.js';
import { runIndexJob, type IndexJob } from './index-job.js';

const db = openDb((workerData as { dbFile: string }).dbFile);
// this connection checkpoints the WAL its batches grow, early and off the event loop (the
// server's connection would otherwise do it, at 1,000 pages, in the middle of a request)
db.pragma('wal_autocheckpoint = 200');
const store = new PackageIndexStore(db);

parentPort!.on('message', (msg: { id: number; job: IndexJob } | { id: number; dropUnfinished: true } | 'close') => {
  if (msg === 'close') {
    db.close();
    process.exit(0);
  }
  if ('dropUnfinished' in msg) {
    try {
      parentPort!.postMessage({ id: msg.id, ok: true, result: store.dropUnfinished() });
    } catch (err) {
      parentPort!.postMessage({ id: msg.id, ok: false, error: (err as Error).message });
    }
    return;
  }
  runIndexJob(store, msg.job).then(
    (result) => parentPort!.postMessage({ id: msg.id, ok: true, result }),
    (err: Error & { code?: string }) =>
      parentPort!.postMessage({ id: msg.id, ok: false, error: err.message, code: err.code }),
  );
});
