// Which backend of this server a source URI of a machine's apt goes through (the fleet's views
// are made of these); apart from app.ts so that the CLI needs no fastify to use it.
import { STAGE_VIEW } from '../index/stage-view.js';
import type { BackendMap } from '../proxy/target.js';

const STAGE_PATH = new RegExp(`^(?:/stage/(${STAGE_VIEW}))?/([^/]+)$`);

/**
 * Maps a source URI a client's apt uses to one of our backends: a mirror or alias of the
 * backend (proxy mode, or the same archive reached directly), or `http://<this server>/<backend>`
 * (remap mode; `host` is how the agent reached this server).
 */
export function backendOfUri(
  backends: BackendMap,
): (uri: string, host: string | undefined) => { backend: string; stage?: string } | undefined {
  return (uri, host) => {
    const m = /^https?:\/\/([^/]+)(\/[^?#]*)?/i.exec(uri.trim());
    if (!m) return undefined;
    const path = (m[2] ?? '').replace(/\/+$/, '');
    const direct = backends.match(`${m[1]!.toLowerCase()}${path}`);
    if (direct && direct.rest === '') return { backend: direct.backend.name };
    // remap mode: http://aptgate:3142/<backend>, or a stage: http://aptgate:3142/stage/<stage>/<backend>
    if (!host || m[1]!.toLowerCase() !== host.toLowerCase()) return undefined;
    const seg = STAGE_PATH.exec(path);
    if (!seg || !backends.byName(seg[2]!)) return undefined;
    return seg[1] ? { backend: seg[2]!, stage: seg[1] } : { backend: seg[2]! };
  };
}
