// Which backend of this server a source URI of a machine's apt goes through (the fleet's views
// are made of these); apart from app.ts so that the CLI needs no fastify to use it.
import { STAGE_VIEW } from '../index/stage-view.js';
import type { BackendMap } from '../proxy/target.js';

const STAGE_PATH = new RegExp(`^(?:/stage/(${STAGE_VIEW}))?/([^/]+)$`);

/**
 * Maps a source URI a client's apt uses to one of our backends: a mirror or alias of the
 * backend (proxy mode, or the same archive reached directly), or `http://<this server>/<backend>`
 * (remap mode; `host` is how the agent reached this server), or the same under the URL of one of
 * this server's site caches (`siteUrls`: a site serves this server's backends and stages under
 * the same paths, issue 18).
 */
export function backendOfUri(
  backends: BackendMap,
  siteUrls: () => readonly string[] = () => [],
): (uri: string, host: string | undefined) => { backend: string; stage?: string } | undefined {
  const remap = (path: string) => {
    const seg = STAGE_PATH.exec(path);
    if (!seg || !backends.byName(seg[2]!)) return undefined;
    return seg[1] ? { backend: seg[2]!, stage: seg[1] } : { backend: seg[2]! };
  };
  return (uri, host) => {
    const m = /^https?:\/\/([^/]+)(\/[^?#]*)?/i.exec(uri.trim());
    if (!m) return undefined;
    const path = (m[2] ?? '').replace(/\/+$/, '');
    const direct = backends.match(`${m[1]!.toLowerCase()}${path}`);
    if (direct && direct.rest === '') return { backend: direct.backend.name };
    // remap mode: http://aptgate:3142/<backend>, or a stage: http://aptgate:3142/stage/<stage>/<backend>
    if (host && m[1]!.toLowerCase() === host.toLowerCase()) return remap(path);
    // the same paths under a site's URL (scheme and host compared as URLs do: case-insensitive)
    const u = `${uri
      .trim()
      .slice(0, m[0].length - (m[2] ?? '').length)
      .toLowerCase()}${path}`;
    for (const site of siteUrls()) {
      const base = site.replace(/\/+$/, '').toLowerCase();
      if (base && u.startsWith(`${base}/`)) return remap(u.slice(base.length));
    }
    return undefined;
  };
}
