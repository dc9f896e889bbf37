// Worker thread entry of WorkerRows (view-rows.ts): a read-only connection, one request at a
// time; the rows of a content are read at once here and handed out a page per request.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from '../state/db.js';
import { PackageIndexStore, type EntryRow } from '../state/package-index.js';
import type { RowReply, RowRequest } from './view-rows.js';

const db = openDb((workerData as { dbFile: string }).dbFile, { readonly: true });
const store = new PackageIndexStore(db);
const open = new Map<number, { rows: EntryRow[]; at: number; pageRows: number }>();

function page(id: number): RowReply {
  const o = open.get(id);
  if (!o) return { id, error: 'no such request' };
  const rows = o.rows.slice(o.at, o.at + o.pageRows);
  o.at += o.pageRows;
  const done = o.at >= o.rows.length;
  if (done) open.delete(id);
  return { id, rows, done };
}

parentPort!.on('message', (m: RowRequest) => {
  if (m.op === 'close') {
    db.close();
    process.exit(0);
  }
  let reply: RowReply | undefined;
  try {
    if (m.op === 'entries') {
      open.set(m.id, { rows: store.entryRows(m.indexFileId), at: 0, pageRows: m.pageRows });
      reply = page(m.id);
    } else if (m.op === 'next') {
      reply = page(m.id);
    } else if (m.op === 'cancel') {
      open.delete(m.id);
    } else if (m.op === 'changed') {
      reply = { id: m.id, names: [...store.changedPackages(m.oldSnapshotId, m.newSnapshotId)] };
    }
  } catch (err) {
    reply = { id: m.id, error: (err as Error).message };
  }
  if (reply) parentPort!.postMessage(reply);
});
