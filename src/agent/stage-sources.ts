// The release gate's sources on the client: the server says (at check-in) which stage
// repositories this machine reads; the agent writes them as one deb822 file signed by the
// server's key (Signed-By), then updates apt's lists. Switching a machine's class to another
// stage needs no edit on the client.
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { STAGE_VIEW } from '../index/stage-view.js';
import { pathExists } from '../sys/fs.js';
import type { RpcClient } from './client.js';
import { runJob } from './executors.js';
import type { AgentState } from './identity.js';
import { writeFileAtomic } from './sources.js';
import { aptPath } from './target.js';
import type { AptTarget, JobResult, JobSpec } from './types.js';

export interface StageSourcesAnswer {
  entries: Array<{ uri: string; suites: string[]; components: string[] }>;
  key: string;
  hash: string;
}

export const STAGE_SOURCES_NAME = 'aptgate.sources';

export function keyringPath(target: AptTarget): string {
  return path.join(target.root, 'etc/apt/keyrings/aptgate.asc');
}

const WORD_RE = /^[A-Za-z0-9][A-Za-z0-9._/~+-]*$/;
// a stage, or one side of a rollout of it (production--r12-from): index/stage-view.ts
const URI_RE = new RegExp(`^https?://[A-Za-z0-9.:[\\]-]+/stage/${STAGE_VIEW}/[A-Za-z0-9._-]+$`);

/** The deb822 text; every value is checked first (it comes from the network). */
export function renderStageSources(target: AptTarget, a: StageSourcesAnswer): string {
  return a.entries
    .map((e) => {
      if (!URI_RE.test(e.uri)) throw new Error(`unexpected stage URI ${JSON.stringify(e.uri.slice(0, 200))}`);
      for (const w of [...e.suites, ...e.components])
        if (!WORD_RE.test(w)) throw new Error(`unexpected suite or component ${JSON.stringify(w.slice(0, 100))}`);
      if (!e.suites.length || !e.components.length) throw new Error('a stage source needs suites and components');
      return `Types: deb\nURIs: ${e.uri}\nSuites: ${e.suites.join(' ')}\nComponents: ${e.components.join(' ')}\nSigned-By: ${aptPath(target, keyringPath(target))}\n`;
    })
    .join('\n');
}

/**
 * Fetches this machine's stage sources and writes them; the hash written (kept only when apt-get
 * update worked). `onlyChanged`: nothing is written when the server's hash is the one in place
 * (undefined is returned).
 */
export async function installStageSources(
  client: RpcClient,
  machineId: string,
  target: AptTarget,
  state: AgentState,
  log: (msg: string) => void,
  execute?: (job: JobSpec) => Promise<JobResult>,
  onlyChanged = false,
): Promise<string | undefined> {
  const answer = await client.call<StageSourcesAnswer>('agent.stageSources', [{ machineId }]);
  if (onlyChanged && answer.hash === state.sourcesHash()) return undefined;
  const r = await applyStageSources(target, answer, execute);
  if (r.failure) log(`stage sources written, but apt-get update failed (${r.failure}): ${r.summary}`);
  else state.saveSourcesHash(answer.hash);
  return answer.hash;
}

/** Writes (or removes) the stage sources and the server's key, then `apt-get update`. */
export async function applyStageSources(
  target: AptTarget,
  a: StageSourcesAnswer,
  execute?: (job: JobSpec) => Promise<JobResult>,
): Promise<JobResult> {
  const file = path.join(target.sourcesDir, STAGE_SOURCES_NAME);
  if (!a.entries.length) {
    if (!(await pathExists(file)))
      return {
        exitCode: 0,
        durationMs: 0,
        transcript: '',
        failure: undefined,
        summary: 'no stage sources',
        changed: false,
        rebootRequired: false,
      };
    await rm(file, { force: true });
  } else {
    if (!a.key.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')) throw new Error('the server sent no public key');
    await mkdir(path.dirname(keyringPath(target)), { recursive: true, mode: 0o755 });
    await writeFileAtomic(keyringPath(target), a.key, 0o644);
    await writeFileAtomic(file, renderStageSources(target, a), 0o644);
  }
  const update: JobSpec = {
    id: 0,
    kind: 'update',
    params: {},
    policy: { allowReboot: false, repairDpkg: false, lockTimeout: 120, timeout: 900 },
  };
  return execute ? execute(update) : runJob(update, target);
}
