// One agent run at a time per machine (timer, push and a manual run may meet): an exclusive
// lock file holding the owner's pid; a lock whose process is gone is taken over.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.js';
import { processAlive } from '../sys/process.js';

export function acquireRunLock(stateDir: string): () => void {
  const file = path.join(stateDir, 'run.lock');
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid > 0 && pid !== process.pid && processAlive(pid))
        fail('AGENT_BUSY', `another agent run (pid ${pid}) is in progress`);
      rmSync(file, { force: true }); // left behind by a run that died
    }
  }
  fail('AGENT_BUSY', 'could not take the run lock');
}
