// A pool file for the changelog reader through the proxy's own machinery: a cache hit, or a fill
// like an apt client's (one upstream fetch shared with any client asking meanwhile, renamed into
// the cache only once the signed index's size and SHA256 match).
import type { ProxyRuntime } from '../proxy/runtime.js';
import { contentType } from '../proxy/paths.js';
import type { PoolFile } from '../state/changelog-reads.js';
import type { PoolFetcher } from './changelog-refs.js';

/** `cachedOnly`: a .deb not in the cache is not fetched ([advisories] changelogs = cached). */
export function poolFetcher(
  proxy: Pick<ProxyRuntime, 'backends' | 'service' | 'store'>,
  cachedOnly = false,
): PoolFetcher {
  return {
    fetch: async (f: PoolFile) => {
      const backend = proxy.backends.byName(f.backend);
      if (!backend) return undefined;
      const key = `${backend.name}/${f.filename}`;
      if (cachedOnly) return (await proxy.store.stat(key)) ? proxy.store.pathOf(key) : undefined;
      const stored = await proxy.service.ensureStored({
        backend,
        key,
        sources: [f.filename],
        expect: { size: f.size, sha256: f.sha256 },
        contentType: contentType(f.filename),
      });
      return stored ? proxy.store.pathOf(key) : undefined;
    },
  };
}
