// Small questions about the file system.
import { stat } from 'node:fs/promises';

/** Whether anything exists at the path. */
export async function pathExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Whether the path is a regular file (following links). */
export async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}
