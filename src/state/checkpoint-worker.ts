// Worker thread of the checkpointer (state/checkpointer.ts): its own connection copies the WAL
// into the database file, fsyncs included, away from the main thread — often while the server
// writes (so that a checkpoint the server's connection still makes finds little left to copy),
// now and then when it does not.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from './db.js';

const { dbFile, everyMs, busyMs } = workerData as { dbFile: string; everyMs: number; busyMs: number };
const db = openDb(dbFile);
let timer: NodeJS.Timeout | undefined;
let lastLog = 0;

function checkpoint(): void {
  let next = everyMs;
  try {
    // PASSIVE: never waits for the server's readers or writers, copies what it can
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    // the WAL grew since the last turn: the server is writing
    if (r && r.log > 0 && r.log !== lastLog) next = busyMs;
    lastLog = r?.log ?? 0;
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).message });
  }
  timer = setTimeout(checkpoint, next);
}
timer = setTimeout(checkpoint, everyMs);

parentPort!.on('message', (msg: 'close') => {
  if (msg !== 'close') return;
  clearTimeout(timer);
  db.close();
  process.exit(0);
});
