// Human output of `aptgate sites …` (issue 18); --json prints the data itself.
import type { SiteInfo, SiteTokenCreated } from '../fleet/queries/sites.js';
import { formatBytes } from '../term/bytes.js';
import { visible } from '../term/visible.js';
import { table, when } from './fleet-format.js';

const ratio = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)}%`);
const health = (s: SiteInfo) =>
  s.health === 'degraded' ? `degraded (${s.healthReason || 'no reason given'})` : s.health;
const preload = (s: SiteInfo) =>
  s.preload.filesTotal === 0
    ? '-'
    : `${s.preload.filesDone}/${s.preload.filesTotal} files, ${formatBytes(s.preload.bytesDone)}/${formatBytes(s.preload.bytesTotal)}`;

export function formatSites(sites: readonly SiteInfo[]): string {
  if (!sites.length) return 'no sites (aptgate sites token, then aptgate site join on the site host)\n';
  return table(
    ['NAME', 'URL', 'LAST CONTACT', 'LOCAL', 'FROM PARENT', 'HIT RATIO', 'HEALTH', 'PRELOAD', 'MACHINES'],
    sites.map((s) => [
      s.name,
      s.url || '-',
      when(s.lastContact),
      formatBytes(s.bytesLocal),
      formatBytes(s.bytesParent),
      ratio(s.hitRatio),
      s.health,
      preload(s),
      String(s.machines),
    ]),
  );
}

export function formatSite(s: SiteInfo): string {
  const rows: Array<[string, string]> = [
    ['url', s.url || '- (aptgate sites set --url)'],
    ['last contact', `${when(s.lastContact)}${s.lastAddress ? ` from ${s.lastAddress}` : ''}`],
    ['served locally', formatBytes(s.bytesLocal)],
    ['from the parent', formatBytes(s.bytesParent)],
    ['hits / misses', `${s.hits} / ${s.misses} (hit ratio ${ratio(s.hitRatio)})`],
    ['health', health(s)],
    ['preload', preload(s)],
    ['machines', String(s.machines)],
    ['networks', s.networks.join(', ') || '-'],
    ['classes', s.classes.join(', ') || '-'],
    ['registered', when(s.createdAt)],
  ];
  return `site ${visible(s.name)}\n${rows.map(([k, v]) => `  ${k.padEnd(16)} ${visible(v)}`).join('\n')}\n`;
}

export function formatSiteToken(t: SiteTokenCreated): string {
  return [
    `site token ${t.id}${t.name ? ` for site ${visible(t.name)}` : ''} (${t.expiresAt ? `expires ${when(t.expiresAt)}` : 'no expiry'}, one use)`,
    t.token,
    'This is the only time the token is shown. On the site host:',
    `  ${visible(t.joinCommand)}`,
    ...(t.fingerprint
      ? []
      : ['(the server has no key yet: start it once, then aptgate key export shows the fingerprint)']),
    '',
  ].join('\n');
}
