// /stage/<stage>/<backend>/...: each stage of the release gate as its own signed repository (and
// each side of a rollout of a stage, /stage/<stage>--r<id>-<from|to>/<backend>/..., index/stage-view.ts).
// Its dists/ files are the stage's published files; a pool file is served (from the shared
// cache, verified like any other) only when that stage's Packages name it, else 404. This
// decides what to answer; stage-routes.ts serves it.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { AptgateError } from '../errors.js';
import type { Answer } from './answer.js';
import type { ProxyService } from './service.js';
import { STAGE_VIEW } from '../index/stage-view.js';
import { decodePath, type BackendMap } from './target.js';

/** What the gate lends the proxy: its published files and the pool files each stage names. */
export interface StageFiles {
  indexFile(stage: string, backend: string, suite: string, rel: string): Promise<string | undefined>;
  allowsPool(stage: string, backend: string, filename: string): Promise<boolean>;
}

export interface StageDeps {
  backends: BackendMap;
  service: ProxyService;
}

export const STAGE_RE = new RegExp(`^/stage/(${STAGE_VIEW})/([^/]+)/(.*)$`);

function contentType(rel: string): string {
  if (rel.endsWith('.gz')) return 'application/gzip';
  if (rel.endsWith('.gpg')) return 'application/pgp-signature';
  return 'text/plain; charset=utf-8';
}

/**
 * What to answer a stage request with. A published index file is a `hit` (this server's own
 * file, no upstream request); a pool file is answered as the proxy answers it (hit, miss, ...).
 */
export async function stageAnswer(
  deps: StageDeps,
  files: StageFiles,
  req: IncomingMessage,
  url: string,
  client: string,
): Promise<Answer> {
  const m = STAGE_RE.exec(url.split('?')[0]!);
  if (!m) throw new AptgateError('NOT_FOUND', 'expected /stage/<stage>/<backend>/...');
  const [, stage, backendName, raw] = m as unknown as [string, string, string, string];
  const backend = deps.backends.byName(backendName);
  if (!backend) throw new AptgateError('NOT_A_BACKEND', `"${backendName.slice(0, 60)}" is not a backend`);
  const rest = decodePath(raw);
  const dists = /^dists\/([^/]+)\/(.+)$/.exec(rest);
  if (dists) {
    const file = await files.indexFile(stage, backend.name, dists[1]!, dists[2]!);
    const st = file ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !st?.isFile())
      throw new AptgateError('NOT_FOUND', `stage ${stage} publishes no ${backend.name}/dists/${dists[1]}/${dists[2]}`);
    return {
      kind: 'representation',
      outcome: 'hit',
      headers: { 'X-Aptgate-Stage': stage },
      size: st.size,
      lastModified: st.mtime,
      contentType: contentType(dists[2]!),
      source: {
        kind: 'stream',
        open: (s, e) => createReadStream(file, { start: s, ...(e === undefined ? {} : { end: e }) }),
      },
    };
  }
  if (rest.startsWith('pool/')) {
    if (!(await files.allowsPool(stage, backend.name, rest)))
      throw new AptgateError('NOT_FOUND', `stage ${stage} does not offer ${rest}`);
    return deps.service.handle(req, { backend, path: rest, mode: 'remap', key: `${backend.name}/${rest}` }, client);
  }
  throw new AptgateError('NOT_FOUND', `stage ${stage}: only dists/ and pool/ exist`);
}
