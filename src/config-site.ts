// The [site] settings: this server as a site cache under a central aptgate (its parent), the
// parent's key that vouches for the stages it serves, how often the site reports to it, and
// the pre-loading of approved .debs before the maintenance window (rate and hours).
import type { BackendConfig, Config } from './config-defaults.js';
import { fail } from './errors.js';
import { parseDuration, parseSize } from './config-values.js';

type Setter = (config: Config, value: string, key: string) => void;

/** The parent's base URL: http or https, no credentials, query or fragment; '' for none. */
export function parseParentUrl(key: string, value: string): string {
  const v = value.trim();
  if (v === '') return '';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    fail(
      'CONFIG_INVALID',
      `${key}: "${value}" is not a URL (expected the central server's, e.g. http://aptgate.example:3142)`,
      {
        key,
      },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail('CONFIG_INVALID', `${key}: "${value}" must be http:// or https://`, { key });
  if (url.username || url.password) fail('CONFIG_INVALID', `${key}: "${value}" must not carry credentials`, { key });
  if (url.search || url.hash) fail('CONFIG_INVALID', `${key}: "${value}" must not have a query or fragment`, { key });
  return url.href.replace(/\/+$/, '');
}

/** "HH:MM-HH:MM" (local time; may wrap past midnight) → minutes of the day; '' for any time. */
export function parseWindow(key: string, value: string): { startMin: number; endMin: number } | null {
  const v = value.trim();
  if (v === '') return null;
  const m = /^([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)$/.exec(v);
  if (!m) fail('CONFIG_INVALID', `${key}: expected HH:MM-HH:MM such as 01:00-05:00, got "${value}"`, { key });
  const startMin = Number(m[1]) * 60 + Number(m[2]);
  const endMin = Number(m[3]) * 60 + Number(m[4]);
  if (startMin === endMin) fail('CONFIG_INVALID', `${key}: the window is empty ("${value}")`, { key });
  return { startMin, endMin };
}

export const SITE_SETTINGS: Record<string, Setter> = {
  'site.parent': (c, v, k) => {
    c.site.parent = parseParentUrl(k, v);
  },
  'site.parent_key': (c, v) => {
    c.site.parentKey = v.trim();
  },
  'site.report_interval': (c, v, k) => {
    const ms = parseDuration(k, v);
    if (ms < 10_000 || ms > 86_400_000) fail('CONFIG_INVALID', `${k}: 10s..1d, got "${v}"`, { key: k });
    c.site.reportIntervalMs = ms;
  },
  'site.preload_rate': (c, v, k) => {
    // bytes per second (20M: 20 MiB/s); 0: as fast as the link allows
    const n = /^\s*(?:0|off)\s*$/.test(v) ? 0 : parseSize(k, v);
    if (n !== 0 && n < 1024)
      fail('CONFIG_INVALID', `${k}: at least 1K (bytes per second), or 0 for no limit`, { key: k });
    c.site.preloadRate = n;
  },
  'site.preload_window': (c, v, k) => {
    c.site.preloadWindow = parseWindow(k, v);
  },
};

/**
 * A site cache's backends: each configured backend fetched through the parent (`<parent>/<name>`,
 * its remap path there), the hosts and paths of its configured mirrors kept as aliases so a
 * proxy-mode client asking http://deb.debian.org/debian/... still maps. Keyrings stay the site's
 * own: nothing is trusted because it came from the parent. The configuration as it is when no
 * parent is set; else a copy (the input is not changed).
 */
export function siteBackends(config: Config): Config {
  const parent = config.site.parent;
  if (!parent) return config;
  const backends = new Map<string, BackendConfig>();
  for (const [name, b] of config.backends) {
    const aliases = [...b.aliases];
    for (const m of b.mirrors) {
      // URL.host drops the scheme's default port and lowers the case, as BackendMap matches
      const u = new URL(m);
      const hostPath = `${u.host}${u.pathname.replace(/\/+$/, '')}`;
      if (!aliases.includes(hostPath)) aliases.push(hostPath);
    }
    backends.set(name, { ...b, mirrors: [`${parent}/${name}`], aliases });
  }
  return { ...config, backends };
}
