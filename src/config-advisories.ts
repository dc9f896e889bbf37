// The [advisories] settings: which security feeds are kept, where each is fetched from, how
// often, and the switch that turns fetching off (an isolated network imports files instead).
import { ADVISORY_FEEDS, type AdvisoryFeedName, type Config } from './config-defaults.js';
import { fail } from './errors.js';
import { parseBool, parseDuration, parseList, parseSize } from './config-values.js';

type Setter = (config: Config, value: string, key: string) => void;

/** A feed's URL: http or https, no credentials (the URL is shown to every viewer); '' for none. */
function parseFeedUrl(key: string, value: string): string {
  const v = value.trim();
  if (v === '') return '';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    fail('CONFIG_INVALID', `${key}: "${value}" is not a URL`, { key });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail('CONFIG_INVALID', `${key}: "${value}" must be http:// or https://`, { key });
  if (url.username || url.password)
    fail('CONFIG_INVALID', `${key}: "${value}" must not carry credentials (every viewer sees the URL)`, { key });
  return url.href;
}

const urlSetting =
  (feed: AdvisoryFeedName): Setter =>
  (c, v, k) => {
    c.advisories.urls[feed] = parseFeedUrl(k, v);
  };

export const ADVISORY_SETTINGS: Record<string, Setter> = {
  'advisories.feeds': (c, v, k) => {
    const list = parseList(v);
    for (const f of list)
      if (!(ADVISORY_FEEDS as readonly string[]).includes(f))
        fail('CONFIG_INVALID', `${k}: "${f}" is no feed; expected some of ${ADVISORY_FEEDS.join(', ')}`, { key: k });
    c.advisories.feeds = [...new Set(list)] as AdvisoryFeedName[];
  },
  'advisories.changelogs': (c, v, k) => {
    const m = v.trim().toLowerCase();
    if (m !== 'fetch' && m !== 'cached' && m !== 'off')
      fail('CONFIG_INVALID', `${k}: expected fetch, cached or off, got "${v}"`, { key: k });
    c.advisories.changelogs = m;
  },
  'advisories.fetch': (c, v, k) => {
    c.advisories.fetch = parseBool(k, v);
  },
  'advisories.refresh_interval': (c, v, k) => {
    const ms = parseDuration(k, v);
    // the trackers are shared by everyone: more often than every 10 minutes is no use to anyone
    if (ms !== 0 && ms < 10 * 60_000)
      fail('CONFIG_INVALID', `${k}: 0 (only when asked) or at least 10m, got "${v}"`, { key: k });
    c.advisories.refreshIntervalMs = ms;
  },
  'advisories.timeout': (c, v, k) => {
    const ms = parseDuration(k, v);
    if (ms < 1000) fail('CONFIG_INVALID', `${k}: at least 1s, got "${v}"`, { key: k });
    c.advisories.timeoutMs = ms;
  },
  'advisories.max_size': (c, v, k) => {
    const n = parseSize(k, v);
    if (n < 1024 || n > 2 * 1024 ** 3) fail('CONFIG_INVALID', `${k}: 1K..2G, got "${v}"`, { key: k });
    c.advisories.maxBytes = n;
  },
  'advisories.debian_tracker_url': urlSetting('debian-tracker'),
  'advisories.dsa_url': urlSetting('dsa'),
  'advisories.dla_url': urlSetting('dla'),
  'advisories.usn_url': urlSetting('usn'),
};

/** What no single setting can judge: a feed fetched needs a URL. */
export function validateAdvisories(config: Config): void {
  const a = config.advisories;
  if (!a.fetch) return;
  const bare = a.feeds.filter((f) => a.urls[f] === '');
  if (bare.length)
    fail(
      'CONFIG_INVALID',
      `advisories.feeds: ${bare.join(', ')} has no URL (set advisories.${bare[0]!.replace(/-/g, '_')}_url, or advisories.fetch = false and import its files)`,
      { key: 'advisories.feeds' },
    );
}
