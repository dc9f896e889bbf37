// /stage/<view>/<backend>/... at a site cache: the parent's stage repositories, each (view,
// backend) a backend made on demand, `stage/<view>/<backend>`, whose one mirror is
// `<parent>/stage/<view>/<backend>` and whose keyring is the parent's key ([site] parent_key).
// Its requests take the path of any backend's (service.ts): the InRelease verified with the
// parent's key, indexes by hash, pool files against the parsed Packages, one fill per file, the
// cache. A site has no gate of its own. The name starts with "stage", which no configured
// backend may be called, so its cache keys never meet a configured backend's.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { BackendConfig } from '../config.js';
import { fail } from '../errors.js';
import type { Answer } from './answer.js';
import type { ProxyService } from './service.js';
import { STAGE_RE } from './stage.js';
import { decodePath, type BackendMap, type Target } from './target.js';

/** At most this many (view, backend) pairs per site: the parent publishes a few stages and rollout sides. */
export const SITE_STAGE_BACKENDS = 64;

export interface SiteStagesDeps {
  backends: BackendMap;
  service: ProxyService;
  /** the parent's base URL */
  parent: string;
  /** the keyring with the parent's key */
  parentKey: string;
}

export class SiteStages {
  constructor(private readonly deps: SiteStagesDeps) {}

  /** The backend of a view of a configured backend: adopted once the parent answered for it. */
  private async backendFor(view: string, backendName: string): Promise<{ backend: BackendConfig; adopted: boolean }> {
    const { backends, parent, parentKey } = this.deps;
    const base = backends.byName(backendName);
    if (!base) fail('NOT_A_BACKEND', `"${backendName.slice(0, 60)}" is not a backend`);
    const name = `stage/${view}/${base.name}`;
    const known = backends.named(name);
    if (known) return { backend: known, adopted: true };
    if (backends.adopted().length >= SITE_STAGE_BACKENDS)
      fail(
        'RATE_LIMITED',
        `this site serves at most ${SITE_STAGE_BACKENDS} stage views of its parent's backends; ${name} is one more (restart the site to forget old ones)`,
      );
    // gpgv would refuse every stage without it: say what is missing instead
    const readable = await access(parentKey, constants.R_OK).then(
      () => true,
      () => false,
    );
    if (!readable)
      fail(
        'SIGNATURE',
        `cannot verify the parent's stages: site.parent_key ${parentKey} is missing or unreadable (aptgate site join writes it)`,
        { reason: "Parent's key missing at this site" },
      );
    const backend: BackendConfig = {
      name,
      mirrors: [`${parent}/stage/${view}/${base.name}`],
      aliases: [],
      keyrings: [parentKey],
      trackSuites: [],
      trackComponents: [],
      trackArchitectures: [],
      redirectHosts: [],
    };
    return { backend, adopted: false };
  }

  /**
   * The `/stage/...` path of a proxy-mode request for the parent's own stage URL
   * (`http://PARENT/stage/...`: sources that name the central server, with the site as apt's
   * proxy); undefined for anything else.
   */
  stagePathOf(url: string): string | undefined {
    if (url.startsWith('/')) return undefined;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    const parent = new URL(this.deps.parent);
    const base = parent.pathname.replace(/\/+$/, '');
    if (u.protocol !== parent.protocol || u.host !== parent.host || !u.pathname.startsWith(`${base}/stage/`))
      return undefined;
    return u.pathname.slice(base.length) + u.search;
  }

  /**
   * The target of `/stage/<view>/<backend>/pool/...` (a site's pre-loading asks through it): the
   * pair's backend, known or made as a request would make it.
   */
  async target(url: string): Promise<Target> {
    const m = STAGE_RE.exec(url.split('?')[0]!);
    if (!m) fail('NOT_FOUND', 'expected /stage/<stage>/<backend>/...');
    const [, view, backendName, raw] = m as unknown as [string, string, string, string];
    const rest = decodePath(raw);
    const { backend, adopted } = await this.backendFor(view, backendName);
    // kept at once (within the bound): its Packages are learnt and refreshed like a served pair's;
    // the list names it because the parent serves it
    const { backends } = this.deps;
    if (!adopted && !backends.named(backend.name) && backends.adopted().length < SITE_STAGE_BACKENDS)
      backends.adopt(backend);
    return { backend, path: rest, mode: 'remap', key: `${backend.name}/${rest}` };
  }

  /**
   * What to answer a stage request with. A pair is kept (counted, refreshed, its indexes
   * learnt) only once the parent answered for it: names the parent does not know cost nothing.
   */
  async answer(req: IncomingMessage, url: string, client: string): Promise<Answer> {
    const m = STAGE_RE.exec(url.split('?')[0]!);
    if (!m) fail('NOT_FOUND', 'expected /stage/<stage>/<backend>/...');
    const [, view, backendName, raw] = m as unknown as [string, string, string, string];
    const rest = decodePath(raw);
    if (!rest.startsWith('dists/') && !rest.startsWith('pool/'))
      fail('NOT_FOUND', `stage ${view}: only dists/ and pool/ exist`);
    const { backend, adopted } = await this.backendFor(view, backendName);
    const answer = await this.deps.service.handle(
      req,
      { backend, path: rest, mode: 'remap', key: `${backend.name}/${rest}` },
      client,
    );
    // first answers for several new pairs at once: still no more than the bound
    const { backends } = this.deps;
    if (!adopted && !backends.named(backend.name) && backends.adopted().length < SITE_STAGE_BACKENDS)
      backends.adopt(backend);
    return answer;
  }
}
