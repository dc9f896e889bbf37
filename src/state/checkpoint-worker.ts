// Worker thread of the checkpointer (state/checkpointer.ts): its own connection copies the WAL
// into the database file now and then, fsyncs included, away from the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from './db.js';

const { dbFile, everyMs } = workerData as { dbFile: string; everyMs: number };
const db = openDb(dbFile);

const timer = setInterval(() => {
  try {
    // PASSIVE: never waits for the server's readers or writers, copies what it can
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).message });
  }
}, everyMs);

parentPort!.on('message', (msg: 'close') => {
  if (msg !== 'close') return;
  clearInterval(timer);
  db.close();
  process.exit(0);
});
